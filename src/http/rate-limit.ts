import { ProblemError } from "../domain/problem.js";

/**
 * Per-organization fixed-window limiter (CONTRACT.md: N requests per 60 s). In-process: each server
 * process counts its own requests. That is exact for the one `serve` process leadtrail runs (workers
 * serve no API); several servers behind a load balancer would each allow N (see README, Choices).
 * Chosen over @fastify/rate-limit to key by organization after authentication and to answer with
 * our problem+json body.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Counts one request; throws a 429 problem (with retryAfterSeconds) when over the limit. */
  hit(key: string, now: number = Date.now()): void {
    let window = this.windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      if (this.windows.size > 100_000) this.windows.clear();
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    if (window.count > this.limit) {
      const retryAfterSeconds = Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000));
      throw new RateLimitedError(retryAfterSeconds, this.limit, this.windowMs / 1000);
    }
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
