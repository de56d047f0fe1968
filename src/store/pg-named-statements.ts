import type { PostgresCursor, PostgresPool, PostgresPoolClient } from "kysely";
import type pg from "pg";
import { HeldBegin } from "./pg-held-begin.js";
import type { SnapshotReads } from "./snapshot-reads.js";

// Kysely sends every query as an unnamed statement, which PostgreSQL parses and plans again each
// time. Under SMS load that was most of PostgreSQL's CPU: a message runs ~30 short statements. Here
// each distinct SQL text with parameters gets a name, so every pooled connection parses and plans
// it once and afterwards only binds and executes it (node-pg prepares a named statement on a
// connection the first time it sees the name there).
//
// Bounded: only the first MAX_NAMED distinct texts are named (ad-hoc texts, such as IN lists of
// every length, would otherwise pile up prepared statements on the server); the rest run unnamed.
// Parameterless statements (BEGIN, COMMIT) keep the one-round-trip simple protocol.
// A prepared `select *` fails with "cached plan must not change result type" if another process
// alters that table's columns while this one runs: migrations are applied before serving.

const MAX_NAMED = 400;

export class NamedStatementPool implements PostgresPool {
  private readonly names = new Map<string, string>();

  constructor(private readonly pool: pg.Pool) {}

  async connect(): Promise<PostgresPoolClient> {
    const client = await this.pool.connect();
    // A transaction's BEGIN goes out with its first statement (see pg-held-begin.ts).
    const begin = new HeldBegin((config) => client.query(config));
    // The overloads (text or cursor) are checked at run time; cursors (streaming) pass through.
    return {
      query: ((textOrCursor: string | PostgresCursor<unknown>, parameters?: ReadonlyArray<unknown>) => {
        if (typeof textOrCursor !== "string") {
          begin.sendNow();
          return client.query(textOrCursor as never);
        }
        return begin.query(this.statement(textOrCursor, parameters ?? []));
      }) as unknown as PostgresPoolClient["query"],
      release: (destroy?: boolean) => client.release(destroy),
    };
  }

  /**
   * Runs a read query outside Kysely and answers its rows as arrays, in select order (node-pg's
   * `rowMode: "array"`), named like every other statement of this pool.
   */
  async queryArrays(text: string, parameters: ReadonlyArray<unknown>): Promise<unknown[][]> {
    const result = await this.pool.query<unknown[]>({
      ...this.statement(text, parameters),
      rowMode: "array",
    });
    return result.rows;
  }

  /**
   * ReadSnapshot on PostgreSQL: `work`'s reads run on one connection in a read-only REPEATABLE READ
   * transaction, so all of them see the snapshot its first statement took.
   */
  async readSnapshot<T>(work: (reads: SnapshotReads) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query("begin isolation level repeatable read read only");
      const result = await work({
        objects: async (query) =>
          (await client.query<Record<string, unknown>>(this.statement(query.sql, query.parameters))).rows,
        arrays: async (query) =>
          (
            await client.query<unknown[]>({
              ...this.statement(query.sql, query.parameters),
              rowMode: "array",
            })
          ).rows,
      });
      await client.query("commit");
      return result;
    } catch (error) {
      // A connection that cannot even roll back is not given back to the pool.
      await client.query("rollback").catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** The query config for `text`: named when it has parameters and a name is left (see above). */
  private statement(text: string, parameters: ReadonlyArray<unknown>): pg.QueryConfig {
    const values = [...parameters];
    const name = values.length > 0 ? this.nameOf(text) : undefined;
    return name ? { name, text, values } : { text, values };
  }

  private nameOf(text: string): string | undefined {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < MAX_NAMED) {
      name = `lt_${this.names.size + 1}`;
      this.names.set(text, name);
    }
    return name;
  }

  /** How many SQL texts have a name (for tests). */
  get namedCount(): number {
    return this.names.size;
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}
