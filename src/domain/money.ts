// Money is integer micro-units (1 USD = 1,000,000) inside; a JSON number only at the edge.
export const MICROS_PER_USD = 1_000_000;

export function microsToUsd(micros: number | null): number | null {
  return micros === null ? null : micros / MICROS_PER_USD;
}

export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}

/**
 * The most a wallet may hold (and a starting credit may be): a billion dollars. Far above any real
 * balance, and far below 2^53 micro-dollars, past which SQLite's integers read into JavaScript
 * numbers would silently lose the last micro-dollars.
 */
export const MAX_WALLET_MICROS = 1_000_000_000 * MICROS_PER_USD;

/**
 * A USD amount as typed ("25", "12.50", "0.000001") in exact micro-dollars, with no float rounding;
 * null when it is not such an amount (more than 6 decimals, a sign, an exponent, hex) or above
 * MAX_WALLET_MICROS.
 */
export function parseUsd(text: string): number | null {
  const match = /^(\d{1,10})(?:\.(\d{1,6}))?$/.exec(text.trim());
  if (!match) return null;
  const micros = Number(match[1]) * MICROS_PER_USD + Number((match[2] ?? "").padEnd(6, "0"));
  return micros <= MAX_WALLET_MICROS ? micros : null;
}
