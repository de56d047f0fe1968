// Money is integer micro-units (1 USD = 1,000,000) inside; a JSON number only at the edge.
export const MICROS_PER_USD = 1_000_000;

export function microsToUsd(micros: number | null): number | null {
  return micros === null ? null : micros / MICROS_PER_USD;
}

export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}
