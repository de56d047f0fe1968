import assert from "node:assert/strict";
import { test } from "node:test";
import { countSegments } from "../src/domain/sms-segments.js";

test("GSM-7: 160 characters in one segment, 153 per segment beyond", () => {
  assert.deepEqual(countSegments("a".repeat(160)), { encoding: "GSM-7", units: 160, segments: 1 });
  assert.deepEqual(countSegments("a".repeat(161)), { encoding: "GSM-7", units: 161, segments: 2 });
  assert.deepEqual(countSegments("a".repeat(306)), { encoding: "GSM-7", units: 306, segments: 2 });
  assert.deepEqual(countSegments("a".repeat(307)), { encoding: "GSM-7", units: 307, segments: 3 });
});

test("GSM-7 extension characters count two septets", () => {
  assert.deepEqual(countSegments("[]".repeat(40)), { encoding: "GSM-7", units: 160, segments: 1 });
  assert.deepEqual(countSegments("^{}\\[~]|".repeat(10)), { encoding: "GSM-7", units: 160, segments: 1 });
  assert.deepEqual(countSegments(`${"a".repeat(159)}{`), { encoding: "GSM-7", units: 161, segments: 2 });
  assert.equal(countSegments("Price: 10$ [approx]").units, 21);
});

test("Telnyx's GSM-7 set: ASCII but the grave accent, and the Latin letters of GSM 03.38, one septet each", () => {
  const ascii = [...Array(95)].map((_, i) => String.fromCharCode(32 + i)).join("");
  const oneSeptet = `${ascii.replace(/[`^{}\\[~\]|]/g, "")}\n\r£¥èéùìòØøÅåÆæßÉ¡ÄÖÑÜ¿äöñüà`;
  assert.deepEqual(countSegments(oneSeptet), { encoding: "GSM-7", units: 114, segments: 1 });
  assert.equal(countSegments("`").encoding, "UCS-2");
});

test("GSM 03.38 characters Telnyx sends as UCS-2 (€, form feed, Greek capitals, Ç, ¤, §) are counted so", () => {
  // 150 characters with one €: Telnyx sends three UCS-2 parts, not one GSM-7 segment.
  assert.deepEqual(countSegments(`${"a".repeat(149)}€`), { encoding: "UCS-2", units: 150, segments: 3 });
  for (const ch of ["€", "\f", "Δ", "Φ", "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ", "Ξ", "Ç", "¤", "§"]) {
    assert.deepEqual(countSegments(`Total 10${ch}`), { encoding: "UCS-2", units: 9, segments: 1 }, ch);
  }
  assert.deepEqual(countSegments("€".repeat(71)), { encoding: "UCS-2", units: 71, segments: 2 });
});

test("nothing is transliterated: smart quotes, dashes and ellipses make the message UCS-2", () => {
  for (const ch of ["\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014", "\u2026", "\u00a0"]) {
    assert.equal(countSegments(`It${ch}s ok`).encoding, "UCS-2", ch);
  }
  // 100 characters of plain text: one GSM-7 segment, but two UCS-2 parts with one curly apostrophe.
  assert.equal(countSegments(`${"a".repeat(99)}'`).segments, 1);
  assert.equal(countSegments(`${"a".repeat(99)}\u2019`).segments, 2);
});

test("UCS-2: one non-GSM character switches encoding: 70 in one segment, 67 per segment beyond", () => {
  assert.deepEqual(countSegments(`${"a".repeat(69)}ł`), { encoding: "UCS-2", units: 70, segments: 1 });
  assert.deepEqual(countSegments(`${"a".repeat(70)}ł`), { encoding: "UCS-2", units: 71, segments: 2 });
  assert.deepEqual(countSegments("😀".repeat(35)), { encoding: "UCS-2", units: 70, segments: 1 });
  assert.deepEqual(countSegments(`${"a".repeat(67)}ł${"a".repeat(66)}`), {
    encoding: "UCS-2",
    units: 134,
    segments: 2,
  });
  assert.deepEqual(countSegments(`${"a".repeat(67)}ł${"a".repeat(67)}`), {
    encoding: "UCS-2",
    units: 135,
    segments: 3,
  });
});

test("a split message never cuts a surrogate pair or an escape sequence in two", () => {
  // 33 emoji (66 units) fill a part of 67: the 34th would straddle it.
  assert.deepEqual(countSegments("😀".repeat(66)), { encoding: "UCS-2", units: 132, segments: 2 });
  assert.deepEqual(countSegments("😀".repeat(67)), { encoding: "UCS-2", units: 134, segments: 3 });
  assert.deepEqual(countSegments(`${"a".repeat(66)}😀${"a".repeat(65)}`), {
    encoding: "UCS-2",
    units: 133,
    segments: 2,
  });
  assert.deepEqual(countSegments(`${"a".repeat(66)}😀${"a".repeat(66)}`), {
    encoding: "UCS-2",
    units: 134,
    segments: 3,
  });
  // An extension character at septet 153 moves whole to the next part (152 + 2 + 152 = 306 septets, 3 parts).
  assert.deepEqual(countSegments(`${"a".repeat(152)}[${"a".repeat(152)}`), {
    encoding: "GSM-7",
    units: 306,
    segments: 3,
  });
  assert.deepEqual(countSegments(`${"a".repeat(151)}[${"a".repeat(153)}`), {
    encoding: "GSM-7",
    units: 306,
    segments: 2,
  });
});

test("the empty text is one GSM-7 segment of nothing", () => {
  assert.deepEqual(countSegments(""), { encoding: "GSM-7", units: 0, segments: 1 });
});
