import type { Kysely } from "kysely";
import type { ConversationRow, Database, EventRow } from "./schema.js";

// Per-user read state of conversations (ConversationResponse.isUnread). A conversation is unread for
// a user while the lead has sent a message that reached us after the last time a timeline page
// showed that user the lead's latest message. The order is arrival (conversations.inbound_count,
// kept by messaging/inbound.ts), not createdAt: a message a provider delivers late, with its original
// time, still makes the conversation unread. Reading is marked by what a page showed: a message that
// arrives while a page is read stays unread. Marks only move forward.

/** Messages the lead sent (only these can be a conversation's last_inbound_event_id). */
function isFromLead(row: EventRow): boolean {
  return row.direction === "inbound" && (row.activity_type === "Sms" || row.activity_type === "Mms");
}

/**
 * Marks, for one user, each conversation whose latest message from the lead is among `shown` (a page
 * of a lead's or a conversation's timeline) as read. Writes only marks that move forward.
 */
export async function markShownMessagesRead(
  db: Kysely<Database>,
  organizationId: string,
  userId: string,
  shown: readonly EventRow[],
): Promise<void> {
  const shownIds = new Set<string>();
  const conversationIds = new Set<string>();
  for (const row of shown) {
    if (row.conversation_id === null || !isFromLead(row)) continue;
    shownIds.add(row.id);
    conversationIds.add(row.conversation_id);
  }
  if (conversationIds.size === 0) return;
  // Read after the page: if another message arrived meanwhile, the page did not show the latest.
  const conversations = await db
    .selectFrom("conversations")
    .select(["id", "inbound_count", "last_inbound_event_id"])
    .where("organization_id", "=", organizationId)
    .where("id", "in", [...conversationIds])
    .execute();
  const read = conversations.filter(
    (c) => c.last_inbound_event_id !== null && shownIds.has(c.last_inbound_event_id),
  );
  if (read.length === 0) return;
  // Read the marks first, so that re-reading a timeline (the common case) writes nothing.
  const marks = await readMarks(
    db,
    organizationId,
    userId,
    read.map((c) => c.id),
  );
  for (const conversation of read) {
    if ((marks.get(conversation.id) ?? 0) >= conversation.inbound_count) continue;
    // The update's condition keeps the mark from moving back when two pages are read at once.
    await db
      .insertInto("conversation_reads")
      .values({
        organization_id: organizationId,
        conversation_id: conversation.id,
        user_id: userId,
        read_inbound_count: conversation.inbound_count,
      })
      .onConflict((oc) =>
        oc
          .columns(["organization_id", "conversation_id", "user_id"])
          .doUpdateSet({ read_inbound_count: (eb) => eb.ref("excluded.read_inbound_count") })
          .where("excluded.read_inbound_count", ">", (eb) => eb.ref("conversation_reads.read_inbound_count")),
      )
      .execute();
  }
}

/** How far the user has read each of these conversations (absent: never). */
export async function readMarks(
  db: Kysely<Database>,
  organizationId: string,
  userId: string,
  conversationIds: readonly string[],
): Promise<Map<string, number>> {
  if (conversationIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("conversation_reads")
    .select(["conversation_id", "read_inbound_count"])
    .where("organization_id", "=", organizationId)
    .where("user_id", "=", userId)
    .where("conversation_id", "in", [...new Set(conversationIds)])
    .execute();
  return new Map(rows.map((r) => [r.conversation_id, Number(r.read_inbound_count)]));
}

/** Whether the lead has sent something the user has not been shown (see readMarks). */
export function isUnread(conversation: ConversationRow, readInboundCount: number | undefined): boolean {
  return Number(conversation.inbound_count) > (readInboundCount ?? 0);
}
