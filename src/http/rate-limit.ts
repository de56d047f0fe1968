import { ProblemError } from "../domain/problem.js";

/**
 * The window is counted in this many slots (100 ms of a 60 s window); one more is kept so that a
 * full window is always covered.
 */
const SLOTS_PER_WINDOW = 600;

/**
 * Accepted requests of one key in the last window, counted per slot in a ring, with a running
 * total. The total covers the current slot and the SLOTS_PER_WINDOW before it, a little more than
 * one window: so no 60 s span, wherever it starts, ever holds more than the limit (a request may be
 * refused up to one slot early, never let through late).
 */
class SlidingWindow {
  private readonly counts = new Uint32Array(SLOTS_PER_WINDOW + 1);
  private total = 0;

  constructor(private slot: number) {}

  /** Drops the slots that have left the window by `slot`. */
  private advance(slot: number): void {
    if (slot - this.slot >= this.counts.length) {
      this.counts.fill(0);
      this.total = 0;
    } else {
      for (let s = this.slot + 1; s <= slot; s++) {
        const i = s % this.counts.length;
        this.total -= this.counts[i]!;
        this.counts[i] = 0;
      }
    }
    this.slot = Math.max(this.slot, slot);
  }

  /**
   * Counts the request if the window has room; else answers the slot from which it would have
   * room, and does not count it.
   */
  tryAcquire(slot: number, limit: number): { admitted: true } | { admitted: false; freeAtSlot: number } {
    this.advance(slot);
    if (this.total < limit) {
      this.counts[this.slot % this.counts.length]!++;
      this.total++;
      return { admitted: true };
    }
    // Oldest first: the slot after whose expiry fewer than `limit` requests remain.
    let remaining = this.total;
    for (let s = this.slot - SLOTS_PER_WINDOW; s <= this.slot; s++) {
      remaining -= this.counts[s % this.counts.length]!;
      if (remaining < limit) return { admitted: false, freeAtSlot: s + this.counts.length };
    }
    return { admitted: false, freeAtSlot: this.slot + this.counts.length };
  }

  /** True when nothing counted is left in the window at `slot` (the key can be forgotten). */
  idle(slot: number): boolean {
    return slot - this.slot >= this.counts.length || this.total === 0;
  }
}

/**
 * Per-organization sliding-window limiter (CONTRACT.md: N requests per 60 s, in any 60 s, not per
 * calendar minute: a fixed window would let 2N through across its boundary). Refused requests do not
 * count, so a client that waits Retry-After gets in. In-process: each server process counts its own
 * requests. That is exact for the one `serve` process leadtrail runs (workers serve no API); several
 * servers behind a load balancer would each allow N (see README, Choices). Chosen over
 * @fastify/rate-limit to key by organization after authentication and to answer with our
 * problem+json body.
 */
export class RateLimiter {
  private readonly windows = new Map<string, SlidingWindow>();
  private readonly slotMs: number;

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {
    this.slotMs = windowMs / SLOTS_PER_WINDOW;
  }

  /** Counts one request; throws a 429 problem (with retryAfterSeconds) when over the limit. */
  hit(key: string, now: number = Date.now()): void {
    const slot = Math.floor(now / this.slotMs);
    let window = this.windows.get(key);
    if (!window) {
      if (this.windows.size >= 100_000) this.forgetIdle(slot);
      window = new SlidingWindow(slot);
      this.windows.set(key, window);
    }
    const result = window.tryAcquire(slot, this.limit);
    if (!result.admitted) {
      const retryAfterSeconds = Math.max(1, Math.ceil((result.freeAtSlot * this.slotMs - now) / 1000));
      throw new RateLimitedError(retryAfterSeconds, this.limit, this.windowMs / 1000);
    }
  }

  private forgetIdle(slot: number): void {
    for (const [key, window] of this.windows) if (window.idle(slot)) this.windows.delete(key);
  }
}

export class RateLimitedError extends ProblemError {
  constructor(
    readonly retryAfterSeconds: number,
    limit: number,
    windowSeconds: number,
  ) {
    super(
      429,
      "rate-limited",
      `This organization is limited to ${limit} requests per ${windowSeconds} seconds; retry after ${retryAfterSeconds} s.`,
    );
  }
}
