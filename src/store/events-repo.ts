import { type Kysely, PostgresAdapter, type Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import { lockForTransaction, recipientLockKey } from "./locks.js";
import type { Database, EventRow, EventTransitionsTable } from "./schema.js";

/** What a caller supplies to write an event; everything else takes the record's neutral default. */
export type NewEvent = Pick<
  EventRow,
  "organization_id" | "event_type" | "activity_type" | "activity_category" | "description" | "created_by"
> &
  Partial<EventRow>;

export function newEventRow(input: NewEvent, now: number = Date.now()): EventRow {
  return {
    id: input.id ?? newId("evt", now),
    event_category: null,
    conversation_id: null,
    lead_id: null,
    related_entity_type: null,
    related_entity_id: null,
    summary: null,
    direction: null,
    status: null,
    status_reason: null,
    is_warmup: 0,
    traffic_type: null,
    from_phone_number_id: null,
    outbound_phone_number_id: null,
    from_phone_number: null,
    to_phone_number: null,
    telnyx_id: null,
    provider_message_id: null,
    selection_reason: null,
    was_manually_overridden: 0,
    campaign_id: null,
    source_id: null,
    ten_dlc_campaign_id: null,
    compliance_action: null,
    billing_status: null,
    billable_micros: null,
    error_code: null,
    retry_count: 0,
    queued_at: null,
    sending_started_at: null,
    sent_at: null,
    delivered_at: null,
    received_at: null,
    failed_at: null,
    undeliverable_at: null,
    blocked_at: null,
    next_retry_at: null,
    scheduled_for: null,
    scheduled_reason: null,
    requested_scheduled_for: null,
    canceled_at: null,
    cancel_reason: null,
    receipt_lookups: 0,
    receipt_lookup_after: null,
    operator_wait_since: null,
    media: null,
    modified_at: null,
    body: null,
    segments: null,
    encoding: null,
    price_micros: null,
    next_attempt_at: null,
    idempotency_key: null,
    provider: null,
    error_message: null,
    outbound_source: null,
    ...input,
    created_at: input.created_at ?? now,
  };
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * The first entry of every event's transition log: its creation. It is not stored when the event is
 * written (most events never change, and the row already says everything the entry would); it is
 * stored just before the event's first change, when the status being left is still the creation
 * status, and derived from the row until then.
 */
export function creationEntry(row: EventRow): EventTransitionsTable {
  return {
    organization_id: row.organization_id,
    event_id: row.id,
    seq: 1,
    at: row.created_at,
    from_status: null,
    to_status: row.status,
    applied: 1,
    stage: "created",
    message: `${row.activity_type} event created${row.status ? ` as ${row.status}` : ""}.`,
  };
}

/** Inserts events in multi-row statements, in the caller's transaction. */
export async function insertEvents(db: Db, rows: EventRow[]): Promise<void> {
  // ~60 columns a row: 100 rows stay far below both engines' parameter limits.
  for (let start = 0; start < rows.length; start += 100) {
    await db
      .insertInto("events")
      .values(rows.slice(start, start + 100))
      .execute();
  }
}

/** Inserts an event, in the caller's transaction. */
export async function insertEvent(db: Db, row: EventRow): Promise<EventRow> {
  await db.insertInto("events").values(row).execute();
  return row;
}

/** The ordered transition logs of some events of one organization (creation entry included). */
export async function getTransitions(
  db: Db,
  organizationId: string,
  events: EventRow[],
): Promise<Map<string, EventTransitionsTable[]>> {
  const logs = new Map<string, EventTransitionsTable[]>();
  if (events.length === 0) return logs;
  const rows = await db
    .selectFrom("event_transitions")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where(
      "event_id",
      "in",
      events.map((e) => e.id),
    )
    .orderBy("event_id")
    .orderBy("seq")
    .execute();
  for (const row of rows) logs.set(row.event_id, [...(logs.get(row.event_id) ?? []), row]);
  for (const event of events) if (!logs.has(event.id)) logs.set(event.id, [creationEntry(event)]);
  return logs;
}

/**
 * Every column of `events`, in a fixed order: the order of GET-by-id's positional reads
 * (event-by-id-reader.ts) and of bench-seed's rows.
 */
export const EVENT_COLUMNS = Object.keys(
  newEventRow({
    organization_id: "",
    event_type: "",
    activity_type: "Note",
    activity_category: "",
    description: "",
    created_by: "",
  }),
) as (keyof EventRow)[];

/**
 * An EventRow from a positional result row (columns in EVENT_COLUMNS order). Both drivers build a
 * result object one property at a time, which for this 60-column row costs more than the primary-key
 * lookup itself; an object literal of one fixed shape, compiled once from the column names (our own
 * constants, never input), costs a fraction of that. Used by GET by id and by the event lists.
 */
export const eventRowFromArray = new Function(
  "a",
  `return { ${EVENT_COLUMNS.map((name, i) => `${name}: a[${i}]`).join(", ")} };`,
) as (values: unknown[]) => EventRow;

/**
 * On PostgreSQL, locks an organization's outbound messages to a recipient, to a lead or from a
 * sender number that no worker has handed to a provider yet (Queued, Scheduled), until the caller's
 * transaction ends. A worker's claim holds the messages it gates from before it reads suppressions,
 * leads and senders until they are Sending: a suppression, a lead's new phone or a sender turned off
 * committed in between was answered, and the message still went out. A writer that takes this lock
 * first waits for such a claim (the messages were handed over before its change); a claim that comes
 * later skips the messages held here and reads the change when it runs again. SQLite has one writer.
 */
export async function lockMessagesNotHandedOver(
  db: Db,
  organizationId: string,
  which:
    | { toPhoneNumber: string }
    | { leadId: string; orToPhoneNumber?: string | null }
    | { fromPhoneNumberId: string },
): Promise<void> {
  if (!db.isTransaction || !(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  let query = db
    .selectFrom("events")
    .select("id")
    .where("organization_id", "=", organizationId)
    .where("direction", "=", "outbound")
    .where("status", "in", ["Queued", "Scheduled"])
    // Every such message is due some time: events_due finds the few of them (a sender has no index).
    .where("next_attempt_at", "is not", null);
  query =
    "leadId" in which
      ? // One statement, so that its locks are taken in id order like any other's.
        which.orToPhoneNumber
        ? query.where((eb) =>
            eb.or([eb("lead_id", "=", which.leadId), eb("to_phone_number", "=", which.orToPhoneNumber!)]),
          )
        : query.where("lead_id", "=", which.leadId)
      : "toPhoneNumber" in which
        ? query.where("to_phone_number", "=", which.toPhoneNumber)
        : query.where("from_phone_number_id", "=", which.fromPhoneNumberId);
  await query.orderBy("id").forUpdate().execute();
  // A message queued meanwhile is not among those locked: the gate waits on the recipient instead
  // (gate-facts.ts), taken after the messages so that a claim holding one never waits on this.
  const recipient =
    "toPhoneNumber" in which ? which.toPhoneNumber : "leadId" in which ? which.orToPhoneNumber : null;
  if (recipient)
    await lockForTransaction(db as Transaction<Database>, recipientLockKey(organizationId, recipient));
}
