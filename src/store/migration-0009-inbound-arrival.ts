import type { Kysely, Migration } from "kysely";

// isUnread by arrival order. Each conversation counts the lead's messages in the order they reached
// us and names the last to arrive (not the newest by createdAt: a provider may deliver a message
// late, with its original time). A user has read a conversation through the count it had when a page
// last showed them its latest message. Replaces 0007's marks by (createdAt, id).
export const inboundArrival: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable("conversations")
      .addColumn("inbound_count", "bigint", (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable("conversations").addColumn("last_inbound_event_id", "text").execute();
    // No backfill: counting starts with the next message, so what leads wrote before stays read.
    // 0007's marks cannot be carried over (they name positions, not counts).
    await db.schema.dropTable("conversation_reads").execute();
    await db.schema
      .createTable("conversation_reads")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("conversation_id", "text", (c) => c.notNull())
      .addColumn("user_id", "text", (c) => c.notNull())
      .addColumn("read_inbound_count", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("conversation_reads_pk", ["organization_id", "conversation_id", "user_id"])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable("conversation_reads").execute();
    await db.schema
      .createTable("conversation_reads")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("conversation_id", "text", (c) => c.notNull())
      .addColumn("user_id", "text", (c) => c.notNull())
      .addColumn("read_through_at", "bigint", (c) => c.notNull())
      .addColumn("read_through_id", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("conversation_reads_pk", ["organization_id", "conversation_id", "user_id"])
      .execute();
    await db.schema.alterTable("conversations").dropColumn("last_inbound_event_id").execute();
    await db.schema.alterTable("conversations").dropColumn("inbound_count").execute();
  },
};
