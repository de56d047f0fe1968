import { PostgresAdapter, sql, type Transaction } from "kysely";
import type { Database } from "./schema.js";

/**
 * Serializes the transactions that take the same key, until each ends: on PostgreSQL a
 * transaction-scoped advisory lock on the key's hash. SQLite needs none: one process's transactions
 * already run one at a time, and a transaction of another process that read before this one wrote
 * fails to write (SQLITE_BUSY) rather than act on what it read.
 */
export async function lockForTransaction(trx: Transaction<Database>, key: string): Promise<void> {
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
  }
}

/**
 * A shared hold on a key that lockForTransaction takes exclusively: holders of the shared lock run
 * side by side, and wait for (or hold off) an exclusive holder until their transactions end.
 */
export async function shareLockForTransaction(trx: Transaction<Database>, key: string): Promise<void> {
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`select pg_advisory_xact_lock_shared(hashtextextended(${key}, 0))`.execute(trx);
  }
}

/**
 * The key a write that suppresses a recipient (a suppression, a STOP, a lead's opt-out) holds
 * exclusively and the gate holds shared: a message queued while that write is under way is not among
 * the messages it locks, so the gate must wait for it to end before it reads what it decides on.
 */
export function recipientLockKey(organizationId: string, phoneNumber: string): string {
  return `recipient:${organizationId}:${phoneNumber}`;
}

/** shareLockForTransaction for many keys in one statement, in a fixed order. */
export async function shareLocksForTransaction(trx: Transaction<Database>, keys: string[]): Promise<void> {
  if (keys.length === 0 || !(trx.getExecutor().adapter instanceof PostgresAdapter)) return;
  const sorted = [...new Set(keys)].sort();
  await sql`select pg_advisory_xact_lock_shared(hashtextextended(k, 0))
    from unnest(${sorted}::text[]) with ordinality as t(k, n) order by n`.execute(trx);
}
