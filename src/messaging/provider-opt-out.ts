import type { Transaction } from "kysely";
import { lockLeadsAtPhone, recordSmsConsent } from "../services/lead-consent.js";
import type { Database, EventRow, LeadRow } from "../store/schema.js";
import { findSuppression, suppress } from "../store/suppressions-repo.js";
import type { Receipt, SendResult } from "./provider.js";

// A provider that refuses a message because the recipient opted out with it (Telnyx 40300: they
// texted STOP and Telnyx holds the block) is telling us of an opt-out we may never have seen: the
// STOP can reach the provider and not us (a webhook lost, another system on the same number or
// messaging profile). It is recorded as a suppression, in the transaction that records the
// refusal, so the gate blocks the next message to them before it reaches the provider, and on the
// organization's leads at that phone, as the suppressions API records an sms suppression. The
// refused message itself stays Failed with the provider's code: it was handed over and refused,
// which is what Failed says; Blocked is for what our own gate held back.
//
// Lock order: the leads are locked before the refused message (lead-consent.ts: updateLead locks
// its lead, then its messages). The worker knows the send call's answer, and a receipt whose
// message it names, before the transaction that records it starts, so both lock the recipient's
// leads first, and run in a transaction of their own rather than a group commit's, whose earlier
// units may hold other messages' locks. Only refusals take this path: other outcomes take no lead
// lock and still share the group's transaction.
//
// A refusal can be recorded after the person opted back in: the send call (or its webhook) is
// answered after they texted START, which the provider processed after refusing. Their START is
// their last word and lifted the provider's block, so such a refusal records no opt-out
// (optedInSinceHandedOver), the mirror of a stale START (inbound.ts), which releases nothing.

/** The suppression entries' `source`: distinct from the API's and an inbound keyword's. */
export const PROVIDER_OPT_OUT_SOURCE = "provider_opt_out";

export interface OptOutRefusal {
  /** Who refused: the worker's provider, or the one that accepted the message (receipts). */
  provider: string | null;
  errorCode: string | null | undefined;
  errorMessage: string | null | undefined;
}

/** Whether the send call's answer is a refusal because the recipient opted out at the provider. */
export function isOptOutAnswer(result: SendResult): boolean {
  return result.kind === "permanent" && result.recipientOptedOut === true;
}

/** Whether a receipt is such a refusal (a "sent" or "delivered" one says the message went out). */
export function isOptOutReceipt(receipt: Receipt): boolean {
  return receipt.recipientOptedOut === true && receipt.kind !== "delivered" && receipt.kind !== "sent";
}

/** The organization's leads at the refused message's recipient, locked (before the message). */
export function lockLeadsAtRecipient(
  trx: Transaction<Database>,
  organizationId: string,
  recipient: string | null,
): Promise<LeadRow[]> {
  return recipient ? lockLeadsAtPhone(trx, organizationId, recipient) : Promise.resolve([]);
}

/**
 * Whether the recipient of `event` opted back in at or after the moment it was handed to the
 * provider (its sending_started_at), so a refusal of it says nothing of their consent now. Their
 * suppression entry, released since (a START, or the organization's release, which is as much a
 * later word), says so; an entry active again (a STOP since) says not. With no entry to release (the
 * STOP that made the provider refuse never reached us) the START is on the timeline: an inbound
 * opt-in received since. A stale START (inbound.ts) is older than an entry made after that moment,
 * so it never counts.
 */
export async function optedInSinceHandedOver(trx: Transaction<Database>, event: EventRow): Promise<boolean> {
  const recipient = event.to_phone_number;
  if (!recipient || event.sending_started_at === null) return false;
  const handedOver = Number(event.sending_started_at);
  const entry = await findSuppression(trx, event.organization_id, "sms", recipient);
  if (entry?.status === "active") return false;
  if (entry && Number(entry.released_at) >= handedOver) return true;
  // Read through events_by_from_phone (organization, sender, time): the START arrived after it.
  const optIn = await trx
    .selectFrom("events")
    .select("id")
    .where("organization_id", "=", event.organization_id)
    .where("from_phone_number", "=", recipient)
    .where("created_at", ">=", handedOver)
    .where("direction", "=", "inbound")
    .where("compliance_action", "=", "OptIn")
    .where("received_at", ">=", handedOver)
    .limit(1)
    .executeTakeFirst();
  return optIn !== undefined;
}

/**
 * Suppresses the recipient of `event` on SMS and records the opt-out on `leads` (those at the
 * recipient, from lockLeadsAtRecipient) that do not show it yet. Idempotent: an entry already
 * active is left as it is (suppress answers it), so a second refusal adds nothing. A released entry
 * is suppressed again, as the provider's block proves the opt-out stands (only the refusal of a new
 * send gets here), unless they opted in since it was handed over: check optedInSinceHandedOver first.
 */
export async function suppressOptedOutRecipient(
  trx: Transaction<Database>,
  event: EventRow,
  leads: readonly LeadRow[],
  refusal: OptOutRefusal,
  at: number,
): Promise<void> {
  const recipient = event.to_phone_number;
  if (!recipient) return;
  const code = refusal.errorCode ? `code ${refusal.errorCode}` : "no code";
  const words = refusal.errorMessage ? `: ${refusal.errorMessage}` : "";
  await suppress(trx, {
    organizationId: event.organization_id,
    channel: "sms",
    recipient,
    phoneNumber: recipient,
    email: null,
    source: PROVIDER_OPT_OUT_SOURCE,
    reason: `Refused by ${refusal.provider ?? "the provider"} (${code}${words}): the recipient opted out there. Message ${event.id}.`,
    actorId: null,
    at,
  });
  // As the suppressions API does, whether the entry is new or not: a lead shows what the list says.
  await recordSmsConsent(trx, leads, "opt-out", recipient, at);
}
