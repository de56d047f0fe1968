import { type Kysely, type Migration, sql } from "kysely";

// Warmup progress per number: counters the warmup scheduler advances with a guarded update, so two
// worker processes ticking at once still send one exchange, not two.
export const warmup: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("phone_numbers").addColumn("warmup_day_start", "bigint").execute();
    await db.schema
      .alterTable("phone_numbers")
      .addColumn("warmup_sent_today", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable("phone_numbers").addColumn("warmup_last_sent_at", "bigint").execute();
    await db.schema
      .alterTable("phone_numbers")
      .addColumn("warmup_total_sent", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const column of [
      "warmup_day_start",
      "warmup_sent_today",
      "warmup_last_sent_at",
      "warmup_total_sent",
    ]) {
      await sql`alter table phone_numbers drop column ${sql.ref(column)}`.execute(db);
    }
  },
};
