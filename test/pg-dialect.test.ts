import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { Store } from "../src/store/store.js";
import { openTestDatabase, PG_URL, POSTGRES_AVAILABLE, type TestDatabase } from "./helpers/engines.js";

// PostgreSQL only. Kysely's own introspector reads every schema of the database and fails when one
// is dropped meanwhile; ours reads only the current schema, so migrating on start survives other
// clients creating and dropping schemas around it (as our parallel test suites do).
describe("PostgreSQL introspection", {
  skip: POSTGRES_AVAILABLE ? false : `PostgreSQL unreachable at ${PG_URL}`,
}, () => {
  let db: TestDatabase;
  before(async () => {
    db = await openTestDatabase("postgresql");
  });
  after(() => db.cleanup());

  test("lists this schema's tables with their columns, Kysely's own tables only when asked", async () => {
    const tables = await db.store.db.introspection.getTables();
    const events = tables.find((t) => t.name === "events");
    assert.ok(events, "events table listed");
    assert.equal(events.schema, db.options.pgSchema);
    assert.ok(events.columns.some((c) => c.name === "next_attempt_at" && c.isNullable));
    assert.ok(!tables.some((t) => t.name.startsWith("kysely_migration")));
    assert.ok(
      tables.every((t) => t.schema === db.options.pgSchema),
      "no other schema's tables",
    );
    const withKysely = await db.store.db.introspection.getTables({ withInternalKyselyTables: true });
    assert.ok(withKysely.some((t) => t.name === "kysely_migration"));
  });

  test("migrations on start succeed while other clients create and drop schemas", async () => {
    let churning = true;
    const churn = async (worker: number) => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (let i = 0; churning; i++) {
        const schema = `lt_churn_${process.pid}_${worker}_${i}`;
        await client.query(
          `create schema ${schema}; create table ${schema}.t (id serial primary key, a text)`,
        );
        await client.query(`drop schema ${schema} cascade`);
      }
      await client.end();
    };
    const churners = [churn(1), churn(2)];
    try {
      for (let i = 0; i < 10; i++) {
        const schema = `lt_mig_${process.pid}_${i}`;
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`create schema ${schema}`);
        try {
          const store = await Store.open({ databaseUrl: PG_URL, sqlitePath: "", pgSchema: schema });
          await store.close();
        } finally {
          await admin.query(`drop schema ${schema} cascade`);
          await admin.end();
        }
      }
    } finally {
      churning = false;
      await Promise.all(churners);
    }
  });
});
