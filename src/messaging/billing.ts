import type { Kysely, Transaction } from "kysely";
import { countSegments } from "../domain/sms-segments.js";
import { chargeOnce, chargeOnceMany, refundCharge, type UsageEntry } from "../store/billing-repo.js";
import type { Database, EventRow } from "../store/schema.js";
import { receiptLogged } from "./transitions.js";

type Db = Kysely<Database> | Transaction<Database>;

export interface Prices {
  segmentMicros: number;
  mmsMicros: number;
}

export interface MessagePrice {
  segments: number;
  encoding: string;
  priceMicros: number;
  unit: "sms_segment" | "mms_message";
  unitPriceMicros: number;
  quantity: number;
}

/** SMS: segments × per-segment price. MMS: one message at the MMS price. */
export function priceMessage(text: string, isMms: boolean, prices: Prices): MessagePrice {
  const { segments, encoding } = countSegments(text);
  if (isMms) {
    return {
      segments,
      encoding,
      priceMicros: prices.mmsMicros,
      unit: "mms_message",
      unitPriceMicros: prices.mmsMicros,
      quantity: 1,
    };
  }
  return {
    segments,
    encoding,
    priceMicros: segments * prices.segmentMicros,
    unit: "sms_segment",
    unitPriceMicros: prices.segmentMicros,
    quantity: segments,
  };
}

/** Traffic that is never billed: warmup, tests and our own system messages (opt-out confirmations…). */
export function isBillableTraffic(trafficType: string | null): boolean {
  return trafficType === "RealLead" || trafficType === null;
}

/**
 * Bills a message the first time a provider has accepted it: one usage line keyed by the event and
 * one wallet debit, or a non-billable usage line for free traffic. Returns the billing columns to set.
 */
export async function billAccepted(db: Db, event: EventRow, at: number): Promise<Partial<EventRow>> {
  // NotBilled is not final here: a message the worker gave up on (ProviderOutcomeUnknown) that a
  // receipt later shows was sent is billed then. The ledger's one line per event keeps it to once.
  if (event.billing_status === "Billed") return {};
  const { entry, changes } = acceptedCharge(event, at);
  // No new charge: the message's line was already there (free traffic accepted twice).
  if (!(await chargeOnce(db, entry))) return {};
  return changes;
}

/**
 * Undoes the charge of a message the provider reports it could not send (Telnyx's sending_failed or
 * expired: it never left the provider), so that it ends NotBilled whether the provider's acceptance
 * (which billed it) or the failure receipt came first. A receipt saying it was sent (sent, and the
 * outcomes that outrank a failure) is proof it went out: it is billed then, in any order, and a
 * failure after such a receipt refunds nothing. Answers the billing columns to set.
 */
export async function refundNotSent(
  trx: Transaction<Database>,
  event: EventRow,
  at: number,
): Promise<Partial<EventRow>> {
  if (event.billing_status !== "Billed") return {};
  if (await receiptLogged(trx, event, "Sent")) return {};
  await refundCharge(trx, event.organization_id, event.id, at);
  return { billing_status: "NotBilled", billable_micros: null };
}

/** billAccepted for many events of one organization: one ledger insert and one wallet debit. */
export async function billAcceptedMany(
  trx: Transaction<Database>,
  organizationId: string,
  events: EventRow[],
  at: number,
): Promise<Map<string, Partial<EventRow>>> {
  const changes = new Map<string, Partial<EventRow>>();
  const entries: UsageEntry[] = [];
  for (const event of events) {
    if (event.billing_status === "Billed") continue;
    const charge = acceptedCharge(event, at);
    entries.push(charge.entry);
    changes.set(event.id, charge.changes);
  }
  await chargeOnceMany(trx, organizationId, entries, at);
  return changes;
}

/** The usage line of an accepted message and the billing columns it sets on the event. */
function acceptedCharge(event: EventRow, at: number): { entry: UsageEntry; changes: Partial<EventRow> } {
  const billable = isBillableTraffic(event.traffic_type);
  const isMms = event.activity_type === "Mms";
  const amount = billable ? (event.price_micros ?? 0) : 0;
  const quantity = isMms ? 1 : (event.segments ?? 1);
  return {
    entry: {
      organization_id: event.organization_id,
      event_id: event.id,
      channel: event.is_warmup ? "warmup" : isMms ? "mms" : "sms",
      billable_unit: event.is_warmup ? "warmup_sms_segment" : isMms ? "mms_message" : "sms_segment",
      status: billable ? "charged" : "non_billable_internal",
      quantity,
      unit_price_micros: billable ? Math.round(amount / quantity) : 0,
      amount_micros: amount,
      lead_id: event.lead_id,
      phone_number_id: event.from_phone_number_id,
      phone_number: event.from_phone_number,
      created_at: at,
    },
    changes: billable
      ? { billing_status: "Billed", billable_micros: amount }
      : { billing_status: "NotBilled" },
  };
}
