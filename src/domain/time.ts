import { badRequest, type ProblemError } from "./problem.js";

/** Epoch milliseconds → RFC 3339 UTC with a Z suffix (CONTRACT.md), null stays null. */
export function toIso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

// RFC 3339 date-time with a mandatory offset or Z; Date.parse alone accepts far too much.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** The first and last instants RFC 3339 can write in UTC (years 0000 to 9999). */
export const EARLIEST_INSTANT = Date.parse("0000-01-01T00:00:00.000Z");
export const LATEST_INSTANT = Date.parse("9999-12-31T23:59:59.999Z");

/** The offset from UTC, in minutes, of an RFC 3339 timestamp as written (0 for Z); null when it is none. */
export function rfc3339OffsetMinutes(value: string): number | null {
  const parts = RFC3339.exec(value);
  if (!parts) return null;
  if (parts[8] === undefined) return 0;
  const minutes = Number(parts[8]) * 60 + Number(parts[9]);
  return value.charAt(value.length - 6) === "-" ? -minutes : minutes;
}

/**
 * Parses an RFC 3339 timestamp to epoch ms, or null when it is not one. Each part is range-checked
 * first: Date.parse rolls an impossible date forward ("02-30" becomes March 2nd, hour 24 the next
 * day), which would quietly schedule or filter at a time the client never wrote. A leap second (:60)
 * is refused too: JavaScript time cannot represent it; so is an instant whose UTC year is outside
 * 0000–9999 ("9999-12-31T23:59:59-23:59"), which could only be answered in a form that is no RFC 3339.
 *
 * Time is kept to the millisecond, and a finer fraction is cut off; with `roundUp` it rounds up
 * instead, as a `<` or `>=` bound needs (an event at .652 is before .6525).
 */
export function parseRfc3339(value: string, roundUp = false): number | null {
  const parts = RFC3339.exec(value);
  if (!parts) return null;
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const lastOfMonth = new Date(0);
  lastOfMonth.setUTCFullYear(year, month, 0); // day 0 of the next month (not Date.UTC: it maps 0–99 to 19xx)
  const daysInMonth = lastOfMonth.getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  if (parts[8] !== undefined && (Number(parts[8]) > 23 || Number(parts[9]) > 59)) return null;
  // In the one form Date.parse reads by the ISO rules: with a space or a lower-case t/z it falls back
  // to a legacy parser that reads years 0–99 as 19xx.
  const ms = Date.parse(`${value.slice(0, 10)}T${value.slice(11).toUpperCase()}`);
  if (!Number.isFinite(ms) || ms < EARLIEST_INSTANT || ms > LATEST_INSTANT) return null;
  // After the range check: a bound just under the end of 9999 still rounds up past it.
  const finer = /[1-9]/.test(parts[7]?.slice(4) ?? "");
  return roundUp && finer ? ms + 1 : ms;
}

/**
 * Compares two RFC 3339 timestamps as the instants they write, to the nanosecond (parseRfc3339 keeps
 * the millisecond): negative when `a` is earlier, 0 when they are the same instant, positive when it
 * is later; null when either is no timestamp.
 */
export function compareRfc3339(a: string, b: string): number | null {
  const x = fineInstant(a);
  const y = fineInstant(b);
  if (x === null || y === null) return null;
  return x[0] - y[0] || x[1] - y[1];
}

/** A timestamp as [its millisecond, the nanoseconds past it that it writes]. */
function fineInstant(value: string): [number, number] | null {
  const ms = parseRfc3339(value);
  if (ms === null) return null;
  const beyond = RFC3339.exec(value)?.[7]?.slice(4) ?? "";
  return [ms, Number(beyond.padEnd(6, "0"))];
}

/**
 * Whether a half-open range [start, end) given as RFC 3339 text ends before it starts, compared as
 * written (to the nanosecond); an absent or unreadable bound inverts nothing. Equal bounds are an
 * empty range, not an inverted one.
 */
export function endsBeforeStart(start: string | null | undefined, end: string | null | undefined): boolean {
  if (!start || !end) return false;
  return (compareRfc3339(start, end) ?? 0) > 0;
}

/** The 400 for a half-open range whose end is before its start, naming the end. */
export function invertedRange(startName: string, endName: string): ProblemError {
  return badRequest(
    `${endName} must not be before ${startName} (${startName} is inclusive, ${endName} exclusive: equal, they select nothing).`,
    endName,
  );
}
