// Quiet hours in the recipient's local time. A window "21:00-08:00" means no message may be sent
// from 21:00 (inclusive) to 08:00 (exclusive) local time; it may wrap midnight. When the recipient's
// zone is uncertain (several candidate zones), a minute is allowed only if it is allowed in all of them.

export interface QuietWindow {
  /** Minutes after local midnight. */
  start: number;
  end: number;
}

export function parseQuietWindow(spec: string): QuietWindow | null {
  const trimmed = spec.trim().toLowerCase();
  if (trimmed === "off" || trimmed === "") return null;
  const match = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/.exec(trimmed);
  if (!match) throw new Error(`quiet hours must look like 21:00-08:00 or be 'off', got '${spec}'`);
  const [h1, m1, h2, m2] = match.slice(1).map(Number) as [number, number, number, number];
  // 24:00 may end a window (midnight); nothing later than it may.
  if (h1 > 23 || h2 > 24 || m1 > 59 || m2 > 59 || (h2 === 24 && m2 > 0)) {
    throw new Error(`quiet hours out of range: '${spec}'`);
  }
  const start = h1 * 60 + m1;
  const end = h2 * 60 + m2;
  if (start === end) throw new Error(`quiet hours start and end are the same: '${spec}'`);
  // 00:00-24:00 would never let a message out ('off' is how to lift quiet hours; this is no inverse).
  if (end - start === 1440) throw new Error(`quiet hours cannot cover the whole day: '${spec}'`);
  return { start, end };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone, hour: "numeric", minute: "numeric", hourCycle: "h23" });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Local minutes after midnight of `at` in `timeZone`. */
export function localMinutes(at: number, timeZone: string): number {
  let hour = 0;
  let minute = 0;
  for (const part of formatter(timeZone).formatToParts(at)) {
    if (part.type === "hour") hour = Number(part.value);
    else if (part.type === "minute") minute = Number(part.value);
  }
  return hour * 60 + minute;
}

function inWindow(minutes: number, w: QuietWindow): boolean {
  return w.start < w.end ? minutes >= w.start && minutes < w.end : minutes >= w.start || minutes < w.end;
}

/** Local minutes until the window ends, for a time inside it. */
function minutesToEnd(minutes: number, w: QuietWindow): number {
  return (w.end - minutes + 1440) % 1440;
}

const MINUTE = 60_000;

/**
 * The first whole minute at or after `now` that is outside quiet hours in every zone, or `now`
 * itself when it already is; null when no minute of the next few days is (zones too far apart for
 * the window's allowed hours to overlap: that does not change from one day to the next). Steps
 * through local wall time, jumping ahead conservatively (never past a clock change: a
 * fall-back can bring an allowed minute back sooner than the window's end on the clock).
 */
export function nextAllowedTime(now: number, timeZones: string[], window: QuietWindow | null): number | null {
  if (!window || timeZones.length === 0) return now;
  let t = now;
  for (let guard = 0; guard < 5000; guard++) {
    let wait = 0;
    for (const zone of timeZones) {
      const local = localMinutes(t, zone);
      if (inWindow(local, window)) wait = Math.max(wait, minutesToEnd(local, window));
    }
    if (wait === 0) return t;
    const aligned = Math.floor(t / MINUTE) * MINUTE;
    t = aligned + untilClockChange(aligned, wait > 60 ? wait - 60 : 1, timeZones) * MINUTE;
  }
  return null;
}

/**
 * `step` minutes, or fewer: the minutes from `at` to the first clock change within them in any zone.
 * A clock put back (fall-back, Lord Howe's half hour) repeats local minutes, so an allowed one can
 * come again sooner than the window's end on the clock says; the search goes on from the change.
 */
function untilClockChange(at: number, step: number, timeZones: string[]): number {
  const runsOn = (zone: string, minutes: number) =>
    localMinutes(at + minutes * MINUTE, zone) === (localMinutes(at, zone) + minutes) % 1440;
  let first = step;
  for (const zone of timeZones) {
    if (runsOn(zone, first)) continue;
    // The clock ran on for `low` minutes and not for `high`: the change is at `high`.
    let low = 0;
    let high = first;
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (runsOn(zone, middle)) low = middle;
      else high = middle;
    }
    first = high;
  }
  return first;
}
