import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Sqlite from "better-sqlite3";
import { type Generated, Kysely, SqliteDialect, sql } from "kysely";
import { LeadtrailSqliteDialect } from "../src/store/sqlite-dialect.js";
import { StatementCache } from "../src/store/sqlite-statement-cache.js";

const dir = mkdtempSync(join(tmpdir(), "lt-stmt-cache-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function open(capacity?: number) {
  const raw = new Sqlite(join(dir, `${Math.random().toString(36).slice(2)}.db`));
  raw.exec("create table t (id integer primary key, v text)");
  return { raw, cache: new StatementCache(raw, capacity) };
}

test("the same SQL text gets the same prepared statement", () => {
  const { cache } = open();
  const a = cache.prepare("select v from t where id = ?");
  const b = cache.prepare("select v from t where id = ?");
  assert.equal(a, b);
  assert.notEqual(cache.prepare("select id from t"), a);
  assert.equal(cache.size, 2);
  cache.close();
});

test("a statement still iterating is not handed out again: the caller gets a fresh one", () => {
  const { raw, cache } = open();
  raw.exec("insert into t (v) values ('a'), ('b')");
  const text = "select v from t order by id";
  const first = cache.prepare(text);
  const iterator = first.iterate([]);
  iterator.next();
  const second = cache.prepare(text);
  assert.notEqual(second, first);
  assert.deepEqual(second.all([]), [{ v: "a" }, { v: "b" }]);
  iterator.return?.();
  assert.equal(cache.prepare(text), first, "once finished, the cached statement is reused");
  cache.close();
});

test("the cache keeps at most `capacity` statements, dropping the least recently used", () => {
  const { cache } = open(2);
  const one = cache.prepare("select 1");
  cache.prepare("select 2");
  assert.equal(cache.prepare("select 1"), one, "touching 'select 1' makes 'select 2' the oldest");
  cache.prepare("select 3");
  assert.equal(cache.size, 2);
  assert.equal(cache.prepare("select 1"), one, "still cached");
  cache.close();
});

test("Kysely works through the cache, and cached statements see schema changes", async () => {
  const { cache } = open();
  const db = new Kysely<{ t: { id: Generated<number>; v: string | null } }>({
    dialect: new SqliteDialect({ database: cache }),
  });
  await db.insertInto("t").values({ v: "x" }).execute();
  await db.insertInto("t").values({ v: "y" }).execute();
  const read = () => db.selectFrom("t").selectAll().orderBy("id").execute();
  assert.deepEqual(await read(), [
    { id: 1, v: "x" },
    { id: 2, v: "y" },
  ]);
  await sql`alter table t add column w text default 'z'`.execute(db);
  assert.deepEqual(await read(), [
    { id: 1, v: "x", w: "z" },
    { id: 2, v: "y", w: "z" },
  ]);
  await db.transaction().execute(async (trx) => {
    await trx.updateTable("t").set({ v: "q" }).where("id", "=", 1).execute();
  });
  assert.equal((await read())[0]?.v, "q");
  await db.destroy();
});

test("transactions take the write lock when they begin, so a second connection waits instead of failing", async () => {
  const file = join(dir, "two-writers.db");
  const first = new Sqlite(file);
  first.pragma("journal_mode = WAL");
  first.exec("create table t (id integer primary key, v text)");
  const db = new Kysely<{ t: { id: Generated<number>; v: string | null } }>({
    dialect: new LeadtrailSqliteDialect(first),
  });
  const second = new Sqlite(file);
  second.pragma("busy_timeout = 0");
  const otherWrite = () => second.prepare("insert into t (v) values ('other')").run();
  await db.transaction().execute(async (trx) => {
    assert.equal(first.inTransaction, true);
    // Not one write yet, but the write lock is held: the other connection cannot write.
    assert.throws(otherWrite, /locked|busy/i);
    await trx.selectFrom("t").selectAll().execute();
  });
  otherWrite();
  assert.deepEqual(await db.selectFrom("t").select("v").execute(), [{ v: "other" }]);
  await db.destroy();
  second.close();
});
