import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRfc3339 } from "../src/domain/time.js";

test("parseRfc3339 reads RFC 3339 timestamps with any offset", () => {
  assert.equal(parseRfc3339("2024-02-29T12:00:00Z"), Date.UTC(2024, 1, 29, 12));
  assert.equal(parseRfc3339("2024-02-29t12:00:00.123456789z"), Date.UTC(2024, 1, 29, 12, 0, 0, 123));
  assert.equal(parseRfc3339("2024-03-01T01:30:00+02:00"), Date.UTC(2024, 1, 29, 23, 30));
  assert.equal(parseRfc3339("2024-12-31T23:59:59-23:59"), Date.UTC(2025, 0, 1, 23, 58, 59));
  assert.equal(parseRfc3339("0024-02-29T00:00:00Z"), Date.parse("0024-02-29T00:00:00Z"));
  // A space or lower-case letters read the same as the canonical form, early years included.
  assert.equal(parseRfc3339("0050-01-01 00:00:00z"), Date.parse("0050-01-01T00:00:00Z"));
  assert.equal(parseRfc3339("0024-02-29 00:00:00+01:00"), Date.parse("0024-02-29T00:00:00+01:00"));
  assert.equal(new Date(parseRfc3339("0050-01-01 00:00:00Z") as number).getUTCFullYear(), 50);
});

test("parseRfc3339 refuses dates and times that do not exist instead of rolling them forward", () => {
  for (const value of [
    "2023-02-29T00:00:00Z", // not a leap year
    "2024-02-30T12:00:00Z",
    "2024-04-31T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T23:60:00Z",
    "2024-12-31T23:59:60Z", // a leap second: JavaScript time cannot hold it
    "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00:00+01:60",
    "2024-01-01T00:00:00", // no offset
    "2024-01-01",
    "yesterday",
  ]) {
    assert.equal(parseRfc3339(value), null, value);
  }
});

test("parseRfc3339 refuses instants outside years 0000–9999 in UTC: none could be answered in RFC 3339", () => {
  assert.equal(parseRfc3339("9999-12-31T23:59:59-23:59"), null, "year 10000 in UTC");
  assert.equal(parseRfc3339("0000-01-01T00:00:00+01:00"), null, "year -1 in UTC");
  assert.equal(parseRfc3339("9999-12-31T23:59:59.999Z"), Date.parse("9999-12-31T23:59:59.999Z"));
  assert.equal(parseRfc3339("0000-01-01T00:00:00Z"), Date.parse("0000-01-01T00:00:00Z"));
});

test("a fraction finer than the millisecond is cut off, or rounded up for a bound that needs it", () => {
  const at = Date.parse("2026-11-28T01:00:19.652Z");
  assert.equal(parseRfc3339("2026-11-28T01:00:19.6525Z"), at);
  assert.equal(parseRfc3339("2026-11-28T01:00:19.6525Z", true), at + 1);
  assert.equal(parseRfc3339("2026-11-28T01:00:19.652000001Z", true), at + 1);
  assert.equal(parseRfc3339("2026-11-28T01:00:19.652000Z", true), at, "zeros are no finer");
  assert.equal(parseRfc3339("2026-11-28T01:00:19.652Z", true), at);
  // The range is checked before rounding: a bound just under the end of 9999 is still one.
  assert.equal(parseRfc3339("9999-12-31T23:59:59.9995Z", true), Date.parse("9999-12-31T23:59:59.999Z") + 1);
});
