import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { KyselyPlugin } from "kysely";
import { parseListOptions, runList } from "../src/store/list-query.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import type { SnapshotReads } from "../src/store/snapshot-reads.js";
import { Store } from "../src/store/store.js";
import { SUPPRESSION_LIST_SPEC, suppress } from "../src/store/suppressions-repo.js";
import { forEachEngine, openTestDatabase, type TestDatabase } from "./helpers/engines.js";

// A list page and its totalCount are two reads. A write committed between them (here by another
// connection, as another process would) must not make the count disagree with the page.

forEachEngine("list page and totalCount", (engine) => {
  let db: TestDatabase;
  let writer: Store;
  let organizationId: string;
  before(async () => {
    db = await openTestDatabase(engine);
    writer = await Store.open(db.options);
    organizationId = (await createOrganization(db.store.db, "Snapshot Org")).organizationId;
  });
  after(async () => {
    await writer.close();
    await db.cleanup();
  });

  const suppressEmail = (email: string) =>
    suppress(writer.db, {
      organizationId,
      channel: "email",
      recipient: email,
      phoneNumber: null,
      email,
      source: "api",
      reason: null,
      actorId: null,
      at: Date.now(),
    });

  test("a write committed between the page and its count is seen by neither", async () => {
    await suppressEmail("ada@example.com");
    await suppressEmail("grace@example.com");
    // Commits a third entry, through the other connection, right after the first read answers.
    let wrote = false;
    const writeOnce = async () => {
      if (wrote) return;
      wrote = true;
      await suppressEmail("edsger@example.com");
    };
    const afterFirstRead: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        await writeOnce();
        return args.result;
      },
    };
    const { conn } = db.store;
    const reads = {
      readArrays: conn.readArrays,
      readSnapshot: <T>(work: (reads: SnapshotReads) => Promise<T>) =>
        conn.readSnapshot((snapshot) =>
          work({
            objects: async (query) => {
              const rows = await snapshot.objects(query);
              await writeOnce();
              return rows;
            },
            arrays: async (query) => {
              const rows = await snapshot.arrays(query);
              await writeOnce();
              return rows;
            },
          }),
        ),
    };
    const parsed = parseListOptions(SUPPRESSION_LIST_SPEC, { includeCount: true }, "", conn.search);
    const page = await runList(
      db.store.db.withPlugin(afterFirstRead),
      SUPPRESSION_LIST_SPEC,
      { organization_id: organizationId },
      parsed,
      db.store.cursors,
      reads,
    );
    assert.equal(wrote, true, "the write ran between the reads");
    assert.equal(page.rows.length, 2);
    assert.equal(page.totalCount, 2);
    // Committed: the next page and count both see it.
    const next = await db.store.listPage(SUPPRESSION_LIST_SPEC, organizationId, { includeCount: true });
    assert.deepEqual([next.rows.length, next.totalCount], [3, 3]);
  });
});
