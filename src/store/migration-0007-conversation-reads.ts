import type { Kysely, Migration } from "kysely";

// How far each user has read each conversation (ConversationResponse.isUnread): the newest message
// from the lead that a timeline page has shown them, as (created_at, id), the order timelines use.
// Migration 0009 replaces these marks with arrival counts (a message delivered late, with an earlier
// createdAt, must still make a conversation unread). Kept as it was applied.
export const conversationReads: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("conversation_reads")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("conversation_id", "text", (c) => c.notNull())
      .addColumn("user_id", "text", (c) => c.notNull())
      .addColumn("read_through_at", "bigint", (c) => c.notNull())
      .addColumn("read_through_id", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("conversation_reads_pk", ["organization_id", "conversation_id", "user_id"])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable("conversation_reads").execute();
  },
};
