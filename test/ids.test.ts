import assert from "node:assert/strict";
import { test } from "node:test";
import { looksLikeId, newId } from "../src/domain/ids.js";

test("ids are prefixed ULIDs: Crockford base32, unique and increasing within one millisecond", () => {
  const now = Date.now();
  const ids = Array.from({ length: 5000 }, () => newId("evt", now));
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
  for (const id of ids.slice(0, 50)) {
    assert.match(id, /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(looksLikeId(id, "evt"));
  }
});

test("the random part varies across milliseconds (the pooled random source is not stuck)", () => {
  const randomParts = new Set(
    Array.from({ length: 300 }, (_, i) => newId("lead", 1_700_000_000_000 + i * 1000).slice(15)),
  );
  assert.ok(randomParts.size > 290, `only ${randomParts.size} distinct random parts`);
});
