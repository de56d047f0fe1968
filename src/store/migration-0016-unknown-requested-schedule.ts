import { type Kysely, type Migration, sql } from "kysely";

/**
 * requested_scheduled_for of a keyed send whose asked-for time is not known: no RFC 3339 date-time
 * parses to it, so it never equals a request's. A resent key matches it with any scheduledFor.
 */
export const REQUESTED_SCHEDULE_UNKNOWN = Number.MIN_SAFE_INTEGER;

// Migration 0013 could give keyed messages written before it the scheduledFor they asked for only
// where scheduled_for still held it. The others (moved by quiet hours, or asking for a time already
// past, which sends at once and keeps none) were left null, which reads "asked for none": resending
// exactly the first body was then a 422. Those written before 0013 ran are marked unknown instead;
// those written since with null did ask for none, so the time 0013 ran (its entry in Kysely's
// migration table, in this transaction when both run now) tells them apart.
export const unknownRequestedSchedule: Migration = {
  async up(db: Kysely<unknown>) {
    const ran = await sql<{ timestamp: string }>`select timestamp from kysely_migration
      where name = '0013_requested_schedule'`.execute(db);
    const before = Date.parse(ran.rows[0]?.timestamp ?? "");
    if (Number.isNaN(before)) throw new Error("migration 0013_requested_schedule has no recorded time");
    await sql`update events set requested_scheduled_for = ${REQUESTED_SCHEDULE_UNKNOWN}
      where idempotency_key is not null and requested_scheduled_for is null
        and created_at < ${before}`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`update events set requested_scheduled_for = null
      where requested_scheduled_for = ${REQUESTED_SCHEDULE_UNKNOWN}`.execute(db);
  },
};
