import { setTimeout as sleep } from "node:timers/promises";
import { CompiledQuery, type Kysely, PostgresAdapter, sql, type Transaction } from "kysely";
import { isDatabaseUnavailable } from "./errors.js";
import { TRANSACTION_ID_QUERY } from "./pg-held-begin.js";
import type { Database } from "./schema.js";

// A PostgreSQL connection that dies while COMMIT is in flight leaves its outcome unknown to us: the
// server may have committed before it noticed. Each transaction here learns its id as it begins
// (folded into BEGIN: see pg-held-begin.ts), and after such a failure another connection asks
// PostgreSQL what became of that id (pg_xact_status). SQLite runs in-process: a failed COMMIT there
// is a definite one, and its transactions go on as before.

/** How long to keep asking before the outcome counts as unknown. */
export const COMMIT_OUTCOME_WAIT_MS = 10_000;

/** The pause between questions: from this, doubling, up to MAX_PAUSE_MS. */
const FIRST_PAUSE_MS = 20;
const MAX_PAUSE_MS = 1_000;

export type CommitOutcome = "committed" | "aborted" | "unknown";

/**
 * PostgreSQL would not say, within the wait, whether a transaction whose COMMIT's answer was lost
 * committed. SQLSTATE 08007 (transaction_resolution_unknown) is of class 08, so the database counts
 * as unavailable (isDatabaseUnavailable: the API answers 503).
 */
export class CommitOutcomeUnknownError extends Error {
  readonly code = "08007";

  constructor(cause: unknown) {
    super("the connection to PostgreSQL was lost during COMMIT, and whether it committed is unknown", {
      cause,
    });
    this.name = "CommitOutcomeUnknownError";
  }
}

/** The current transaction's id (see TRANSACTION_ID_QUERY). */
async function transactionId(trx: Transaction<Database>): Promise<string> {
  const { rows } = await trx.executeQuery<{ xid: string }>(CompiledQuery.raw(TRANSACTION_ID_QUERY));
  return rows[0]!.xid;
}

/**
 * What became of transaction `xid`, asked on a pooled connection: again while PostgreSQL is
 * unreachable, and again while the transaction is 'in progress' (its backend has not yet noticed its
 * client left: it aborts then, unless the COMMIT reached it), for up to `waitMs`. Unknown when the
 * wait runs out, or when PostgreSQL answers anything else (null: too old to tell).
 */
export async function askCommitOutcome(
  db: Kysely<Database>,
  xid: string,
  waitMs: number,
): Promise<CommitOutcome> {
  const deadline = Date.now() + waitMs;
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
    const left = deadline - Date.now();
    if (left <= 0) return "unknown";
    const status = await withinMs(
      left,
      sql<{ status: string | null }>`select pg_xact_status(${xid}::xid8) as status`
        .execute(db)
        .then(({ rows }) => rows[0]?.status ?? null),
    ).catch((error: unknown) => (isDatabaseUnavailable(error) ? "unreachable" : null));
    if (status === "committed" || status === "aborted") return status;
    if (status !== "in progress" && status !== "unreachable" && status !== "timeout") return "unknown";
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
  }
}

/** `promise`, or "timeout" after `ms` (a question to a hung server must not outlast the wait). */
function withinMs<T>(ms: number, promise: Promise<T>): Promise<T | "timeout"> {
  const controller = new AbortController();
  return Promise.race([
    promise.finally(() => controller.abort()),
    sleep(ms, "timeout" as const, { signal: controller.signal }).catch(() => "timeout" as const),
  ]);
}

/**
 * Runs `work` in a transaction and answers what it returned, as db.transaction().execute does, except
 * on PostgreSQL when the connection fails after the work ran, i.e. at COMMIT: then PostgreSQL is
 * asked what became of the transaction. Committed: the work's result stands. Aborted: the failure is
 * thrown, as before. Unknown: CommitOutcomeUnknownError, never the work run again by a caller that
 * took the failure for a rollback (it may have committed: two SMS for one send).
 */
export async function transactKnowingCommit<T>(
  db: Kysely<Database>,
  work: (trx: Transaction<Database>) => Promise<T>,
  waitMs: number = COMMIT_OUTCOME_WAIT_MS,
): Promise<T> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return db.transaction().execute(work);
  const ran: { xid?: string; result?: { value: T } } = {};
  try {
    return await db.transaction().execute(async (trx) => {
      ran.xid = await transactionId(trx);
      const value = await work(trx);
      ran.result = { value };
      return value;
    });
  } catch (error) {
    if (ran.xid === undefined || ran.result === undefined || !isDatabaseUnavailable(error)) throw error;
    const outcome = await askCommitOutcome(db, ran.xid, waitMs);
    if (outcome === "committed") return ran.result.value;
    if (outcome === "aborted") throw error;
    throw new CommitOutcomeUnknownError(error);
  }
}
