import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql, type Transaction } from "kysely";
import pg from "pg";
import { GroupCommit, plainTransact } from "../src/store/group-commit.js";
import type { Database } from "../src/store/schema.js";
import { forEachEngine, openTestDatabase, PG_URL, type TestDatabase } from "./helpers/engines.js";

forEachEngine("group commit", (engine) => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await openTestDatabase(engine);
  });
  after(() => tdb.cleanup());

  const put = (trx: Transaction<Database>, key: string) =>
    trx.insertInto("settings").values({ key, value: "v" }).execute();
  const keys = async (prefix: string) =>
    (await tdb.store.db.selectFrom("settings").select("key").where("key", "like", `${prefix}%`).execute())
      .map((r) => r.key)
      .sort();

  test("units submitted together share one transaction; later ones get another", async () => {
    const { transact } = new GroupCommit(tdb.store.db);
    const seen: Array<Transaction<Database>> = [];
    const unit = (key: string) =>
      transact(async (trx) => {
        seen.push(trx);
        await put(trx, key);
        return key;
      });
    assert.deepEqual(await Promise.all([unit("g1-a"), unit("g1-b"), unit("g1-c")]), ["g1-a", "g1-b", "g1-c"]);
    assert.equal(new Set(seen).size, 1, "one transaction for the three");
    await unit("g1-d");
    assert.equal(new Set(seen).size, 2);
    assert.deepEqual(await keys("g1-"), ["g1-a", "g1-b", "g1-c", "g1-d"]);
  });

  test("a failing unit fails alone: the others of its group are committed", async () => {
    const { transact } = new GroupCommit(tdb.store.db);
    const results = await Promise.allSettled([
      transact((trx) => put(trx, "g2-a")),
      transact(async (trx) => {
        await put(trx, "g2-b");
        throw new Error("unit b fails after writing");
      }),
      transact((trx) => put(trx, "g2-a")), // a duplicate key: the database refuses it
      transact((trx) => put(trx, "g2-c")),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "rejected", "fulfilled"],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /unit b fails/);
    assert.deepEqual(await keys("g2-"), ["g2-a", "g2-c"], "b's write was rolled back");
  });

  test("a group holds at most maxUnits units", async () => {
    const { transact } = new GroupCommit(tdb.store.db, 10);
    const seen = new Map<Transaction<Database>, number>();
    await Promise.all(
      Array.from({ length: 35 }, (_, i) =>
        transact(async (trx) => {
          seen.set(trx, (seen.get(trx) ?? 0) + 1);
          await put(trx, `g3-${String(i).padStart(2, "0")}`);
        }),
      ),
    );
    assert.deepEqual([...seen.values()], [10, 10, 10, 5]);
    assert.equal((await keys("g3-")).length, 35);
  });

  if (engine !== "postgresql") return;

  // Another process's transaction holds row b and then asks for row a, which the unit holds while it
  // waits for b: a deadlock. The unit started waiting first, so PostgreSQL's check (after
  // deadlock_timeout, 1 s) runs in the unit's backend and aborts the unit; it must run again and
  // commit, whichever way it was submitted.
  for (const [how, transactOf] of [
    ["plainTransact", () => plainTransact(tdb.store.db)],
    ["a group commit", () => new GroupCommit(tdb.store.db).transact],
  ] as const) {
    test(`a unit that loses a deadlock runs again and commits (${how})`, async () => {
      const [a, b] = [`dl-${how}-a`, `dl-${how}-b`];
      await tdb.store.db
        .insertInto("settings")
        .values([
          { key: a, value: "0" },
          { key: b, value: "0" },
        ])
        .execute();
      const other = new pg.Client({
        connectionString: PG_URL,
        options: `-c search_path=${tdb.options.pgSchema}`,
      });
      await other.connect();
      try {
        // PostgreSQL aborts the side whose deadlock check runs first (deadlock_timeout after it began
        // waiting). The unit waits first, but on a loaded machine the other side's check could still
        // win: this side checks late, so the unit is the one aborted. (Tests connect as a superuser.)
        await other.query("set deadlock_timeout = '30s'");
        await other.query("begin");
        await other.query("update settings set value = 'other' where key = $1", [b]);
        let attempts = 0;
        let unitPid: number | null = null;
        const unit = transactOf()(async (trx) => {
          attempts++;
          unitPid ??= (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]!.pid;
          await trx
            .updateTable("settings")
            .set({ value: `unit ${attempts}` })
            .where("key", "=", a)
            .execute();
          await trx
            .updateTable("settings")
            .set({ value: `unit ${attempts}` })
            .where("key", "=", b)
            .execute();
          return attempts;
        });
        // Wait until the unit is blocked on row b, then close the cycle.
        for (let waited = 0; ; waited += 20) {
          assert.ok(waited < 10_000, "the unit never waited for row b");
          if (unitPid !== null) {
            const { rows } = await other.query<{ w: string | null }>(
              "select wait_event_type as w from pg_stat_activity where pid = $1",
              [unitPid],
            );
            if (rows[0]?.w === "Lock") break;
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await other.query("update settings set value = 'other' where key = $1", [a]);
        await other.query("commit");
        // Usually twice. Under load the retry can take row a before the other transaction's waiting
        // update gets it, and deadlock once more before that transaction commits: then a third run.
        const runs = await unit;
        assert.ok(runs >= 2, `aborted by the deadlock, then committed (ran ${runs} times)`);
        const values = await tdb.store.db
          .selectFrom("settings")
          .select(["key", "value"])
          .where("key", "in", [a, b])
          .orderBy("key")
          .execute();
        assert.deepEqual(values, [
          { key: a, value: `unit ${runs}` },
          { key: b, value: `unit ${runs}` },
        ]);
      } finally {
        await other.end();
      }
    });
  }
});
