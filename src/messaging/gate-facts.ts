import { sql, type Transaction } from "kysely";
import { recipientZones } from "../domain/number-geo.js";
import { leadDocument } from "../services/leads.js";
import { getLeadsByIdsOrPhones } from "../store/leads-repo.js";
import { lockForTransaction, recipientLockKey, shareLocksForTransaction } from "../store/locks.js";
import { getPhoneNumbersByIds } from "../store/phone-numbers-repo.js";
import type { Database, EventRow, PhoneNumberRow } from "../store/schema.js";
import { suppressedAmong } from "../store/suppressions-repo.js";
import { REPLIES } from "./inbound.js";

// What the compliance gate needs to know about a batch of claimed messages, read in the claim
// transaction with a few queries per organization instead of a few per message (on PostgreSQL each
// query is a round trip, and the batch holds its row locks meanwhile). Nothing the gate writes
// changes these facts, so reading them once for the batch answers as reading them per message would.

/**
 * Our own confirmations (a STOP's must reach the number that just opted out) skip suppression, and
 * so do HELP's answers. A START's "resubscribed" does not: when a STOP came before it went out, it
 * would tell the person messages resume, after their opt-out. Warmup does not either: an
 * organization can register any number as its own, so a warmup partner may be a person, whose STOP
 * must hold.
 */
export function skipsSuppression(row: EventRow): boolean {
  return row.traffic_type === "SystemInternal" && row.body !== REPLIES["opt-in"];
}

/**
 * Confirmations answer at once, whatever the hour. Warmup is held to quiet hours by its scheduler,
 * which starts no exchange while either number is in them (messaging/warmup.ts); deferring it here
 * instead would bunch a night's exchanges into the morning.
 */
export function skipsQuietHours(row: EventRow): boolean {
  return row.traffic_type === "SystemInternal" || row.traffic_type === "Warmup";
}

export interface GateFacts {
  /** The recipient's time zones, for each message the quiet-hours rule applies to. */
  zones: Map<string, string[]>;
  /**
   * Ids of the messages whose recipient is suppressed, or whose lead is recorded as opted out of SMS
   * (confirmations never: see skipsSuppression).
   */
  suppressed: Set<string>;
  /**
   * Ids of the messages to a lead whose phone is no longer the message's recipient: changed or
   * removed after the message was queued (a scheduled one, most often). The number may be someone
   * else's by now.
   */
  recipientChanged: Set<string>;
  /** Sender numbers by id (missing: removed). */
  senders: Map<string, PhoneNumberRow>;
  /**
   * What each organization can still spend (micro-dollars): its wallet balance less the price of its
   * messages already handed to a provider and not yet billed. The gate lowers it by each message it
   * passes, so one batch, or batches of several workers (serialized per organization, see
   * readGateFacts), cannot spend more than the wallet holds.
   */
  balances: Map<string, number>;
}

function groupByOrganization(rows: EventRow[]): Map<string, EventRow[]> {
  const groups = new Map<string, EventRow[]>();
  for (const row of rows) {
    const group = groups.get(row.organization_id) ?? [];
    group.push(row);
    groups.set(row.organization_id, group);
  }
  return groups;
}

/**
 * What each organization can spend: its wallet balance less the price of its billable messages in
 * Sending that are not billed yet (billing happens when the provider accepts, so they are spent as
 * far as the wallet check is concerned).
 *
 * Both come from one statement. Under PostgreSQL's READ COMMITTED every statement reads its own
 * snapshot, and billing does not take the spend lock: a charge that committed between a read of the
 * messages in flight and a later read of the wallet was subtracted twice (once from the balance,
 * once as in flight), and a message the wallet could pay for was Blocked InsufficientFunds.
 *
 * A Sending message carries its reconcile deadline, still ahead, in next_attempt_at, so the only
 * condition an index can serve is that range: events_due finds the few future entries. (Filtering
 * by organization there made SQLite walk the organization's whole primary key instead, once per
 * claimed batch; summing here rather than with GROUP BY avoids the same walk.) Past its deadline a
 * message is about to be reconciled, and is not counted.
 */
async function spendableBalances(
  trx: Transaction<Database>,
  organizationIds: string[],
  now: number,
): Promise<Map<string, number>> {
  const inFlight = trx
    .selectFrom("events")
    .select(["organization_id", "price_micros as micros", sql<number>`0`.as("is_balance")])
    .where("next_attempt_at", ">", now)
    .where("status", "=", "Sending")
    .where((eb) => eb.or([eb("billing_status", "is", null), eb("billing_status", "<>", "Billed")]))
    .where((eb) => eb.or([eb("traffic_type", "is", null), eb("traffic_type", "=", "RealLead")]))
    .where("is_warmup", "=", 0);
  const rows = await inFlight
    .unionAll(
      trx
        .selectFrom("wallets")
        .select(["organization_id", "balance_micros as micros", sql<number>`1`.as("is_balance")])
        .where("organization_id", "in", organizationIds),
    )
    .execute();
  // An organization without a wallet (created before wallets existed) has no credit.
  const spendable = new Map<string, number>(organizationIds.map((id) => [id, 0]));
  for (const row of rows) {
    const current = spendable.get(row.organization_id);
    if (current === undefined) continue; // in flight for an organization this batch does not gate
    const micros = Number(row.micros ?? 0);
    spendable.set(row.organization_id, Number(row.is_balance) === 1 ? current + micros : current - micros);
  }
  return spendable;
}

export async function readGateFacts(
  trx: Transaction<Database>,
  claimed: EventRow[],
  now: number,
): Promise<GateFacts> {
  const facts: GateFacts = {
    zones: new Map(),
    suppressed: new Set(),
    recipientChanged: new Set(),
    senders: new Map(),
    balances: new Map(),
  };
  const gated = claimed.filter(
    (r) => (r.status === "Queued" || r.status === "Scheduled") && r.to_phone_number,
  );
  const byOrganization = groupByOrganization(gated);
  // Workers in other processes gate the same organization's messages one batch at a time: under
  // PostgreSQL's READ COMMITTED, a batch that read the wallet and the messages in flight before
  // another batch's move to Sending committed would spend the same balance twice. The lock is held
  // until this claim transaction commits its own moves; ordered by id, so two workers never deadlock.
  for (const organizationId of [...byOrganization.keys()].sort()) {
    await lockForTransaction(trx, `spend:${organizationId}`);
  }
  // A suppression, STOP or opt-out of a recipient under way when its message was queued did not lock
  // that message: wait for it to end, so that what is read below includes it.
  await shareLocksForTransaction(
    trx,
    gated
      .filter((r) => !skipsSuppression(r))
      .map((r) => recipientLockKey(r.organization_id, r.to_phone_number!)),
  );
  if (gated.length > 0) facts.balances = await spendableBalances(trx, [...byOrganization.keys()], now);
  for (const [organizationId, rows] of byOrganization) {
    const quietHoursRules = rows.filter((r) => !skipsQuietHours(r));
    const suppressionRules = rows.filter((r) => !skipsSuppression(r));
    const leadIds = [
      ...new Set([...quietHoursRules, ...suppressionRules].flatMap((r) => (r.lead_id ? [r.lead_id] : []))),
    ];
    const senderIds = rows.flatMap((r) => (r.from_phone_number_id ? [r.from_phone_number_id] : []));
    const recipients = suppressionRules.map((r) => r.to_phone_number!);
    // The messages' leads and every lead at their recipients' phones (whose opt-out record holds for
    // the person), in one statement; each document parsed once, as both rules read most of them.
    const found = await getLeadsByIdsOrPhones(trx, organizationId, leadIds, recipients);
    const suppressed = await suppressedAmong(trx, organizationId, "sms", recipients);
    const senders = await getPhoneNumbersByIds(trx, organizationId, senderIds);
    const leads = new Map(found.map((lead) => [lead.id, lead]));
    const documents = new Map(found.map((lead) => [lead.id, leadDocument(lead)]));
    const optedOutPhones = new Set(
      found.flatMap((lead) =>
        lead.phone !== null && documents.get(lead.id)!.metadata.smsOptedOut === true ? [lead.phone] : [],
      ),
    );
    for (const row of quietHoursRules) {
      const lead = row.lead_id ? leads.get(row.lead_id) : undefined;
      if (lead && lead.phone !== row.to_phone_number) facts.recipientChanged.add(row.id);
      const contact = row.lead_id ? documents.get(row.lead_id)?.contact : undefined;
      const tz = contact?.timeZoneId;
      facts.zones.set(
        row.id,
        recipientZones(
          typeof tz === "string" ? tz : null,
          row.to_phone_number!,
          contact?.streetAddress ?? null,
        ),
      );
    }
    for (const row of suppressionRules) {
      if (suppressed.has(row.to_phone_number!)) facts.suppressed.add(row.id);
      // The client's own record that the lead opted out of SMS (LeadRequest metadata.smsOptedOut,
      // from its CRM or the lead's vendor) holds like an entry of the suppression list: for the
      // person, so under any lead at that phone (a vendor's repeat delivery is a lead of its own).
      const document = row.lead_id ? documents.get(row.lead_id) : undefined;
      if (document?.metadata.smsOptedOut === true || optedOutPhones.has(row.to_phone_number!))
        facts.suppressed.add(row.id);
    }
    for (const [id, sender] of senders) facts.senders.set(id, sender);
  }
  return facts;
}
