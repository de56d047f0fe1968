// Calendar-month boundaries at a fixed offset from UTC, for periods such as the usage summary's.

/**
 * Midnight on the first of the month `ms` falls in, as a clock `offsetMinutes` ahead of UTC reads
 * it, moved `monthsAhead` months on. Built with setUTCFullYear, not Date.UTC, which reads the years
 * 0–99 as 1900–1999.
 */
export function monthStart(ms: number, monthsAhead = 0, offsetMinutes = 0): number {
  const shift = offsetMinutes * 60_000;
  const at = new Date(ms + shift);
  const start = new Date(0);
  start.setUTCFullYear(at.getUTCFullYear(), at.getUTCMonth() + monthsAhead, 1);
  return start.getTime() - shift;
}
