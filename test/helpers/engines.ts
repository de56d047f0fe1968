import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe } from "node:test";
import pg from "pg";
import type { Engine } from "../../src/store/database.js";
import { Store } from "../../src/store/store.js";

// Every store and API suite runs once per engine: SQLite on a real file in a temp folder, and
// PostgreSQL over a real connection, isolated in a schema of its own that is dropped afterwards.

export const ENGINES: Engine[] = ["sqlite", "postgresql"];
export const PG_URL = process.env.LEADTRAIL_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** CI (and anyone who sets it) requires PostgreSQL: its suites fail instead of skipping. */
const PG_REQUIRED = process.env.CI === "true" || process.env.LEADTRAIL_TEST_REQUIRE_PG === "1";

async function checkPostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch (error) {
    if (PG_REQUIRED) throw new Error(`PostgreSQL is required but unreachable at ${PG_URL}: ${String(error)}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

// Checked once, before any suite is declared, so that declaring suites stays synchronous (an async
// describe callback lets a later describe in the same file nest inside it).
export const POSTGRES_AVAILABLE = await checkPostgres();

export interface TestDatabase {
  engine: Engine;
  store: Store;
  /** Connection options to open another Store (another "process") on the same database. */
  options: { databaseUrl?: string; sqlitePath: string; pgSchema?: string };
  cleanup(): Promise<void>;
}

export async function openTestDatabase(engine: Engine): Promise<TestDatabase> {
  if (engine === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "leadtrail-test-"));
    const options = { sqlitePath: join(dir, "leadtrail.db") };
    const store = await Store.open(options);
    return {
      engine,
      store,
      options,
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `lt_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const options = { databaseUrl: PG_URL, sqlitePath: "", pgSchema: schema };
  const dropSchema = async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  };
  let store: Store;
  try {
    store = await Store.open(options);
  } catch (error) {
    await dropSchema();
    throw error;
  }
  return {
    engine,
    store,
    options,
    cleanup: async () => {
      await store.close();
      await dropSchema();
    },
  };
}

/**
 * Declares `suite` once per engine. A PostgreSQL suite without a server is skipped loudly, or fails
 * when PostgreSQL is required (CI).
 */
export function forEachEngine(name: string, suite: (engine: Engine) => void): void {
  for (const engine of ENGINES) {
    const skip =
      engine === "postgresql" && !POSTGRES_AVAILABLE
        ? `PostgreSQL unreachable at ${PG_URL} (set LEADTRAIL_TEST_REQUIRE_PG=1 to fail instead)`
        : false;
    describe(`${name} [${engine}]`, { skip }, () => suite(engine));
  }
}
