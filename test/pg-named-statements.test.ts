import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { NamedStatementPool } from "../src/store/pg-named-statements.js";
import { PG_URL, POSTGRES_AVAILABLE } from "./helpers/engines.js";

// PostgreSQL only: SQLite has its own statement cache (sqlite-statement-cache.test.ts).
describe("named statements on PostgreSQL", {
  skip: POSTGRES_AVAILABLE ? false : `PostgreSQL unreachable at ${PG_URL}`,
}, () => {
  // One connection, so that pg_prepared_statements (per session) shows what this pool prepared.
  const pool = new NamedStatementPool(new pg.Pool({ connectionString: PG_URL, max: 1 }));
  const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) });
  after(() => db.destroy());

  const prepared = async () =>
    (
      await sql<{
        statement: string;
      }>`select statement from pg_prepared_statements order by statement`.execute(db)
    ).rows.map((r) => r.statement);

  test("a query with parameters is prepared once per connection and then reused", async () => {
    const add = (a: number, b: number) => sql<{ n: number }>`select ${a}::int + ${b}::int as n`.execute(db);
    assert.equal((await add(1, 2)).rows[0]?.n, 3);
    assert.equal((await add(40, 2)).rows[0]?.n, 42);
    const statements = await prepared();
    assert.equal(statements.filter((s) => s.includes("$1::int + $2::int")).length, 1);
  });

  test("statements without parameters (BEGIN, COMMIT) are not prepared", async () => {
    await db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
    });
    const statements = await prepared();
    assert.ok(!statements.some((s) => /^(begin|commit|select 1)$/i.test(s.trim())), statements.join("\n"));
  });

  test("queryArrays answers rows as arrays in select order, prepared once like Kysely's queries", async () => {
    const text = "select $1::int as a, $2::text as b, null as c";
    assert.deepEqual(await pool.queryArrays(text, [7, "x"]), [[7, "x", null]]);
    assert.deepEqual(await pool.queryArrays(text, [8, "y"]), [[8, "y", null]]);
    assert.equal((await prepared()).filter((s) => s === text).length, 1);
  });

  test("at most 400 distinct texts get a name; the others still run, unnamed", async () => {
    for (let i = 0; i < 450; i++) {
      const r = await sql<{ n: number }>`select ${i}::int + ${sql.raw(String(i))} as n`.execute(db);
      assert.equal(r.rows[0]?.n, 2 * i);
    }
    assert.equal(pool.namedCount, 400);
    assert.ok((await prepared()).length <= 400);
  });
});
