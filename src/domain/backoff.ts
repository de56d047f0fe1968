// Exponential backoff with equal jitter: attempt n (1-based) waits a random time in
// [base·2^(n-1) / 2, base·2^(n-1)], so retries spread out instead of arriving together. The ceiling
// stops growing at a day: past that a retry is as good as never, and 2^n would overflow dates.

export const MAX_RETRY_DELAY_MS = 86_400_000;

export function retryDelayMs(
  attempt: number,
  baseSeconds: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, baseSeconds * 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
