import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Transaction } from "kysely";
import { GroupCommit } from "../src/store/group-commit.js";
import type { Database } from "../src/store/schema.js";
import { forEachEngine, openTestDatabase, type TestDatabase } from "./helpers/engines.js";

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
});
