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
  assert.deepEqual(countSegments("😀".repeat(67)), { encoding: "UCS-2", units: 134, segments: 2 });
  assert.deepEqual(countSegments("😀".repeat(68)), { encoding: "UCS-2", units: 136, segments: 3 });
});

test("the empty text is one GSM-7 segment of nothing", () => {
  assert.deepEqual(countSegments(""), { encoding: "GSM-7", units: 0, segments: 1 });
});
