import type { Kysely, Transaction } from "kysely";
import { countSegments } from "../domain/sms-segments.js";
import { chargeOnce } from "../store/billing-repo.js";
import type { Database, EventRow } from "../store/schema.js";

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
  const billable = isBillableTraffic(event.traffic_type);
  const isMms = event.activity_type === "Mms";
  const amount = billable ? (event.price_micros ?? 0) : 0;
  const quantity = isMms ? 1 : (event.segments ?? 1);
  await chargeOnce(db, {
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
  });
  return billable ? { billing_status: "Billed", billable_micros: amount } : { billing_status: "NotBilled" };
}
