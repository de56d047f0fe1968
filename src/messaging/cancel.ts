import type { Kysely } from "kysely";
import { CANCELABLE_STATUSES } from "../domain/message-status.js";
import { notFound, ProblemError } from "../domain/problem.js";
import { runTransaction } from "../store/group-commit.js";
import { previewNewestNotCanceled, stickToLastPossiblyReceived } from "../store/leads-repo.js";
import type { Database, EventRow } from "../store/schema.js";
import { loadEvent, lockEvent, transition } from "./transitions.js";

/** What a cancel writes: a user's through the API, or the worker's for a missed warmup slot. */
export function canceledChanges(at: number, reason: string): Partial<EventRow> {
  return {
    status: "Canceled",
    canceled_at: at,
    cancel_reason: reason,
    // A pending retry's reason no longer applies (cancelReason says why).
    status_reason: null,
    next_attempt_at: null,
    next_retry_at: null,
    billing_status: "NotBilled",
  };
}

/**
 * Cancels an outbound message that no worker has handed to a provider yet: Scheduled, Queued, or
 * Queued waiting for a retry. Later it is a 409: a message being sent or sent cannot be taken back.
 * A message already Canceled is answered as it is (its first cancel's time and reason stay), so a
 * client that retries a cancel whose answer it lost gets the outcome it asked for, not an error.
 */
export async function cancelMessage(
  db: Kysely<Database>,
  organizationId: string,
  eventId: string,
  reason: string | null,
  now?: number,
): Promise<EventRow> {
  return runTransaction(db, async (trx) => {
    const event = await lockEvent(trx, { organizationId, id: eventId });
    if (event?.direction !== "outbound") throw notFound(`SMS event '${eventId}'`);
    if (event.status === "Canceled") return event;
    if (!CANCELABLE_STATUSES.has(event.status ?? "")) {
      throw new ProblemError(
        409,
        "not-cancelable",
        `The message is ${event.status}; only Scheduled or Queued messages can be canceled.`,
      );
    }
    // Read once the message is locked, and never before its last change: the writer we waited for,
    // or another process whose clock runs ahead, must not be logged after the cancel.
    const at = Math.max(now ?? Date.now(), event.modified_at ?? event.created_at);
    const canceled = await transition(
      trx,
      event,
      canceledChanges(at, reason ?? "Canceled by user"),
      { stage: "cancel", message: `Canceled: ${reason ?? "by user"}.` },
      at,
    );
    if (!canceled) {
      // A worker claimed it in the meantime.
      const current = await loadEvent(trx, organizationId, eventId);
      if (current?.status === "Canceled") return current;
      throw new ProblemError(
        409,
        "not-cancelable",
        `The message is ${current?.status ?? "gone"}; it can no longer be canceled.`,
      );
    }
    if (canceled.conversation_id) {
      await previewNewestNotCanceled(trx, organizationId, canceled.conversation_id);
      await stickToLastPossiblyReceived(trx, organizationId, canceled.conversation_id);
    }
    return canceled;
  });
}
