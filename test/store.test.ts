import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import { isUniqueViolation } from "../src/store/errors.js";
import { insertEvent, insertEvents, newEventRow } from "../src/store/events-repo.js";
import { INBOUND_ONCE } from "../src/store/migration-0004-inbound-once.js";
import { LATEST_MIGRATION, migrateToLatest, migrator } from "../src/store/migrations.js";
import { createOrganization, hashApiKey } from "../src/store/orgs-repo.js";
import { Store } from "../src/store/store.js";
import { forEachEngine, openTestDatabase, type TestDatabase } from "./helpers/engines.js";

forEachEngine("store", (engine) => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await openTestDatabase(engine);
  });
  after(() => tdb.cleanup());

  test("migrations are applied once and re-opening is a no-op", async () => {
    assert.equal(await tdb.store.migrationVersion(), LATEST_MIGRATION);
    const again = await Store.open(tdb.options);
    assert.equal(await again.migrationVersion(), LATEST_MIGRATION);
    await again.close();
  });

  test("API keys are stored only as a hash and resolve to their organization", async () => {
    const org = await createOrganization(tdb.store.db, "Hashing Inc");
    assert.match(org.apiKey, /^sk_[A-Za-z0-9_-]{40,}$/);
    const rows = await tdb.store.db
      .selectFrom("api_keys")
      .selectAll()
      .where("organization_id", "=", org.organizationId)
      .execute();
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]!.key_hash, org.apiKey);
    assert.ok(!JSON.stringify(rows).includes(org.apiKey.slice(3)));
    assert.deepEqual(await tdb.store.findApiKeyOwner(hashApiKey(org.apiKey)), {
      organizationId: org.organizationId,
      userId: org.userId,
    });
    assert.equal(await tdb.store.findApiKeyOwner(hashApiKey(`${org.apiKey}x`)), null);
  });

  test("events are read by (organization, id) only", async () => {
    const a = await createOrganization(tdb.store.db, "A");
    const b = await createOrganization(tdb.store.db, "B");
    const row = await insertEvent(
      tdb.store.db,
      newEventRow({
        organization_id: a.organizationId,
        event_type: "NoteCreated",
        activity_type: "Note",
        activity_category: ACTIVITY_CATEGORY.Note,
        description: "d",
        created_by: a.userId,
      }),
    );
    assert.equal((await tdb.store.getEventById(a.organizationId, row.id))?.id, row.id);
    assert.equal(await tdb.store.getEventById(b.organizationId, row.id), undefined);
    const back = await tdb.store.getEventById(a.organizationId, row.id);
    assert.deepEqual(back, row, "every column round-trips with its type (numbers stay numbers)");
  });

  test("migration 0004 keeps the first of inbound copies recorded twice before it, then refuses copies", async () => {
    const db = tdb.store.db;
    const schema =
      engine === "postgresql"
        ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s
        : undefined;
    const down = await migrator(db as never, schema).migrateTo("0003_warmup");
    assert.equal(down.error, undefined);
    const org = await createOrganization(db, "Redelivered");
    const inbound = (at: number) =>
      newEventRow(
        {
          organization_id: org.organizationId,
          event_type: "SmsInbound",
          activity_type: "Sms",
          activity_category: ACTIVITY_CATEGORY.Sms,
          description: "Inbound SMS.",
          created_by: "system",
          direction: "inbound",
          provider_message_id: "msg-twice",
        },
        at,
      );
    const [first, second] = [inbound(1_000), inbound(2_000)];
    await insertEvents(db, [second!, first!]);
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
    const rows = await db
      .selectFrom("events")
      .select(["id", "provider_message_id"])
      .where("organization_id", "=", org.organizationId)
      .orderBy("created_at")
      .execute();
    assert.deepEqual(rows, [
      { id: first!.id, provider_message_id: "msg-twice" },
      { id: second!.id, provider_message_id: null },
    ]);
    await assert.rejects(insertEvents(db, [inbound(3_000)]), (error) =>
      isUniqueViolation(error, INBOUND_ONCE),
    );
  });

  test("a second process on the same database verifies the first one's continuation tokens", async () => {
    const other = await Store.open(tdb.options);
    const token = tdb.store.cursors.encode("events|x", [1, "evt_a"]);
    assert.deepEqual(other.cursors.decode(token, "events|x", 2), [1, "evt_a"]);
    assert.equal(other.cursors.decode(token, "events|y", 2), null);
    await other.close();
  });
});

test("the vendored event schema is the contract's", () => {
  const shared = new URL("../../shared/contract/event.schema.json", import.meta.url);
  if (!existsSync(shared)) return;
  const vendored = new URL("./contract/event.schema.json", import.meta.url);
  assert.deepEqual(JSON.parse(readFileSync(vendored, "utf8")), JSON.parse(readFileSync(shared, "utf8")));
});
