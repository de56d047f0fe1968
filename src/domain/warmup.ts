// Number warmup: a new number builds carrier reputation by exchanging a small, growing number of
// messages a day with its organization's other numbers before it carries lead traffic at volume.
// The ramp doubles from 4 messages on day 1 to a ceiling of 100; after 14 days the number is Ready.

export const WARMUP_DAYS = 14;
const FIRST_DAY = 4;
const CEILING = 100;
const DAY_MS = 86_400_000;

/** 0 on the day warmup started. */
export function warmupDay(startedAt: number, now: number): number {
  return Math.max(0, Math.floor((now - startedAt) / DAY_MS));
}

/** Messages the number should send on a day of its warmup. */
export function dailyTarget(day: number): number {
  return Math.min(CEILING, FIRST_DAY * 2 ** Math.min(day, 10));
}

/** A number's ramp as its row keeps it: when it started, when it paused, when its day began. */
export interface WarmupRamp {
  startedAt: number | null;
  pausedAt: number | null;
  dayStart: number | null;
}

/**
 * The ramp across a change of whether the number can send (enabled, with SMS on). It pauses while
 * the number cannot, and resumes where it stopped: its start and current day move later by the pause,
 * so a number disabled for two weeks comes back on the day of the ramp it was on, not at full volume.
 */
export function rampAcross(ramp: WarmupRamp, canSend: boolean, now: number): WarmupRamp {
  if (ramp.startedAt === null) return { ...ramp, pausedAt: null };
  if (!canSend) return ramp.pausedAt === null ? { ...ramp, pausedAt: now } : ramp;
  if (ramp.pausedAt === null) return ramp;
  const paused = Math.max(0, now - ramp.pausedAt);
  return {
    startedAt: ramp.startedAt + paused,
    pausedAt: null,
    dayStart: ramp.dayStart === null ? null : ramp.dayStart + paused,
  };
}

/** The time a ramp has reached: `now`, or, while it is paused, the moment it paused. */
export function rampTime(pausedAt: number | null, now: number): number {
  return pausedAt === null ? now : Math.min(pausedAt, now);
}

export type WarmupState = "Not Started" | "In Progress" | "Ready";

export function warmupState(enabled: boolean, startedAt: number | null, now: number): WarmupState {
  if (!enabled || startedAt === null) return "Not Started";
  return warmupDay(startedAt, now) >= WARMUP_DAYS ? "Ready" : "In Progress";
}

export function progressPercent(startedAt: number | null, now: number): number {
  if (startedAt === null) return 0;
  return Math.min(100, Math.floor(((now - startedAt) / (WARMUP_DAYS * DAY_MS)) * 100));
}

/** When the warmup day `now` falls in began: warmup days run from the moment warmup started. */
export function warmupDayStart(startedAt: number, now: number): number {
  return startedAt + warmupDay(startedAt, now) * DAY_MS;
}

/**
 * Whether the next warmup message is due: the warmup not over (after WARMUP_DAYS the number is
 * Ready and carries lead traffic instead), today's target not reached, and the day cut into `target`
 * even slots, of which this one has no send yet. Slots, not a spacing from the last send: a
 * scheduler that ticks every minute rounds each spacing up to whole ticks and would fall short of
 * the target (96 of 100) every day. A slot missed (the server was down) is not made up: a burst is
 * what warmup exists to avoid.
 */
export function warmupMessageDue(
  sentToday: number,
  lastSentAt: number | null,
  dayStartedAt: number,
  day: number,
  now: number,
): boolean {
  if (day >= WARMUP_DAYS) return false;
  const target = dailyTarget(day);
  if (sentToday >= target) return false;
  const slot = Math.floor(((now - dayStartedAt) * target) / DAY_MS);
  const slotStartedAt = dayStartedAt + Math.ceil((slot * DAY_MS) / target);
  return lastSentAt === null || lastSentAt < slotStartedAt;
}
