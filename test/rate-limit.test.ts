import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  ApiRateLimits,
  RateLimitedError,
  RateLimiter,
  SOURCES_TOGETHER_FACTOR,
} from "../src/http/rate-limit.js";

const WINDOW = 60_000;

/** Whether the limiter admits a request at `now` (and its Retry-After when not). */
function attempt(limiter: RateLimiter, now: number, key = "org_a"): true | number {
  try {
    limiter.hit(key, now);
    return true;
  } catch (error) {
    assert.ok(error instanceof RateLimitedError);
    return error.retryAfterSeconds;
  }
}

test("the limit holds over any 60 s, not per calendar minute: no 2× burst across a boundary", () => {
  const limiter = new RateLimiter(3);
  for (let i = 0; i < 3; i++) assert.equal(attempt(limiter, 59_000), true);
  // A fixed window starting at the first request would reopen here, 1.5 s later.
  assert.equal(attempt(limiter, 60_500), 59);
  assert.equal(attempt(limiter, 118_900), 1);
  assert.equal(attempt(limiter, 119_100), true);
  assert.equal(attempt(limiter, 119_100, "org_b"), true, "organizations are counted apart");
});

test("refused requests do not count: a client that waits Retry-After gets in", () => {
  const limiter = new RateLimiter(1);
  assert.equal(attempt(limiter, 0), true);
  for (let t = 1_000; t < 60_000; t += 1_000) assert.notEqual(attempt(limiter, t), true);
  const retryAfter = attempt(limiter, 30_000);
  assert.equal(typeof retryAfter, "number");
  assert.equal(attempt(limiter, 30_000 + (retryAfter as number) * 1000), true);
});

test("property: no 60 s span admits more than the limit, and a refusal means the window is full", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 60 }),
      (limit, gaps) => {
        const limiter = new RateLimiter(limit, WINDOW);
        const admitted: number[] = [];
        let now = 1_000_000;
        for (const gap of gaps) {
          now += gap * 40; // up to 2 minutes apart
          const recent = admitted.filter((t) => t > now - WINDOW).length;
          const result = attempt(limiter, now);
          if (result === true) {
            assert.ok(recent < limit, `admitted with ${recent} in the last window`);
            admitted.push(now);
          } else {
            // Refused only when the window (give or take one 100 ms slot) is full.
            const nearlyRecent = admitted.filter((t) => t > now - WINDOW - 100).length;
            assert.ok(nearlyRecent >= limit, `refused with ${nearlyRecent} in the last window`);
            // …and Retry-After is when the oldest of them has left it.
            const waitUntil = now + result * 1000;
            const stillThere = admitted.filter((t) => t > waitUntil - WINDOW).length;
            assert.ok(stillThere < limit, `Retry-After ${result} s is too early`);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("check answers as hit would, without counting", () => {
  const limiter = new RateLimiter(2);
  for (let i = 0; i < 5; i++) limiter.check("k", 0);
  assert.equal(attempt(limiter, 0, "k"), true);
  assert.equal(attempt(limiter, 0, "k"), true);
  assert.throws(() => limiter.check("k", 100), RateLimitedError);
  assert.doesNotThrow(() => limiter.check("k", 60_200));
});

test("a limiter remembers at most maxKeys keys: idle ones first, then the oldest", () => {
  const limiter = new RateLimiter(1, WINDOW, { who: "This client address", what: "failures" }, 60, 3);
  for (const key of ["a", "b", "c"]) assert.equal(attempt(limiter, 0, key), true);
  // All three are busy: a fourth key makes the limiter forget the oldest, "a".
  assert.equal(attempt(limiter, 1_000, "d"), true);
  assert.equal(attempt(limiter, 1_000, "a"), true, "a was forgotten, so it starts again");
  assert.notEqual(attempt(limiter, 1_000, "c"), true, "c is still remembered");
  // Once the window has passed, idle keys are the ones forgotten.
  assert.equal(attempt(limiter, 70_000, "e"), true);
  assert.notEqual(attempt(limiter, 70_000, "e"), true);
});

test("a full limiter with every key busy forgets the oldest for each new key", () => {
  const limiter = new RateLimiter(1, WINDOW, { who: "This client address", what: "failures" }, 60, 1_000);
  for (let i = 0; i < 1_000; i++) assert.equal(attempt(limiter, 0, `busy-${i}`), true);
  // 5,000 new keys within one second: the idle scan finds none idle, and each evicts the oldest.
  for (let i = 0; i < 5_000; i++) assert.equal(attempt(limiter, 500 + i / 10, `new-${i}`), true);
  assert.notEqual(attempt(limiter, 1_000, "new-4999"), true, "the newest are remembered");
  assert.equal(attempt(limiter, 1_000, "new-0"), true, "older ones were forgotten");
});

test("each lead source has its own budget, and an organization's sources together a bounded one", () => {
  const limits = new ApiRateLimits(3);
  const admits = (sourceId: string | null, now: number, organizationId = "org_a") => {
    try {
      limits.hit(organizationId, sourceId, now);
      return true;
    } catch (error) {
      assert.ok(error instanceof RateLimitedError);
      return error.detail;
    }
  };
  for (let i = 0; i < 3; i++) assert.equal(admits(null, 1000), true);
  assert.match(String(admits(null, 1000)), /^This organization is limited to 3 requests/);
  // The organization held back does not hold back its vendors, nor a vendor its neighbours.
  for (let i = 0; i < 3; i++) assert.equal(admits("src_1", 1000), true);
  assert.match(String(admits("src_1", 1000)), /^This lead source is limited to 3 requests/);
  // More sources do not multiply the limit without end: together they stop at the factor.
  const together = 3 * SOURCES_TOGETHER_FACTOR;
  let admitted = 3;
  for (let source = 2; admitted < together; source++) {
    for (let i = 0; i < 3 && admitted < together; i++, admitted++)
      assert.equal(admits(`src_${source}`, 2000), true);
  }
  assert.match(
    String(admits("src_fresh", 2000)),
    /^This organization is limited to 30 requests from its lead sources together per 60 seconds/,
  );
  assert.equal(admits("src_other", 2000, "org_b"), true, "another organization's sources are counted apart");
  // A request the pool refused was not counted against its source: it has its whole budget later.
  for (let i = 0; i < 3; i++) assert.equal(admits("src_fresh", 63_000), true);
});
