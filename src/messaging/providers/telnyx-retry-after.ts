// How long Telnyx asks us to wait before trying a refused send again. Telnyx documents its rate
// limit headers (x-ratelimit-limit, -remaining, -reset: seconds until the window resets) and
// asks that they be respected; a gateway or a 503 may say Retry-After (seconds or an HTTP date).
// A retry sooner than either is refused again, and spends one of the message's retries for nothing.

/** Whole seconds, as both headers give them; anything else says nothing. */
const SECONDS = /^\d{1,9}$/;

/** Milliseconds to wait from `now`, or undefined when the answer does not say. */
export function telnyxRetryAfterMs(headers: Headers, status: number, now: number): number | undefined {
  const retryAfter = headers.get("retry-after")?.trim();
  if (retryAfter) {
    if (SECONDS.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    // An HTTP date has a weekday and a zone: a bare number or a date-only string is not one.
    if (Number.isFinite(at) && /[a-z]/i.test(retryAfter)) return Math.max(0, at - now);
  }
  // The reset says when the API's request window opens again; it applies only when that window is
  // what refused us (a 429 with nothing left), not to a queue that is full.
  const reset = headers.get("x-ratelimit-reset")?.trim();
  if (status === 429 && headers.get("x-ratelimit-remaining")?.trim() === "0" && reset && SECONDS.test(reset))
    return Number(reset) * 1000;
  return undefined;
}
