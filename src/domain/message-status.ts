import { EVENT_STATUSES } from "./event-vocabulary.js";

// The outbound message lifecycle (DESIGN.md "Transitions are monotonic and logged").
//
//   Scheduled → Queued → Sending → Sent → Delivered | Undeliverable | Failed
//   (Scheduled | Queued) → Canceled · (Scheduled | Queued) → Blocked · Sending → Queued (retry)
//
// Provider receipts only ever move a message forward, by rank; ranks among the outcomes make the
// end state independent of the order receipts arrive in: Delivered (proof of delivery) outranks
// Undeliverable, which outranks Failed.

export type OutboundStatus =
  | "Scheduled"
  | "Queued"
  | "Sending"
  | "Sent"
  | "Delivered"
  | "Undeliverable"
  | "Failed"
  | "Blocked"
  | "Canceled";

const RANK: Record<string, number> = {
  Scheduled: 0,
  Queued: 1,
  Sending: 2,
  Sent: 3,
  Failed: 4,
  Undeliverable: 5,
  Delivered: 6,
};

/** States a user may still cancel from. */
export const CANCELABLE_STATUSES = new Set(["Scheduled", "Queued"]);

export type ReceiptKind = "sent" | "delivered" | "undeliverable" | "failed";

const RECEIPT_STATUS: Record<ReceiptKind, OutboundStatus> = {
  sent: "Sent",
  delivered: "Delivered",
  undeliverable: "Undeliverable",
  failed: "Failed",
};

export function receiptStatus(kind: ReceiptKind): OutboundStatus {
  return RECEIPT_STATUS[kind];
}

/**
 * Whether a receipt moves a message in `current` status forward. Blocked and Canceled messages were
 * never handed to a provider, so no receipt can be theirs to apply.
 */
export function receiptMovesForward(current: string | null, kind: ReceiptKind): boolean {
  if (current === null || current === "Blocked" || current === "Canceled") return false;
  const from = RANK[current];
  const to = RANK[RECEIPT_STATUS[kind]];
  return from !== undefined && to !== undefined && to > from;
}

/** Statuses at which a provider has accepted the message: the moment it is billed, once. */
export function isAcceptedByProvider(status: string): boolean {
  return status === "Sent" || status === "Delivered" || status === "Undeliverable";
}

/** The lower-case lifecycle of SmsResponse / SmsEventTableRow, from an event's status and flags. */
export const SMS_LIFECYCLE_STATUSES = [
  "draft",
  "scheduled",
  "queued",
  "sending",
  "sent",
  "received",
  "delivered",
  "failed",
  "undeliverable",
  "opted_out",
  "blocked_compliance",
  "blocked_billing",
  "blocked_missing_campaign",
  "canceled",
] as const;
export type SmsLifecycleStatus = (typeof SMS_LIFECYCLE_STATUSES)[number];

const SMS_STATUS: Record<string, SmsLifecycleStatus> = {
  Scheduled: "scheduled",
  Queued: "queued",
  Sending: "sending",
  Sent: "sent",
  Received: "received",
  Delivered: "delivered",
  Failed: "failed",
  Undeliverable: "undeliverable",
  "Opted out": "opted_out",
  Canceled: "canceled",
};

/** The one mapping table between the seed's vocabulary and the SMS endpoints' (CONTRACT.md). */
export function smsLifecycleStatus(
  status: string | null,
  complianceAction: string | null,
  billingStatus: string | null,
): SmsLifecycleStatus | null {
  if (status === null) return null;
  if (status === "Blocked") {
    if (billingStatus === "InsufficientFunds") return "blocked_billing";
    if (complianceAction === "MissingTenDlcCampaign") return "blocked_missing_campaign";
    return "blocked_compliance";
  }
  return SMS_STATUS[status] ?? null;
}

/** The error code of a message the reconcile gave up on: Sending past its deadline, no outcome. */
export const OUTCOME_UNKNOWN = "ProviderOutcomeUnknown";

/**
 * A message the reconcile gave up on was never known to have failed: a later accepted answer or
 * receipt is news about it, and moves it as it would move a Sending one. Any other Failed stands.
 */
export function isReconciledUnknown(event: { status: string | null; error_code: string | null }): boolean {
  return event.status === "Failed" && event.error_code === OUTCOME_UNKNOWN;
}

/**
 * A message that ended Failed because the provider refused it at the send call (a permanent error,
 * or retryable errors until the retries ran out): the provider never took it, so the person received
 * nothing. It has no provider message id, and it is not one the reconcile gave up on (which may have
 * gone out). Every other Failed message was taken by the provider and reported failed afterwards: a
 * carrier may still have delivered it (failure receipts are not proof), so the person may know the
 * number it came from.
 */
export function refusedAtTheCall(event: {
  status: string | null;
  provider_message_id: string | null;
  error_code: string | null;
}): boolean {
  return (
    event.status === "Failed" && event.provider_message_id === null && event.error_code !== OUTCOME_UNKNOWN
  );
}

/** The stamps of the outcomes that prove a message left the provider (columns of its event row). */
export interface OutcomeStamps {
  delivered_at: number | null;
  undeliverable_at: number | null;
}

/**
 * The send time to record when it is heard of after the message's outcome (a receipt overtook the
 * send confirmation): never later than that outcome, since a provider sends before a carrier can
 * deliver or refuse. Our clock and the provider's differ by the time a call takes, which is enough to
 * invert them. (failed_at is left out: a reconcile deadline of ours, not proof of a send.)
 */
export function sentAtNoLaterThanOutcome(candidate: number, stamps: OutcomeStamps): number {
  const outcomeAt = stamps.delivered_at ?? stamps.undeliverable_at;
  return outcomeAt === null ? candidate : Math.min(candidate, outcomeAt);
}

/** Which Blocked messages a blocked_* status names (the flags smsLifecycleStatus reads). */
export type BlockedKind = "billing" | "missing_campaign" | "compliance";

export type SmsStatusFilter = { status: string; blocked: BlockedKind | null } | { none: true };

const BLOCKED_KINDS: Record<string, BlockedKind> = {
  blocked_billing: "billing",
  blocked_missing_campaign: "missing_campaign",
  blocked_compliance: "compliance",
};

/**
 * A status filter of the SMS lists, whose rows show the lower-case lifecycle while the event record
 * shows the seed's status: either vocabulary, in any case, read back through the table above, so
 * a filter matches the rows that display that status. null for a value of neither; `none` for
 * draft, which no stored message shows.
 */
export function smsStatusFilter(value: string): SmsStatusFilter | null {
  const lower = value.toLowerCase();
  const seed = EVENT_STATUSES.find((s) => s.toLowerCase() === lower);
  if (seed) return { status: seed, blocked: null };
  const stored = Object.entries(SMS_STATUS).find(([, lifecycle]) => lifecycle === lower);
  if (stored) return { status: stored[0], blocked: null };
  const blocked = Object.hasOwn(BLOCKED_KINDS, lower) ? BLOCKED_KINDS[lower]! : null;
  if (blocked) return { status: "Blocked", blocked };
  return lower === "draft" ? { none: true } : null;
}
