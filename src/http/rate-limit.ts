import { ProblemError } from "../domain/problem.js";

/**
 * By default a window is counted in this many slots (100 ms of a 60 s window); one more is kept so
 * that a full window is always covered.
 */
const SLOTS_PER_WINDOW = 600;

/** Whether a window admits one more; if not, the slot from which it will. */
type Room = { admitted: true } | { admitted: false; freeAtSlot: number };

/**
 * Accepted requests of one key in the last window, counted per slot in a ring, with a running
 * total. The total covers the current slot and the slotsPerWindow before it, a little more than
 * one window: so no 60 s span, wherever it starts, ever holds more than the limit (a request may be
 * refused up to one slot early, never let through late).
 */
class SlidingWindow {
  private readonly counts: Uint32Array;
  private total = 0;

  constructor(
    private slot: number,
    private readonly slotsPerWindow: number,
  ) {
    this.counts = new Uint32Array(slotsPerWindow + 1);
  }

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
  tryAcquire(slot: number, limit: number): Room {
    const room = this.room(slot, limit);
    if (room.admitted) {
      this.counts[this.slot % this.counts.length]!++;
      this.total++;
    }
    return room;
  }

  /** Whether the window has room at `slot`, as tryAcquire answers it, counting nothing. */
  room(slot: number, limit: number): Room {
    this.advance(slot);
    if (this.total < limit) return { admitted: true };
    // Oldest first: the slot after whose expiry fewer than `limit` requests remain.
    let remaining = this.total;
    for (let s = this.slot - this.slotsPerWindow; s <= this.slot; s++) {
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
  private lastSweepSlot = -1;

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    /** What is limited, for the 429's detail: "This organization is limited to 300 requests per 60 seconds". */
    private readonly subject = { who: "This organization", what: "requests" },
    /** Coarser slots for limiters with many keys: a window takes 4 bytes per slot. */
    private readonly slotsPerWindow = SLOTS_PER_WINDOW,
    /** How many keys to remember; past it, idle ones are forgotten, then the oldest. */
    private readonly maxKeys = 100_000,
  ) {
    this.slotMs = windowMs / slotsPerWindow;
  }

  /** Counts one request; throws a 429 problem (with retryAfterSeconds) when over the limit. */
  hit(key: string, now: number = Date.now()): void {
    const slot = Math.floor(now / this.slotMs);
    let window = this.windows.get(key);
    if (!window) {
      if (this.windows.size >= this.maxKeys) this.makeRoom(slot);
      window = new SlidingWindow(slot, this.slotsPerWindow);
      this.windows.set(key, window);
    }
    this.refuseUnless(window.tryAcquire(slot, this.limit), now);
  }

  /** Throws the 429 that `hit` would, without counting anything. */
  check(key: string, now: number = Date.now()): void {
    const window = this.windows.get(key);
    if (window) this.refuseUnless(window.room(Math.floor(now / this.slotMs), this.limit), now);
  }

  private refuseUnless(room: Room, now: number): void {
    if (room.admitted) return;
    const retryAfterSeconds = Math.max(1, Math.ceil((room.freeAtSlot * this.slotMs - now) / 1000));
    throw new RateLimitedError(
      retryAfterSeconds,
      `${this.subject.who} is limited to ${this.limit} ${this.subject.what} per ${this.windowMs / 1000} seconds; retry after ${retryAfterSeconds} s.`,
    );
  }

  /**
   * Forgets idle keys (a scan of them all, at most once per slot, so that many new keys at once do
   * not each pay for one), then, if all are busy, the oldest: kinder than remembering without bound.
   * A forgotten key starts again from an empty window.
   */
  private makeRoom(slot: number): void {
    if (slot !== this.lastSweepSlot) {
      this.lastSweepSlot = slot;
      for (const [key, window] of this.windows) if (window.idle(slot)) this.windows.delete(key);
    }
    for (const key of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break;
      this.windows.delete(key);
    }
  }
}

/** How many times the organization's limit its lead sources may use together. */
export const SOURCES_TOGETHER_FACTOR = 10;

/**
 * The API's limits. An organization's own keys share its limit. A lead source's key has a budget of
 * its own, so that a vendor posting too fast (or misusing its key) is held back without locking the
 * organization or its other vendors out; and all of an organization's sources together are held to
 * SOURCES_TOGETHER_FACTOR times the limit, so that creating sources does not multiply it without end.
 */
export class ApiRateLimits {
  private readonly organizations: RateLimiter;
  private readonly sources: RateLimiter;
  private readonly sourcesTogether: RateLimiter;

  constructor(limit: number) {
    this.organizations = new RateLimiter(limit);
    this.sources = new RateLimiter(limit, 60_000, { who: "This lead source", what: "requests" });
    this.sourcesTogether = new RateLimiter(limit * SOURCES_TOGETHER_FACTOR, 60_000, {
      who: "This organization",
      what: "requests from its lead sources together",
    });
  }

  /** Counts one authenticated request; throws a 429 problem when a limit it falls under is reached. */
  hit(organizationId: string, sourceId: string | null, now: number = Date.now()): void {
    if (sourceId === null) {
      this.organizations.hit(organizationId, now);
      return;
    }
    // Checked first, so that a request the pool refuses is not counted against its source either.
    this.sourcesTogether.check(organizationId, now);
    this.sources.hit(sourceId, now);
    this.sourcesTogether.hit(organizationId, now);
  }
}

export class RateLimitedError extends ProblemError {
  constructor(
    readonly retryAfterSeconds: number,
    detail: string,
  ) {
    super(429, "rate-limited", detail);
  }
}
