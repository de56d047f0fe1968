import { type Kysely, PostgresAdapter, sql, type Transaction } from "kysely";
import { creationEntry } from "../store/events-repo.js";
import type { Database, EventRow } from "../store/schema.js";

type Db = Kysely<Database> | Transaction<Database>;

// Every change to an event's status goes through here: the row update (guarded by the status the
// caller saw, so two writers cannot both apply a transition) and the entry in its transition log.

export interface TransitionLog {
  stage: string;
  message: string;
}

/**
 * Applies `changes` to the event if its status is still `expectedStatus`; logs the transition.
 * Returns the updated row, or undefined when another writer moved the event first.
 */
export async function transition(
  db: Db,
  event: EventRow,
  changes: Partial<EventRow>,
  log: TransitionLog,
  at: number,
): Promise<EventRow | undefined> {
  const updated = await db
    .updateTable("events")
    .set({ ...changes, modified_at: at })
    .where("organization_id", "=", event.organization_id)
    .where("id", "=", event.id)
    .where((eb) => (event.status === null ? eb("status", "is", null) : eb("status", "=", event.status)))
    .where("retry_count", "=", event.retry_count)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return undefined;
  await appendLog(db, event, changes.status ?? event.status, true, log, at);
  return { ...event, ...changes, modified_at: at };
}

/** Logs a transition that was considered and not applied (a late or repeated receipt). */
/** Whether a provider receipt for `toStatus` reached the message (applied or not: see receipts.ts). */
export async function receiptLogged(db: Db, event: EventRow, toStatus: string): Promise<boolean> {
  const entry = await db
    .selectFrom("event_transitions")
    .select("seq")
    .where("organization_id", "=", event.organization_id)
    .where("event_id", "=", event.id)
    .where("stage", "=", "provider-receipt")
    .where("to_status", "=", toStatus)
    .limit(1)
    .executeTakeFirst();
  return entry !== undefined;
}

export async function logIgnored(
  db: Db,
  event: EventRow,
  toStatus: string | null,
  log: TransitionLog,
  at: number,
) {
  await appendLog(db, event, toStatus, false, log, at);
}

async function appendLog(
  db: Db,
  event: EventRow,
  toStatus: string | null,
  applied: boolean,
  log: TransitionLog,
  at: number,
): Promise<void> {
  // The creation entry is stored lazily, before the first change (see creationEntry): with no entry
  // yet, nothing has changed since creation, so the status being left is the creation status.
  // One statement writes it (when missing) and this entry, numbered 1 + the highest so far: the
  // event row's guarded update above serializes writers of one event, so numbers never race.
  // Casts give every parameter of the UNION a type PostgreSQL can check against the columns.
  const created = creationEntry(event);
  await sql`with last as (
      select coalesce(max(seq), 0) as seq from event_transitions
      where organization_id = ${event.organization_id} and event_id = ${event.id}
    )
    insert into event_transitions (organization_id, event_id, seq, at, from_status, to_status, applied, stage, message)
    select cast(${event.organization_id} as text), cast(${event.id} as text), 1, cast(${created.at} as bigint),
      cast(null as text), cast(${created.to_status} as text), 1, cast(${created.stage} as text), cast(${created.message} as text)
    from last where last.seq = 0
    union all
    select cast(${event.organization_id} as text), cast(${event.id} as text),
      case when last.seq = 0 then 2 else last.seq + 1 end, cast(${at} as bigint),
      cast(${event.status} as text), cast(${toStatus} as text), cast(${applied ? 1 : 0} as integer),
      cast(${log.stage} as text), cast(${log.message} as text)
    from last`.execute(db);
}

export async function loadEvent(db: Db, organizationId: string, id: string): Promise<EventRow | undefined> {
  return db
    .selectFrom("events")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .executeTakeFirst();
}

/** How a caller names one event: by our id, or by the provider's message id (a receipt's). */
export type EventKey = { organizationId: string; id: string } | { providerMessageId: string };

function eventByKey(db: Db, where: EventKey) {
  const query = db.selectFrom("events").selectAll();
  return "providerMessageId" in where
    ? query.where("provider_message_id", "=", where.providerMessageId)
    : query.where("organization_id", "=", where.organizationId).where("id", "=", where.id);
}

/** The event `where` names, read without a lock. */
export function findEvent(db: Db, where: EventKey): Promise<EventRow | undefined> {
  return eventByKey(db, where).executeTakeFirst();
}

/**
 * Loads an event and, on PostgreSQL, locks its row until the transaction ends, so that everything
 * writing to one event (receipts, the worker's outcome) takes turns: its log numbers never collide.
 * SQLite has a single writer already.
 */
export async function lockEvent(db: Transaction<Database>, where: EventKey): Promise<EventRow | undefined> {
  let query = eventByKey(db, where);
  if (db.getExecutor().adapter instanceof PostgresAdapter) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** lockEvent for several events of one organization, in id order (so lockers never deadlock). */
export async function lockEvents(
  db: Transaction<Database>,
  organizationId: string,
  ids: string[],
): Promise<EventRow[]> {
  let query = db
    .selectFrom("events")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "in", ids)
    .orderBy("id");
  if (db.getExecutor().adapter instanceof PostgresAdapter) query = query.forUpdate();
  return query.execute();
}
