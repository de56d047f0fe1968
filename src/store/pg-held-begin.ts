import type pg from "pg";

/**
 * The transaction's id, as text (an xid8): what pg_xact_status asks about once a COMMIT's answer is
 * lost (see commit-outcome.ts). Asking assigns the transaction an id if it had none yet.
 */
export const TRANSACTION_ID_QUERY = "select pg_current_xact_id()::text as xid";

type RunQuery = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

/** What PostgreSQL answers a BEGIN, given at once for a BEGIN held back. */
const BEGUN: pg.QueryResult = { command: "BEGIN", rowCount: null, oid: 0, rows: [], fields: [] };

/**
 * One checked-out connection's BEGIN, held back until the transaction's first statement and sent
 * with it. When that statement asks for the transaction's id, both go as one simple-protocol query
 * ("begin; select pg_current_xact_id()"), so learning the id costs no round trip of its own; any
 * other statement is preceded by the BEGIN alone, as before. Deferring BEGIN changes nothing
 * PostgreSQL does: a transaction takes its snapshot and its id at its first statement anyway.
 */
export class HeldBegin {
  private held = false;

  constructor(private readonly run: RunQuery) {}

  async query(config: pg.QueryConfig): Promise<pg.QueryResult> {
    const simple = !config.name && (config.values === undefined || config.values.length === 0);
    if (simple && config.text === "begin") {
      this.held = true;
      return BEGUN;
    }
    if (!this.held) return this.run(config);
    this.held = false;
    if (simple && config.text === TRANSACTION_ID_QUERY) {
      // node-postgres answers a query of several statements with one result per statement.
      const results = (await this.run({
        text: `begin; ${TRANSACTION_ID_QUERY}`,
      })) as unknown as pg.QueryResult[];
      return results[1]!;
    }
    await this.run({ text: "begin" });
    return this.run(config);
  }

  /**
   * Sends a held BEGIN ahead of a query this class does not run (a cursor): node-postgres sends a
   * connection's queries in order, so the BEGIN goes first. Its failure fails that query too.
   */
  sendNow(): void {
    if (!this.held) return;
    this.held = false;
    this.run({ text: "begin" }).catch(() => {});
  }
}
