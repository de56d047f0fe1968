import type { Kysely, Transaction } from "kysely";
import {
  isAcceptedByProvider,
  isReconciledUnknown,
  receiptMovesForward,
  receiptStatus,
  sentAtNoLaterThanOutcome,
} from "../domain/message-status.js";
import { receiptFailureReason } from "../domain/status-reason.js";
import { plainTransact, type Transact } from "../store/group-commit.js";
import { recordOutcome } from "../store/phone-numbers-repo.js";
import type { Database, EventRow } from "../store/schema.js";
import { indexesByOrganization, transitionBatch } from "./batch-transitions.js";
import { billAccepted, refundNotSent } from "./billing.js";
import type { Receipt } from "./provider.js";
import {
  isOptOutReceipt,
  lockLeadsAtRecipient,
  optedInSinceHandedOver,
  suppressOptedOutRecipient,
} from "./provider-opt-out.js";
import {
  type EventKey,
  findEvent,
  lockEvent,
  lockEvents,
  logIgnored,
  receiptLogged,
  transition,
} from "./transitions.js";

/**
 * Carrier error codes that mean "this sender is being filtered", which count against its health:
 * Twilio's 30007, Telnyx's 40002 and 40003 (blocked as spam, for now or for good) and 40008.
 */
const CARRIER_BLOCK_CODES = new Set(["30007", "40002", "40003", "40008", "CarrierBlocked"]);

/** How a receipt names its message: our id (the webhook URL's), else the provider's message id. */
function receiptEventKey(receipt: Receipt): EventKey | null {
  if (receipt.eventId && receipt.organizationId) {
    return { organizationId: receipt.organizationId, id: receipt.eventId };
  }
  return receipt.providerMessageId ? { providerMessageId: receipt.providerMessageId } : null;
}

/**
 * The leads at the recipient of the message an opt-out refusal names, locked before the message
 * (provider-opt-out.ts): it is read unlocked to learn its organization and recipient, which never
 * change once it is written.
 */
async function lockLeadsRefused(trx: Transaction<Database>, key: EventKey) {
  const event = await findEvent(trx, key);
  return event ? lockLeadsAtRecipient(trx, event.organization_id, event.to_phone_number) : [];
}

/**
 * The send time we recorded is when our write committed, which can lag behind the provider's own
 * time of the outcome (a busy group commit): the outcome's time bounds it, so sentAt never comes
 * after deliveredAt/undeliverableAt.
 */
function sentNoLaterThan(event: EventRow, outcomeAt: number): Pick<EventRow, "sent_at"> {
  return { sent_at: event.sent_at === null ? null : Math.min(event.sent_at, outcomeAt) };
}

/**
 * When a receipt's outcome happened, for our record: the provider's time, but never before we began
 * sending the message nor after we heard of it. Another clock than ours, it can be off by seconds
 * (or hours), and would put deliveredAt before sendingStartedAt, or in the future.
 */
function outcomeTime(event: EventRow, receipt: Receipt, now: number): number {
  const began = event.sending_started_at ?? event.queued_at ?? event.created_at;
  return Math.min(Math.max(receipt.occurredAt, began), now);
}

/** Fields set when a message reaches a receipt's status (and the outcomes it supersedes cleared). */
function receiptChanges(event: EventRow, receipt: Receipt, now: number): Partial<EventRow> {
  const at = outcomeTime(event, receipt, now);
  const changes: Partial<EventRow> = {
    status: receiptStatus(receipt.kind),
    next_attempt_at: null,
    next_retry_at: null,
    provider_message_id: event.provider_message_id ?? receipt.providerMessageId,
    // A message whose send call got no clear answer learns Telnyx's id from its first receipt.
    telnyx_id: event.telnyx_id ?? receipt.telnyxId ?? null,
  };
  switch (receipt.kind) {
    case "sent":
      // Past any retry, or a reconcile that gave up on it: their error and reason no longer apply.
      Object.assign(changes, {
        sent_at: event.sent_at ?? at,
        status_reason: null,
        error_code: null,
        error_message: null,
        failed_at: null,
      });
      break;
    case "delivered":
      Object.assign(changes, {
        ...sentNoLaterThan(event, at),
        delivered_at: at,
        failed_at: null,
        undeliverable_at: null,
        error_code: null,
        error_message: null,
        status_reason: null,
      });
      break;
    case "undeliverable":
      Object.assign(changes, {
        ...sentNoLaterThan(event, at),
        undeliverable_at: at,
        failed_at: null,
        error_code: receipt.errorCode ?? "Undeliverable",
        error_message: receipt.errorMessage ?? null,
        status_reason: receiptFailureReason("undeliverable", receipt.errorCode, receipt.errorMessage),
      });
      break;
    case "failed":
      Object.assign(changes, {
        failed_at: at,
        // Not sent, so not billed: a charge made at the provider's acceptance is refunded by the
        // caller (refundNotSent).
        billing_status: event.billing_status ?? "NotBilled",
        error_code: receipt.errorCode ?? "Failed",
        error_message: receipt.errorMessage ?? null,
        status_reason: receiptFailureReason("failed", receipt.errorCode, receipt.errorMessage),
      });
      break;
  }
  return changes;
}

type ReceiptResult = { done: boolean; event: EventRow | undefined };

function receiptLog(receipt: Receipt) {
  const word = receipt.providerStatus ? ` (${receipt.providerStatus})` : "";
  return { stage: "provider-receipt", message: `Provider reported '${receipt.kind}'${word}.` };
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
  return retryReceipt(receipt, () => transact((trx) => applyReceiptIn(trx, receipt)));
}

/** Runs `attempt` until no other writer got in between (a few times at most). */
export async function retryReceipt(
  receipt: Receipt,
  attempt: () => Promise<ReceiptResult>,
): Promise<EventRow | undefined> {
  for (let i = 0; i < 5; i++) {
    const result = await attempt();
    if (result.done) return result.event;
  }
  throw new Error(
    `receipt for ${receipt.eventId ?? receipt.providerMessageId} kept conflicting with other writers`,
  );
}

/**
 * Receipts that arrived together, in one transaction. The common one, "delivered" for a billed
 * message that is Sent, is applied to all such messages at once (one lock, one update, one log
 * insert, one health count per sender); every other receipt on its own.
 */
export async function applyReceiptsIn(
  trx: Transaction<Database>,
  receipts: Receipt[],
): Promise<ReceiptResult[]> {
  const results: ReceiptResult[] = [];
  const delivered = indexesByOrganization(receipts, (r) =>
    receipts.length > 1 && r.kind === "delivered" && r.eventId ? r.organizationId : null,
  );
  for (const [organizationId, indexes] of delivered) {
    const ids = [...new Set(indexes.map((i) => receipts[i]!.eventId!))];
    const sent = new Map(
      (await lockEvents(trx, organizationId, ids))
        .filter((e) => e.status === "Sent" && e.billing_status === "Billed")
        .map((e) => [e.id, e]),
    );
    // One receipt per message in the batch: a duplicate takes the one-by-one path after it.
    const batch: number[] = [];
    const taken = new Set<string>();
    for (const i of indexes) {
      const id = receipts[i]!.eventId!;
      if (sent.has(id) && !taken.has(id)) {
        taken.add(id);
        batch.push(i);
      }
    }
    if (batch.length === 0) continue;
    const now = Date.now();
    const moved = await transitionBatch(trx, {
      perEvent: { provider_message_id: "text", telnyx_id: "text", sent_at: "bigint", delivered_at: "bigint" },
      items: batch.map((i) => {
        const receipt = receipts[i]!;
        const event = sent.get(receipt.eventId!)!;
        return { event, changes: receiptChanges(event, receipt, now), log: receiptLog(receipt) };
      }),
      at: now,
    });
    const perSender = new Map<string, number>();
    for (const event of moved) {
      if (event.from_phone_number_id)
        perSender.set(event.from_phone_number_id, (perSender.get(event.from_phone_number_id) ?? 0) + 1);
    }
    for (const [phoneNumberId, count] of perSender) {
      await recordOutcome(trx, organizationId, phoneNumberId, "sent", now, count);
    }
    const byId = new Map(moved.map((e) => [e.id, e]));
    for (const i of batch) {
      const event = byId.get(receipts[i]!.eventId!);
      results[i] = { done: event !== undefined, event };
    }
  }
  for (const [i, r] of receipts.entries()) results[i] ??= await applyReceiptIn(trx, r);
  return results;
}

/**
 * One receipt, in the caller's transaction. An opt-out refusal locks leads first: give it a
 * transaction of its own (Messaging does), where nothing was locked before them.
 */
export async function applyReceiptIn(trx: Transaction<Database>, receipt: Receipt): Promise<ReceiptResult> {
  const key = receiptEventKey(receipt);
  if (!key) return { done: true, event: undefined };
  const optedOut = isOptOutReceipt(receipt);
  const leads = optedOut ? await lockLeadsRefused(trx, key) : [];
  const event = await lockEvent(trx, key);
  if (!event) return { done: true, event: undefined };
  const now = Date.now();
  const log = receiptLog(receipt);
  if (!receiptMovesForward(isReconciledUnknown(event) ? "Sending" : event.status, receipt.kind)) {
    const fillIn: Partial<EventRow> = {};
    // A late "sent" still proves the provider sent it: record when, and bill it (once) even if
    // an outcome (delivered, failed…) arrived first. Never for a message we blocked or canceled.
    const handedOver = ["Sent", "Delivered", "Undeliverable", "Failed"].includes(event.status ?? "");
    if (receipt.kind === "sent" && handedOver) {
      if (event.sent_at === null)
        fillIn.sent_at = sentAtNoLaterThanOutcome(outcomeTime(event, receipt, now), event);
      // Also after a failure receipt refunded the acceptance's charge (refundNotSent).
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
    return { done: true, event: { ...event, ...fillIn } };
  }
  const changes = receiptChanges(event, receipt, now);
  if (isAcceptedByProvider(changes.status!)) Object.assign(changes, await billAccepted(trx, event, now));
  if (receipt.kind === "failed") {
    Object.assign(changes, await refundNotSent(trx, event, now));
    // It never left the provider: no send time either (the acceptance stamped one), as when the
    // failure overtakes the acceptance, unless a receipt said it was sent.
    if (event.sent_at !== null && !(await receiptLogged(trx, event, "Sent"))) changes.sent_at = null;
  }
  const updated = await transition(trx, event, changes, log, now);
  if (!updated) return { done: false, event: undefined };
  // Only when the receipt moves the message: a redelivered one must not undo a later release.
  if (optedOut && !(await optedInSinceHandedOver(trx, updated))) {
    await suppressOptedOutRecipient(
      trx,
      updated,
      leads,
      { provider: event.provider, errorCode: receipt.errorCode, errorMessage: receipt.errorMessage },
      now,
    );
  }
  const wasFinal =
    event.status === "Delivered" || event.status === "Undeliverable" || event.status === "Failed";
  // A recipient who opted out at the provider says nothing of the sender: not counted either way.
  if (!wasFinal && receipt.kind !== "sent" && !receipt.recipientOptedOut && event.from_phone_number_id) {
    const kind =
      receipt.kind === "delivered"
        ? "sent"
        : CARRIER_BLOCK_CODES.has(receipt.errorCode ?? "")
          ? "carrier_blocked"
          : "failed";
    await recordOutcome(trx, event.organization_id, event.from_phone_number_id, kind, now);
  }
  return { done: true, event: updated };
}
