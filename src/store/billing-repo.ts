import { type Kysely, sql, type Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import { MAX_WALLET_MICROS, microsToUsd } from "../domain/money.js";
import { transactKnowingCommit } from "./commit-outcome.js";
import type { ListSpec } from "./list-query.js";
import type { Database, UsageLedgerTable, WalletsTable } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

// Wallets hold integer micro-dollars; every charge is a usage-ledger line keyed by its event, so a
// message is charged at most once however many times its "sent" is observed. The ledger is
// append-only: a refund is a line of its own, the charge negated, and the charge line stays as it was.

/** The wallet a new organization starts with unless told otherwise: 10 USD. */
export const DEFAULT_STARTING_CREDIT_MICROS = 10_000_000;

// The wire vocabularies of the usage ledger (Leadping's UsageChannel, BillableUnit, UsageStatus).
export const USAGE_CHANNELS = [
  "lead",
  "sms",
  "mms",
  "email",
  "voice",
  "phone_number",
  "warmup",
  "website",
  "openai",
  "domain",
  "10dlc",
  "payment",
  "connection",
  "automation",
] as const;

export const BILLABLE_UNITS = [
  "lead_received",
  "phone_identity_lookup",
  "sms_segment",
  "mms_message",
  "email_message",
  "voice_minute",
  "phone_number_month",
  "warmup_sms_segment",
  "warmup_voice_minute",
  "website_setup",
  "openai_operation",
  "domain_registration",
  "10dlc_application",
  "10dlc_campaign_month",
  "payment_processing_fee",
  "connection_action",
  "automation_run",
] as const;

export const USAGE_STATUSES = [
  "recorded",
  "rated",
  "pending_invoice",
  "invoiced",
  "charged",
  "failed",
  "refunded_credited",
  "non_billable_internal",
  "blocked_due_to_billing",
] as const;

/** Statuses whose quantity counts as billable usage (the others are free, failed or reversed). */
export const BILLABLE_USAGE_STATUSES: readonly string[] = [
  "recorded",
  "rated",
  "pending_invoice",
  "invoiced",
  "charged",
];

/**
 * The status of a refund line: its charge negated (quantity and amount below zero), so that the
 * billable lines and the refunds together add up to what was charged, net.
 */
export const REFUND_STATUS = "refunded_credited";

/** Statuses whose lines add up to the net usage charged: the billable ones and their refunds. */
export const NET_USAGE_STATUSES: readonly string[] = [...BILLABLE_USAGE_STATUSES, REFUND_STATUS];

export const USAGE_LIST_SPEC: ListSpec = {
  resource: "usage",
  table: "usage_ledger",
  fields: {
    id: { column: "id", kind: "string", order: true, filter: true },
    createdAt: { column: "created_at", kind: "timestamp", order: true, range: true },
    channel: { column: "channel", kind: "string", filter: true, values: USAGE_CHANNELS },
    status: { column: "status", kind: "string", filter: true, values: USAGE_STATUSES },
    billableUnit: { column: "billable_unit", kind: "string", filter: true, values: BILLABLE_UNITS },
    phoneNumberId: { column: "phone_number_id", kind: "string", filter: true },
    phoneNumber: { column: "phone_number", kind: "string", filter: true, search: true },
    leadId: { column: "lead_id", kind: "string", filter: true },
    eventId: { column: "event_id", kind: "string", filter: true },
  },
  defaultOrder: { field: "createdAt", direction: "desc" },
  tieBreakers: ["id"],
};

/** The recipient of each billed message, by event id (ids without an event are left out). */
export async function recipientsByEventId(
  db: Db,
  organizationId: string,
  eventIds: string[],
): Promise<Map<string, string | null>> {
  if (eventIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("events")
    .select(["id", "to_phone_number"])
    .where("organization_id", "=", organizationId)
    .where("id", "in", [...new Set(eventIds)])
    .execute();
  return new Map(rows.map((r) => [r.id, r.to_phone_number]));
}

/** Creates the organization's wallet with `startingMicros` of credit; a no-op when it already has one. */
export async function createWallet(
  db: Db,
  organizationId: string,
  startingMicros: number,
  now = Date.now(),
): Promise<void> {
  await db
    .insertInto("wallets")
    .values({
      organization_id: organizationId,
      id: newId("wal", now),
      balance_micros: startingMicros,
      purchased_micros: startingMicros,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column("organization_id").doNothing())
    .execute();
}

export async function getWallet(db: Db, organizationId: string): Promise<WalletsTable | undefined> {
  return db
    .selectFrom("wallets")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .executeTakeFirst();
}

/**
 * The organization's wallet, created empty (balance 0) when it has none: organizations created
 * before wallets existed have no row, and for them "no wallet" means "no credit".
 */
export async function getOrCreateWallet(
  db: Db,
  organizationId: string,
  now = Date.now(),
): Promise<WalletsTable> {
  const wallet = await getWallet(db, organizationId);
  if (wallet) return wallet;
  await createWallet(db, organizationId, 0, now);
  const created = await getWallet(db, organizationId);
  if (!created) throw new Error(`could not create the wallet of ${organizationId}`);
  return created;
}

/**
 * Adds credit to an organization's wallet, creating the wallet (empty) first when the organization
 * has none, in one transaction. Undefined when there is no such organization.
 */
export async function addCredit(
  db: Kysely<Database>,
  organizationId: string,
  micros: number,
  now = Date.now(),
): Promise<WalletsTable | undefined> {
  if (!Number.isSafeInteger(micros) || micros < 0) throw new Error("credit must be a non-negative amount");
  return transactKnowingCommit(db, async (trx) => {
    const org = await trx
      .selectFrom("organizations")
      .select("id")
      .where("id", "=", organizationId)
      .executeTakeFirst();
    if (!org) return undefined;
    await createWallet(trx, organizationId, 0, now);
    // The cap is checked in the UPDATE itself: a read-then-write would let two concurrent credits
    // on PostgreSQL each see the old balance and together pass the cap.
    const updated = await trx
      .updateTable("wallets")
      .set({
        balance_micros: sql`balance_micros + ${micros}`,
        purchased_micros: sql`purchased_micros + ${micros}`,
        updated_at: walletChangedAt(now),
      })
      .where("organization_id", "=", organizationId)
      .where(sql<boolean>`balance_micros + ${micros} <= ${MAX_WALLET_MICROS}`)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) {
      const balance = (await getWallet(trx, organizationId))?.balance_micros ?? 0;
      throw new Error(
        `the balance would be ${microsToUsd(balance + micros)} USD; a wallet holds at most ${microsToUsd(MAX_WALLET_MICROS)} USD`,
      );
    }
    return getWallet(trx, organizationId);
  });
}

/** A line as a charge writes it: the first of its event's lines. */
export type UsageEntry = Omit<UsageLedgerTable, "id" | "event_entry">;

/** Inserts lines unless their (event, entry) is there already; answers the lines inserted. */
async function appendLines(db: Db, lines: UsageLedgerTable[]): Promise<Array<{ event_id: string | null }>> {
  return db
    .insertInto("usage_ledger")
    .values(lines)
    .onConflict((oc) =>
      oc
        .columns(["organization_id", "event_id", "event_entry"])
        .where("event_id", "is not", null)
        .doNothing(),
    )
    .returning("event_id")
    .execute();
}

const firstLine = (entry: UsageEntry): UsageLedgerTable => ({
  ...entry,
  id: newId("use", entry.created_at),
  event_entry: 0,
});

/**
 * Records a usage line for an event and, when it has an amount, debits the wallet: both or neither,
 * and only the first time for that event. Returns whether this call did it. Outside a transaction it
 * opens one, so the line and the debit commit together; concurrent calls for one event serialize on
 * the ledger's unique (organization_id, event_id, event_entry) index and all but one insert nothing.
 */
export async function chargeOnce(db: Db, entry: UsageEntry): Promise<boolean> {
  if (!db.isTransaction) return transactKnowingCommit(db, (trx) => chargeOnce(trx, entry));
  if ((await appendLines(db, [firstLine(entry)])).length === 0) {
    // A message charged, refunded on a failure receipt, and then shown sent after all (a receipt
    // that overtook the failure's): charged again, on a line after the refund.
    return (
      entry.event_id !== null &&
      reverseLastLine(db, entry.organization_id, entry.event_id, entry.created_at, REFUND_STATUS, "charged")
    );
  }
  await debitWallet(db, entry.organization_id, entry.amount_micros, entry.created_at);
  return true;
}

/**
 * chargeOnce for many events of one organization, in the caller's transaction: one ledger insert
 * and at most one wallet debit (the sum of the lines that were new). Answers the event ids charged.
 */
export async function chargeOnceMany(
  trx: Transaction<Database>,
  organizationId: string,
  entries: UsageEntry[],
  at: number,
): Promise<Set<string>> {
  if (entries.length === 0) return new Set();
  const inserted = await appendLines(trx, entries.map(firstLine));
  const charged = new Set(inserted.map((r) => r.event_id!));
  const total = entries.reduce((sum, e) => sum + (charged.has(e.event_id!) ? e.amount_micros : 0), 0);
  await debitWallet(trx, organizationId, total, at);
  return charged;
}

/**
 * A wallet's updated_at for a change at `at`: never back (another process's clock, or an event's own
 * time, may be behind the last change) and never its creation's millisecond, which the wire reads as
 * "never modified" (modifiedAt null).
 */
function walletChangedAt(at: number) {
  const time = sql<number>`cast(${at} as bigint)`;
  return sql<number>`case when ${time} > created_at and ${time} > updated_at then ${time}
    when updated_at > created_at then updated_at else created_at + 1 end`;
}

async function debitWallet(db: Db, organizationId: string, amountMicros: number, at: number): Promise<void> {
  if (amountMicros === 0) return;
  const debit = () =>
    db
      .updateTable("wallets")
      .set({ balance_micros: sql`balance_micros - ${amountMicros}`, updated_at: walletChangedAt(at) })
      .where("organization_id", "=", organizationId)
      .executeTakeFirst();
  if (Number((await debit()).numUpdatedRows) === 0) {
    // An organization from before wallets existed: its wallet starts at 0, so it owes the charge.
    await createWallet(db, organizationId, 0, at);
    await debit();
  }
}

/**
 * Reverses a message's charge: a refund line (the charge negated, refunded_credited) is appended
 * after it and the wallet gets the amount back, in the caller's transaction; the charge line stays
 * as it was. Answers whether there was a charge to reverse (its last line is a charge).
 * chargeOnce charges it again, on a further line, if the message proves sent after all.
 */
export async function refundCharge(
  trx: Transaction<Database>,
  organizationId: string,
  eventId: string,
  at: number,
): Promise<boolean> {
  return reverseLastLine(trx, organizationId, eventId, at, "charged", REFUND_STATUS);
}

/**
 * When an event's last line has status `from`, appends its reversal with status `to` (quantity and
 * amount negated) and debits the wallet by the new line's amount: a refund's negative debit gives
 * the charge back (no credit cap: the wallet held it a moment ago). Answers whether it did. Two
 * concurrent reversals of one line meet on the unique index: the second appends nothing.
 */
async function reverseLastLine(
  db: Db,
  organizationId: string,
  eventId: string,
  at: number,
  from: string,
  to: string,
): Promise<boolean> {
  const last = await db
    .selectFrom("usage_ledger")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("event_id", "=", eventId)
    .orderBy("event_entry", "desc")
    .limit(1)
    .executeTakeFirst();
  if (last?.status !== from) return false;
  const reversal: UsageLedgerTable = {
    ...last,
    id: newId("use", at),
    event_entry: last.event_entry + 1,
    status: to,
    quantity: -last.quantity,
    unit_price_micros: Number(last.unit_price_micros),
    amount_micros: -Number(last.amount_micros),
    created_at: at,
  };
  if ((await appendLines(db, [reversal])).length === 0) return false;
  await debitWallet(db, organizationId, reversal.amount_micros, at);
  return true;
}

export interface UsageSummaryGroup {
  channel: string;
  billableUnit: string;
  status: string;
  quantity: number;
  amountMicros: number;
  recordCount: number;
}

/** Usage lines of an organization created in [from, to), grouped by channel, billable unit and status. */
export async function summarizeUsage(
  db: Db,
  organizationId: string,
  from: number,
  to: number,
): Promise<UsageSummaryGroup[]> {
  const rows = await db
    .selectFrom("usage_ledger")
    .select((eb) => [
      "channel",
      "billable_unit",
      "status",
      eb.fn.sum<number | string>("quantity").as("quantity"),
      eb.fn.sum<number | string>("amount_micros").as("amount"),
      eb.fn.countAll<number | string>().as("n"),
    ])
    .where("organization_id", "=", organizationId)
    .where("created_at", ">=", from)
    .where("created_at", "<", to)
    .groupBy(["channel", "billable_unit", "status"])
    .orderBy("channel")
    .orderBy("billable_unit")
    .orderBy("status")
    .execute();
  // PostgreSQL sums BIGINT to NUMERIC, which pg returns as a string.
  return rows.map((r) => ({
    channel: r.channel,
    billableUnit: r.billable_unit,
    status: r.status,
    quantity: Number(r.quantity ?? 0),
    amountMicros: Number(r.amount ?? 0),
    recordCount: Number(r.n),
  }));
}
