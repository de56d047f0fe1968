import { type Kysely, type Migration, sql } from "kysely";

// The scheduledFor a send asked for, kept apart from scheduled_for, which quiet hours move later: an
// outboundIdempotencyKey sent again is the same send only if it asks for the same time. Messages
// written before are backfilled where scheduled_for still is the asked time (scheduled_reason
// 'Requested'); one already deferred by quiet hours counts as sent without scheduledFor.
export const requestedSchedule: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("events").addColumn("requested_scheduled_for", "bigint").execute();
    await sql`update events set requested_scheduled_for = scheduled_for
      where idempotency_key is not null and scheduled_reason = 'Requested'`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable("events").dropColumn("requested_scheduled_for").execute();
  },
};
