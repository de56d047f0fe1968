import type { Kysely, Transaction } from "kysely";
import { insertEvent, type NewEvent, newEventRow } from "../store/events-repo.js";
import { touchConversation } from "../store/leads-repo.js";
import type { Database, EventRow } from "../store/schema.js";

/**
 * Writes one event onto the timeline, in the caller's transaction: the event row and the
 * conversation's lastEventAt / lastSnippet (and, for a message sent, the number it went from).
 */
export async function recordEvent(
  db: Kysely<Database> | Transaction<Database>,
  input: NewEvent,
  now: number = Date.now(),
  options: { sentFromPhoneNumberId?: string } = {},
): Promise<EventRow> {
  const row = await insertEvent(db, newEventRow(input, now));
  if (row.conversation_id) {
    await touchConversation(
      db,
      row.organization_id,
      row.conversation_id,
      {
        id: row.id,
        at: row.created_at,
        snippet: row.summary ?? row.description,
        isInternalNote: row.activity_type === "Note",
      },
      options.sentFromPhoneNumberId,
    );
  }
  return row;
}
