import type { Kysely, Migration } from "kysely";

// The event a conversation's inbox view shows, by id: two events of one conversation in the same
// millisecond are ordered by id on its timeline, and the view must show the same one (comparing
// times alone, the one committed last won, which on PostgreSQL was often the older). No backfill:
// a null id compares as older than any event of the same time, as before.
export const conversationLastEvent: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("conversations").addColumn("last_event_id", "text").execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable("conversations").dropColumn("last_event_id").execute();
  },
};
