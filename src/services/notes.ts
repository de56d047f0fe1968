import type { Kysely } from "kysely";
import { ACTIVITY_CATEGORY } from "../domain/event-vocabulary.js";
import { transactKnowingCommit } from "../store/commit-outcome.js";
import { getConversation } from "../store/leads-repo.js";
import type { Database, EventRow } from "../store/schema.js";
import type { Actor } from "./leads.js";
import { recordEvent } from "./timeline.js";

export const NOTE_MAX_LENGTH = 5000;

/** Adds an internal note to a conversation's timeline; undefined when the conversation is not this org's. */
export async function createNote(
  db: Kysely<Database>,
  actor: Actor,
  conversationId: string,
  text: string,
  now: number = Date.now(),
): Promise<EventRow | undefined> {
  return transactKnowingCommit(db, async (trx) => {
    const conversation = await getConversation(trx, actor.organizationId, conversationId);
    if (!conversation) return undefined;
    return recordEvent(
      trx,
      {
        organization_id: actor.organizationId,
        event_type: "NoteCreated",
        event_category: "Note",
        activity_type: "Note",
        activity_category: ACTIVITY_CATEGORY.Note,
        description: "Internal note added to the conversation.",
        summary: text,
        conversation_id: conversation.id,
        lead_id: conversation.lead_id,
        related_entity_type: "Conversation",
        related_entity_id: conversation.id,
        status: "Completed",
        created_by: actor.userId,
      },
      now,
    );
  });
}
