import type { Kysely, Transaction } from "kysely";
import { isAcceptedByProvider, receiptMovesForward, receiptStatus } from "../domain/message-status.js";
import { plainTransact, type Transact } from "../store/group-commit.js";
import { recordOutcome } from "../store/phone-numbers-repo.js";
import type { Database, EventRow } from "../store/schema.js";
import { billAccepted } from "./billing.js";
import type { Receipt } from "./provider.js";
import { lockEvent, logIgnored, transition } from "./transitions.js";

/** Carrier error codes that mean "this sender is being filtered", which count against its health. */
const CARRIER_BLOCK_CODES = new Set(["30007", "40002", "40008", "CarrierBlocked"]);

async function findEvent(db: Transaction<Database>, receipt: Receipt): Promise<EventRow | undefined> {
  if (receipt.eventId && receipt.organizationId) {
    return lockEvent(db, { organizationId: receipt.organizationId, id: receipt.eventId });
  }
  if (!receipt.providerMessageId) return undefined;
  return lockEvent(db, { providerMessageId: receipt.providerMessageId });
}

/** Fields set when a message reaches a receipt's status (and the outcomes it supersedes cleared). */
function receiptChanges(event: EventRow, receipt: Receipt): Partial<EventRow> {
  const at = receipt.occurredAt;
  const changes: Partial<EventRow> = {
    status: receiptStatus(receipt.kind),
    next_attempt_at: null,
    next_retry_at: null,
    provider_message_id: event.provider_message_id ?? receipt.providerMessageId,
  };
  switch (receipt.kind) {
    case "sent":
      changes.sent_at = event.sent_at ?? at;
      break;
    case "delivered":
      Object.assign(changes, {
        delivered_at: at,
        failed_at: null,
        undeliverable_at: null,
        error_code: null,
        error_message: null,
      });
      break;
    case "undeliverable":
      Object.assign(changes, {
        undeliverable_at: at,
        failed_at: null,
        error_code: receipt.errorCode ?? "Undeliverable",
        error_message: receipt.errorMessage ?? null,
      });
      break;
    case "failed":
      Object.assign(changes, {
        failed_at: at,
        error_code: receipt.errorCode ?? "Failed",
        error_message: receipt.errorMessage ?? null,
      });
      break;
  }
  return changes;
}

/**
 * Applies a provider receipt. It moves the message forward only (by rank, see message-status.ts); a
 * receipt that would not is logged as ignored, and a late "sent" still fills in the send time.
 * Safe to call any number of times, in any order, from any process.
 */
export async function applyReceipt(
  db: Kysely<Database>,
  receipt: Receipt,
  transact: Transact = plainTransact(db),
): Promise<EventRow | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const result = await transact(async (trx) => {
      const event = await findEvent(trx, receipt);
      if (!event) return { done: true as const, event: undefined };
      const now = Date.now();
      const log = { stage: "provider-receipt", message: `Provider reported '${receipt.kind}'.` };
      if (!receiptMovesForward(event.status, receipt.kind)) {
        const fillIn: Partial<EventRow> = {};
        // A late "sent" still proves the provider sent it: record when, and bill it (once) even if
        // an outcome (delivered, failed…) arrived first. Never for a message we blocked or canceled.
        const handedOver = ["Sent", "Delivered", "Undeliverable", "Failed"].includes(event.status ?? "");
        if (receipt.kind === "sent" && event.sent_at === null && handedOver) {
          fillIn.sent_at = receipt.occurredAt;
          Object.assign(fillIn, await billAccepted(trx, event, now));
        }
        if (Object.keys(fillIn).length > 0) {
          await trx
            .updateTable("events")
            .set(fillIn)
            .where("organization_id", "=", event.organization_id)
            .where("id", "=", event.id)
            .execute();
        }
        await logIgnored(
          trx,
          event,
          receiptStatus(receipt.kind),
          { ...log, message: `${log.message} Ignored: the message is already ${event.status}.` },
          now,
        );
        return { done: true as const, event: { ...event, ...fillIn } };
      }
      const changes = receiptChanges(event, receipt);
      if (isAcceptedByProvider(changes.status!)) Object.assign(changes, await billAccepted(trx, event, now));
      const updated = await transition(trx, event, changes, log, now);
      if (!updated) return { done: false as const, event: undefined };
      const wasFinal =
        event.status === "Delivered" || event.status === "Undeliverable" || event.status === "Failed";
      if (!wasFinal && receipt.kind !== "sent" && event.from_phone_number_id) {
        const kind =
          receipt.kind === "delivered"
            ? "sent"
            : CARRIER_BLOCK_CODES.has(receipt.errorCode ?? "")
              ? "carrier_blocked"
              : "failed";
        await recordOutcome(trx, event.organization_id, event.from_phone_number_id, kind, now);
      }
      return { done: true as const, event: updated };
    });
    if (result.done) return result.event;
  }
  throw new Error(
    `receipt for ${receipt.eventId ?? receipt.providerMessageId} kept conflicting with other writers`,
  );
}
