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
