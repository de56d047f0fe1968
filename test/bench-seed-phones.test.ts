import assert from "node:assert/strict";
import { test } from "node:test";
import { benchLeadPhone } from "../src/cli/bench-seed.js";
import { toE164 } from "../src/domain/phone.js";

test("bench-seed gives each of its first 100,000 leads its own E.164 number", () => {
  const phones = Array.from({ length: 100_000 }, (_, i) => benchLeadPhone(i));
  assert.equal(new Set(phones).size, phones.length);
  for (const phone of phones.filter((_, i) => i % 997 === 0)) assert.equal(toE164(phone), phone);
});

test("bench-seed numbers ascend within each area code, in runs that cover all ten", () => {
  const lastByArea = new Map<string, string>();
  for (let i = 0; i < 100_000; i++) {
    const phone = benchLeadPhone(i);
    const area = phone.slice(2, 5);
    const last = lastByArea.get(area);
    assert.ok(last === undefined || last < phone, `lead ${i}: ${phone} after ${last}`);
    lastByArea.set(area, phone);
  }
  assert.equal(lastByArea.size, 10);
  // The first 10,000 leads (a 250,000-event seed) already reach every area code.
  assert.equal(new Set(Array.from({ length: 10_000 }, (_, i) => benchLeadPhone(i).slice(2, 5))).size, 10);
});
