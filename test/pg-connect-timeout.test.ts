import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type pg from "pg";
import { openConnection, PG_CONNECT_TIMEOUT_MS } from "../src/store/database.js";
import { PG_URL, POSTGRES_AVAILABLE } from "./helpers/engines.js";

// The connect timeout bounds connecting to the server only (serve-lifecycle.test.ts: a server that
// never answers). A request that waits for a free connection of the pool, while others hold them all
// (a row lock, a slow query), waits as long as it takes: it must not fail at the timeout.

describe("PostgreSQL connection timeout", {
  skip: POSTGRES_AVAILABLE ? false : `PostgreSQL unreachable at ${PG_URL}`,
}, () => {
  test("a query waiting longer than the connect timeout for a busy pool's connection still runs", {
    timeout: PG_CONNECT_TIMEOUT_MS + 30_000,
  }, async () => {
    const conn = openConnection({ databaseUrl: PG_URL, sqlitePath: "", poolSize: 1 });
    try {
      const pool = conn.raw as pg.Pool;
      const held = await pool.connect(); // the pool's only connection
      const waiting = pool.query<{ one: number }>("select 1 as one");
      await new Promise((resolve) => setTimeout(resolve, PG_CONNECT_TIMEOUT_MS + 1_000));
      held.release();
      assert.equal((await waiting).rows[0]?.one, 1);
    } finally {
      await conn.close();
    }
  });
});
