import type { Kysely, Transaction } from "kysely";
import {
  COMMIT_OUTCOME_WAIT_MS,
  CommitOutcomeUnknownError,
  transactKnowingCommit,
} from "./commit-outcome.js";
import { isTransientConflict } from "./errors.js";
import type { Database } from "./schema.js";

/** Runs `work` in a transaction and answers what it returned. */
export type Transact = <T>(work: (trx: Transaction<Database>) => Promise<T>) => Promise<T>;

/** How many times a unit of work is tried when PostgreSQL keeps choosing it as a deadlock's victim. */
const CONFLICT_ATTEMPTS = 3;

/**
 * Runs `work` in a transaction; when PostgreSQL aborts it to break a deadlock or a serialization
 * conflict, runs it again (CONFLICT_ATTEMPTS in all). Transactions of different processes that touch
 * the same rows in different orders (a webhook's receipts and a worker's outcomes, each a group of
 * several messages) can deadlock; the victim's work is rolled back whole, so running it again is
 * safe, and failing it instead would lose a provider outcome until reconciliation.
 *
 * A connection lost during COMMIT is looked into (transactKnowingCommit): committed, the work's
 * result is answered; not known, a CommitOutcomeUnknownError (503) rather than a plain connection
 * error, though the work may stand.
 */
export async function runTransaction<T>(
  db: Kysely<Database>,
  work: (trx: Transaction<Database>) => Promise<T>,
  commitOutcomeWaitMs: number = COMMIT_OUTCOME_WAIT_MS,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transactKnowingCommit(db, work, commitOutcomeWaitMs);
    } catch (error) {
      if (attempt >= CONFLICT_ATTEMPTS || !isTransientConflict(error)) throw error;
    }
  }
}

/** One transaction per unit of work: the plain way. */
export function plainTransact(db: Kysely<Database>): Transact {
  return (work) => runTransaction(db, work);
}

interface Unit {
  work: (trx: Transaction<Database>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: units of work submitted in the same turn of the event loop (the outcomes of a batch
 * of provider calls, receipts arriving together, concurrent API writes) run one after another in
 * a single transaction. On SQLite a commit is most of the cost of a small write (WAL frames, and a
 * checkpoint every thousand pages), so sharing one lifts throughput several times; a unit's caller
 * still hears back only once its changes are committed.
 *
 * Units must only touch the database inside `work` (they may be run more than once). If any unit
 * throws, the shared transaction rolls back and every unit of the group is run again in a
 * transaction of its own (runTransaction), so one bad unit fails alone and the others still commit.
 * Not when the connection was lost during the group's COMMIT (see transactKnowingCommit): committed,
 * every unit gets its result; aborted, each is run again alone; unknown, each is rejected.
 */
export class GroupCommit {
  private pending: Unit[] = [];
  private flushing = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly maxUnits = 100,
    private readonly commitOutcomeWaitMs = COMMIT_OUTCOME_WAIT_MS,
  ) {}

  readonly transact: Transact = <T>(work: (trx: Transaction<Database>) => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.pending.splice(0, this.maxUnits);
        if (group.length === 1) await this.runAlone(group[0]!);
        else await this.runGroup(group);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async runGroup(group: Unit[]): Promise<void> {
    let results: unknown[];
    try {
      results = await transactKnowingCommit(
        this.db,
        async (trx) => {
          const out: unknown[] = [];
          for (const unit of group) out.push(await unit.work(trx));
          return out;
        },
        this.commitOutcomeWaitMs,
      );
    } catch (error) {
      // The group may have committed: run again, each unit could do its work twice (two messages
      // queued, and sent, for one POST /sms/send). Each fails as the database unavailable instead.
      if (error instanceof CommitOutcomeUnknownError) {
        for (const unit of group) unit.reject(error);
        return;
      }
      for (const unit of group) await this.runAlone(unit);
      return;
    }
    for (const [i, unit] of group.entries()) unit.resolve(results[i]);
  }

  private async runAlone(unit: Unit): Promise<void> {
    try {
      unit.resolve(await runTransaction(this.db, unit.work, this.commitOutcomeWaitMs));
    } catch (error) {
      unit.reject(error);
    }
  }
}
