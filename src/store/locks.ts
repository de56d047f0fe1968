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
