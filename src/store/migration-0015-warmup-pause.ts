import type { Kysely, Migration } from "kysely";

// A number's warmup ramp pauses while the number cannot send (disabled, or SMS off): when it was
// paused, so that turning it back on resumes the ramp where it stopped. No backfill: a number
// disabled before this has no pause to resume, and comes back as before.
export const warmupPause: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("phone_numbers").addColumn("warmup_paused_at", "bigint").execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable("phone_numbers").dropColumn("warmup_paused_at").execute();
  },
};
