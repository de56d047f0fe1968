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
  assert.deepEqual(countSegments("€".repeat(80)), { encoding: "GSM-7", units: 160, segments: 1 });
  assert.deepEqual(countSegments(`${"a".repeat(159)}{`), { encoding: "GSM-7", units: 161, segments: 2 });
  assert.equal(countSegments("Price: 10€ [approx]").units, 22);
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
  assert.deepEqual(countSegments(`${"a".repeat(152)}€${"a".repeat(152)}`), {
    encoding: "GSM-7",
    units: 306,
    segments: 3,
  });
  assert.deepEqual(countSegments(`${"a".repeat(151)}€${"a".repeat(153)}`), {
    encoding: "GSM-7",
    units: 306,
    segments: 2,
  });
});

test("the empty text is one GSM-7 segment of nothing", () => {
  assert.deepEqual(countSegments(""), { encoding: "GSM-7", units: 0, segments: 1 });
});
