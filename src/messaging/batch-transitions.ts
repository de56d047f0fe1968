import { sql, type Transaction } from "kysely";
import { creationEntry } from "../store/events-repo.js";
import type { Database, EventRow, EventTransitionsTable } from "../store/schema.js";
import type { TransitionLog } from "./transitions.js";

// The same transition applied to many events in two statements instead of two per event: one
// guarded UPDATE … FROM (VALUES …) and one multi-row INSERT into the transition log. On PostgreSQL
// every statement is a round trip; a worker batch of 100 messages moving to Sending was 200 of them
// inside the claim transaction, which holds the claimed rows' locks all along.
//
// Same rules as transition() in transitions.ts: a row changes only if its status and retry count
// are still what the caller read (and locked), and every applied change gets its log entry.

/** SQL types of the per-event columns (PostgreSQL needs them: VALUES parameters have no type). */
export type ColumnType = "text" | "bigint" | "integer";

export interface BatchItem {
  event: EventRow;
  /** This event's changes: the same as a one-by-one transition() would apply. */
  changes: Partial<EventRow>;
  log: TransitionLog;
}

export interface Batch {
  /**
   * The columns whose value may differ per event, with their SQL types. Every other change must be
   * the same for every item: it is sent once.
   */
  perEvent: Partial<Record<keyof EventRow, ColumnType>>;
  items: BatchItem[];
  at: number;
}

/** Parameters per statement stay far below SQLite's 32,766 and PostgreSQL's 65,535. */
const CHUNK = 200;

/** Applies a batch; answers the updated rows of the events whose guard still held. */
export async function transitionBatch(trx: Transaction<Database>, batch: Batch): Promise<EventRow[]> {
  if (batch.items.length === 0) return [];
  const shared = sharedChanges(batch);
  const updated: EventRow[] = [];
  const logs: LogEntry[] = [];
  for (let start = 0; start < batch.items.length; start += CHUNK) {
    const items = batch.items.slice(start, start + CHUNK);
    const applied = await updateChunk(trx, batch, shared, items);
    for (const { event, changes, log } of items) {
      if (!applied.has(event.id)) continue;
      updated.push({ ...event, ...changes, modified_at: batch.at });
      logs.push({ event, toStatus: changes.status ?? event.status, log, at: batch.at });
    }
  }
  await appendLogs(trx, logs);
  return updated;
}

/**
 * The changes outside `perEvent`, which every item must share, as every item must set each
 * per-event column (a caller's bug otherwise: the batch would write something else than
 * transition() would).
 */
function sharedChanges(batch: Batch): Partial<EventRow> {
  const perEvent = Object.keys(batch.perEvent);
  const first = batch.items[0]!.changes;
  const columns = Object.keys(first).filter((c) => !perEvent.includes(c)) as (keyof EventRow)[];
  for (const { changes } of batch.items) {
    const keys = Object.keys(changes);
    const same =
      keys.length === columns.length + perEvent.length &&
      perEvent.every((c) => keys.includes(c)) &&
      columns.every((c) => keys.includes(c) && changes[c] === first[c]);
    if (!same) throw new Error("transitionBatch: items differ outside their per-event columns");
  }
  return Object.fromEntries(columns.map((c) => [c, first[c]])) as Partial<EventRow>;
}

async function updateChunk(
  trx: Transaction<Database>,
  batch: Batch,
  shared: Partial<EventRow>,
  items: BatchItem[],
): Promise<Set<string>> {
  const columns = Object.keys(batch.perEvent) as (keyof EventRow)[];
  const rows = items.map(
    ({ event, changes }) =>
      sql`(${sql.join([
        sql`cast(${event.organization_id} as text)`,
        sql`cast(${event.id} as text)`,
        sql`cast(${event.status} as text)`,
        sql`cast(${event.retry_count} as integer)`,
        ...columns.map((c) => sql`cast(${changes[c] ?? null} as ${sql.raw(batch.perEvent[c]!)})`),
      ])})`,
  );
  const names = ["v_org", "v_id", "v_status", "v_retry", ...columns.map((_, i) => `v_${i}`)];
  const sets = [
    ...Object.entries(shared).map(([column, value]) => sql`${sql.id(column)} = ${value}`),
    ...columns.map((column, i) => sql`${sql.id(column)} = ${sql.ref(`v.v_${i}`)}`),
    sql`modified_at = ${batch.at}`,
  ];
  const result = await sql<{
    id: string;
  }>`with v(${sql.join(names.map((n) => sql.id(n)))}) as (values ${sql.join(rows)})
    update events set ${sql.join(sets)}
    from v
    where events.organization_id = v.v_org and events.id = v.v_id
      and events.status = v.v_status and events.retry_count = v.v_retry
    returning events.id`.execute(trx);
  return new Set(result.rows.map((r) => r.id));
}

export interface LogEntry {
  event: EventRow;
  toStatus: string | null;
  applied?: boolean;
  log: TransitionLog;
  at: number;
}

/**
 * Appends log entries in one read and one insert per organization and chunk. The events must be
 * locked by the caller (as transition() requires), so the numbers read here cannot race.
 */
export async function appendLogs(trx: Transaction<Database>, entries: LogEntry[]): Promise<void> {
  for (const [organizationId, indexes] of indexesByOrganization(entries, (e) => e.event.organization_id)) {
    const all = indexes.map((i) => entries[i]!);
    for (let start = 0; start < all.length; start += CHUNK) {
      const chunk = all.slice(start, start + CHUNK);
      const ids = [...new Set(chunk.map((e) => e.event.id))];
      const last = await trx
        .selectFrom("event_transitions")
        .select((eb) => ["event_id", eb.fn.max("seq").as("seq")])
        .where("organization_id", "=", organizationId)
        .where("event_id", "in", ids)
        .groupBy("event_id")
        .execute();
      const seqs = new Map(last.map((r) => [r.event_id, Number(r.seq)]));
      const rows: EventTransitionsTable[] = [];
      for (const { event, toStatus, applied = true, log, at } of chunk) {
        let seq = seqs.get(event.id) ?? 0;
        // The creation entry is stored lazily, before the first change (see creationEntry).
        if (seq === 0) rows.push(creationEntry(event));
        seq = Math.max(seq, 1) + 1;
        seqs.set(event.id, seq);
        rows.push({
          organization_id: organizationId,
          event_id: event.id,
          seq,
          at,
          from_status: event.status,
          to_status: toStatus,
          applied: applied ? 1 : 0,
          stage: log.stage,
          message: log.message,
        });
      }
      await trx.insertInto("event_transitions").values(rows).execute();
    }
  }
}

/**
 * The indexes of `items` grouped by organization (batches lock, bill and log per organization);
 * items whose key is null are left out (they go one by one).
 */
export function indexesByOrganization<T>(items: T[], key: (item: T) => string | null): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const [i, item] of items.entries()) {
    const organizationId = key(item);
    if (organizationId === null) continue;
    const list = groups.get(organizationId);
    if (list) list.push(i);
    else groups.set(organizationId, [i]);
  }
  return groups;
}
