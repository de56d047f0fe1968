import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { CompiledQuery } from "kysely";
import pg from "pg";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import { pgTypes } from "../src/store/database.js";
import { CoalescingEventReader } from "../src/store/event-by-id-reader.js";
import { EVENT_LIST_SPEC } from "../src/store/event-list-spec.js";
import { insertEvents, newEventRow } from "../src/store/events-repo.js";
import type { ListPage, ListSpec } from "../src/store/list-query.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import { NamedStatementPool } from "../src/store/pg-named-statements.js";
import type { EventRow } from "../src/store/schema.js";
import { forEachEngine, openTestDatabase, PG_URL, type TestDatabase } from "./helpers/engines.js";

// GET /events/{id}'s reader: rows read positionally must equal the rows Kysely reads, on both engines,
// whatever mix of organizations, unknown ids and repeats arrives at once; on PostgreSQL concurrent
// lookups share queries. The event lists read positionally too, and must page as `select *` does.

function eventsOf(organizationId: string, userId: string, count: number): EventRow[] {
  return Array.from({ length: count }, (_, i) =>
    newEventRow({
      organization_id: organizationId,
      event_type: "SmsOutbound",
      activity_type: "Sms",
      activity_category: ACTIVITY_CATEGORY.Sms,
      description: "Outbound SMS.",
      created_by: userId,
      summary: `message ${i} — “quoted”`,
      status: i % 2 ? "Delivered" : "Sent",
      billable_micros: 7900 + i,
      sent_at: 1_700_000_000_000 + i,
      retry_count: i % 3,
      media: i % 5 === 0 ? JSON.stringify([{ url: "https://example.com/a.jpg" }]) : null,
    }),
  );
}

forEachEngine("GET /events/{id} reader", (engine) => {
  let tdb: TestDatabase;
  let a: EventRow[];
  let b: EventRow[];
  before(async () => {
    tdb = await openTestDatabase(engine);
    const orgA = await createOrganization(tdb.store.db, "A");
    const orgB = await createOrganization(tdb.store.db, "B");
    a = eventsOf(orgA.organizationId, orgA.userId, 40);
    b = eventsOf(orgB.organizationId, orgB.userId, 40);
    await insertEvents(tdb.store.db, [...a, ...b]);
  });
  after(() => tdb.cleanup());

  test("concurrent lookups each get their own organization's row, every column with its type", async () => {
    const asked: { organizationId: string; id: string; expected: EventRow | undefined }[] = [];
    for (let i = 0; i < 40; i++) {
      asked.push({ organizationId: a[i]!.organization_id, id: a[i]!.id, expected: a[i] });
      asked.push({ organizationId: b[i]!.organization_id, id: b[i]!.id, expected: b[i] });
      // Another organization's id, an unknown id, and a repeat.
      asked.push({ organizationId: b[i]!.organization_id, id: a[i]!.id, expected: undefined });
      asked.push({ organizationId: a[i]!.organization_id, id: `evt_missing_${i}`, expected: undefined });
      asked.push({ organizationId: a[i]!.organization_id, id: a[i]!.id, expected: a[i] });
    }
    const answers = await Promise.all(asked.map((q) => tdb.store.getEventById(q.organizationId, q.id)));
    answers.forEach((answer, i) => {
      assert.deepEqual(answer, asked[i]!.expected, `lookup ${i}`);
    });
    const viaKysely = await tdb.store.db
      .selectFrom("events")
      .selectAll()
      .where("id", "=", a[3]!.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(await tdb.store.getEventById(a[3]!.organization_id, a[3]!.id), viaKysely);
  });

  test("event lists read as arrays give the pages `select *` gives, every column with its type", async () => {
    // The same spec without its rowShape: read with `select *` into the driver's objects.
    const { rowShape, ...selectAllSpec } = EVENT_LIST_SPEC;
    assert.ok(rowShape, "the event lists read arrays");
    const pages = async (body: object, spec: ListSpec) => {
      const read: EventRow[][] = [];
      let token: string | null = null;
      do {
        const request = { ...body, continuationToken: token };
        const page: ListPage<EventRow> = await tdb.store.listPage(spec, a[0]!.organization_id, request);
        read.push(page.rows);
        token = page.continuationToken;
      } while (token !== null);
      return read;
    };
    for (const body of [
      { pageSize: 7 },
      {
        pageSize: 5,
        orderBy: [{ field: "id", direction: "asc" }],
        filters: [{ field: "status", value: "Sent" }],
      },
    ]) {
      const asObjects = await pages(body, selectAllSpec);
      const asArrays = await pages(body, EVENT_LIST_SPEC);
      assert.deepEqual(asArrays, asObjects, JSON.stringify(body));
      assert.ok(asArrays.length > 2, "several pages");
      // What was written, nothing of organization B.
      const ids = asArrays.flat().map((row) => row.id);
      const expected = body.filters ? a.filter((row) => row.status === "Sent") : a;
      assert.deepEqual(new Set(ids), new Set(expected.map((row) => row.id)));
      for (const row of asArrays.flat()) {
        assert.deepEqual(
          row,
          a.find((written) => written.id === row.id),
        );
      }
    }
  });

  if (engine !== "postgresql") return;

  describe("coalescing on PostgreSQL", () => {
    /** A real pool; `queries()` counts the clients it handed out, one per pool.query. */
    const openPool = () => {
      const pool = new pg.Pool({
        connectionString: PG_URL,
        types: pgTypes,
        options: `-c search_path=${tdb.options.pgSchema}`,
      });
      let acquired = 0;
      pool.on("acquire", () => {
        acquired++;
      });
      // What the store hands the reader: the pool's named statements, read as arrays.
      const named = new NamedStatementPool(pool);
      return Object.assign(pool, {
        queries: () => acquired,
        readArrays: (query: CompiledQuery) => named.queryArrays(query.sql, query.parameters),
      });
    };
    const withPool = async (use: (pool: ReturnType<typeof openPool>) => Promise<void>) => {
      const pool = openPool();
      try {
        await use(pool);
      } finally {
        await pool.end();
      }
    };
    /** 200 lookups alternating between the two organizations' rows. */
    const mixedLookups = () => Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b)[i % 40]!);

    test("200 lookups of two organizations at once take two queries, and each gets its row", async () =>
      withPool(async (pool) => {
        const reader = new CoalescingEventReader(pool.readArrays);
        const asked = mixedLookups();
        const answers = await Promise.all(asked.map((row) => reader.read(row.organization_id, row.id)));
        answers.forEach((answer, i) => {
          assert.deepEqual(answer, asked[i]);
        });
        // The first lookup goes out alone at once; the other 199 wait for it and go out together.
        assert.equal(pool.queries(), 2);
      }));

    test("a batch holds at most maxBatch lookups", async () =>
      withPool(async (pool) => {
        const reader = new CoalescingEventReader(pool.readArrays, 1, 50);
        const asked = mixedLookups();
        const answers = await Promise.all(asked.map((row) => reader.read(row.organization_id, row.id)));
        assert.deepEqual(answers, asked);
        assert.equal(pool.queries(), 1 + Math.ceil(199 / 50));
      }));

    test("one lookup at a time is one query each, answered at once", async () =>
      withPool(async (pool) => {
        const reader = new CoalescingEventReader(pool.readArrays);
        for (const row of a.slice(0, 5))
          assert.deepEqual(await reader.read(row.organization_id, row.id), row);
        assert.equal(pool.queries(), 5);
      }));

    test("a lookup PostgreSQL refuses (a NUL in the id) fails alone, not the lookups batched with it", async () =>
      withPool(async (pool) => {
        const reader = new CoalescingEventReader(pool.readArrays);
        const good = a.slice(0, 6);
        const reads = [
          ...good.map((row) => reader.read(row.organization_id, row.id)),
          reader.read(a[0]!.organization_id, "evt_\u0000bad"),
          ...good.map((row) => reader.read(row.organization_id, row.id)),
        ];
        const results = await Promise.allSettled(reads);
        assert.deepEqual(
          results.map((r) => r.status),
          [...Array(6).fill("fulfilled"), "rejected", ...Array(6).fill("fulfilled")],
        );
        results.forEach((result, i) => {
          if (result.status === "fulfilled") assert.deepEqual(result.value, i < 6 ? good[i] : good[i - 7]);
        });
      }));

    test("a failing query rejects every lookup waiting on it", async () => {
      const pool = openPool();
      const reader = new CoalescingEventReader(pool.readArrays, 1);
      await pool.end();
      const results = await Promise.allSettled(
        a.slice(0, 6).map((row) => reader.read(row.organization_id, row.id)),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(6).fill("rejected"),
      );
    });
  });
});
