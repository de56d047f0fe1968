import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import { ProblemError } from "../src/domain/problem.js";
import { dueLookupsQuery, RECEIPT_LOOKUP_AFTER_MS } from "../src/messaging/receipt-lookup.js";
import { sendSms } from "../src/messaging/send.js";
import { isUniqueViolation } from "../src/store/errors.js";
import { insertEvent, insertEvents, newEventRow } from "../src/store/events-repo.js";
import { INBOUND_ONCE } from "../src/store/migration-0004-inbound-once.js";
import { leadTags } from "../src/store/migration-0005-lead-tags.js";
import { LATEST_MIGRATION, migrateToLatest, migrator } from "../src/store/migrations.js";
import { createOrganization, hashApiKey } from "../src/store/orgs-repo.js";
import type { EventRow } from "../src/store/schema.js";
import { Store } from "../src/store/store.js";
import { forEachEngine, openTestDatabase, type TestDatabase } from "./helpers/engines.js";
import { outboundSmsRow } from "./helpers/messaging.js";

forEachEngine("store", (engine) => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await openTestDatabase(engine);
  });
  after(() => tdb.cleanup());

  /** The PostgreSQL schema the test database lives in (undefined on SQLite). */
  async function schemaOf(db: typeof tdb.store.db): Promise<string | undefined> {
    if (engine !== "postgresql") return undefined;
    return (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s;
  }

  /** Takes the test database back to `version` (on PostgreSQL, the migrations of its own schema). */
  async function migrateDownTo(version: string): Promise<void> {
    const db = tdb.store.db;
    assert.equal((await migrator(db as never, await schemaOf(db)).migrateTo(version)).error, undefined);
  }

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
    await migrateDownTo("0003_warmup");
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
    await db
      .insertInto("events")
      .values([rowBefore0013(second!), rowBefore0013(first!)])
      .execute();
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

  test("migration 0013 gives keyed messages written before it the scheduledFor they asked for, where scheduled_for still holds it", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0011_conversation_last_event");
    const org = await createOrganization(db, "Scheduled before 0013");
    const outbound = (key: string, scheduled: Partial<EventRow>) =>
      rowBefore0013(outboundSmsRow(org, { idempotency_key: key, ...scheduled }, 1_000));
    await db
      .insertInto("events")
      .values([
        outbound("asked", { status: "Scheduled", scheduled_for: 5_000, scheduled_reason: "Requested" }),
        // Moved by quiet hours: the time it asked for (if any) is gone.
        outbound("moved", { status: "Scheduled", scheduled_for: 9_000, scheduled_reason: "QuietHours" }),
        outbound("now", { status: "Queued" }),
      ])
      .execute();
    assert.equal(
      (await migrator(db as never, await schemaOf(db)).migrateTo("0013_requested_schedule")).error,
      undefined,
    );
    const rows = await db
      .selectFrom("events")
      .select(["idempotency_key", "requested_scheduled_for"])
      .where("organization_id", "=", org.organizationId)
      .orderBy("idempotency_key")
      .execute();
    assert.deepEqual(rows, [
      { idempotency_key: "asked", requested_scheduled_for: 5_000 },
      { idempotency_key: "moved", requested_scheduled_for: null },
      { idempotency_key: "now", requested_scheduled_for: null },
    ]);
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
  });

  test("a keyed send written before migration 0013, whose asked-for time was lost, is answered when resent with exactly its body", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0012_lead_utc_date_times");
    const org = await createOrganization(db, "Keyed before 0013");
    const actor = { organizationId: org.organizationId, userId: org.userId };
    const outbound = (key: string, scheduled: Partial<EventRow>, at: number) =>
      outboundSmsRow(
        org,
        { conversation_id: "conv_keyed", body: "See you at noon", idempotency_key: key, ...scheduled },
        at,
      );
    await db
      .insertInto("events")
      .values([
        // Asked for 07:00 (5_000 here); quiet hours moved it, and scheduled_for no longer says so.
        rowBefore0013(
          outbound(
            "moved",
            { status: "Scheduled", scheduled_for: 9_000, scheduled_reason: "QuietHours" },
            1_000,
          ),
        ),
        // Asked for a time already past: sent at once, with no scheduled_for to show it.
        rowBefore0013(outbound("past", { status: "Delivered" }, 1_000)),
      ])
      .execute();
    // The database ran 0013 (and what followed) before this code: a send written then without
    // scheduledFor is known to have asked for none.
    assert.equal(
      (await migrator(db as never, await schemaOf(db)).migrateTo("0015_warmup_pause")).error,
      undefined,
    );
    await db
      .insertInto("events")
      .values(rowBefore0018(outbound("after", { status: "Queued" }, Date.now())))
      .execute();
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);

    const resend = (key: string, scheduledFor: string | null) =>
      sendSms(db, actor, {
        conversationId: "conv_keyed",
        text: "See you at noon",
        scheduledFor,
        outboundIdempotencyKey: key,
      });
    for (const [key, asked] of [
      ["moved", "1970-01-01T00:00:05Z"],
      ["past", "1970-01-01T00:00:00.500Z"],
      ["moved", null],
    ] as const) {
      const answer = await resend(key, asked);
      assert.equal(answer.created, false, `${key} resent with scheduledFor ${asked}`);
      assert.equal(answer.event.idempotency_key, key);
    }
    await assert.rejects(resend("after", "1970-01-01T00:00:05Z"), (error) => {
      assert.ok(error instanceof ProblemError);
      assert.equal(error.status, 422);
      return true;
    });
  });

  test("migration 0018 makes a Telnyx message left Sent before it due for the receipt lookup, 15 minutes after it was sent", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0017_owed_receipts");
    const org = await createOrganization(db, "Sent before 0018");
    const sent = (telnyxId: string | null, status: string) =>
      rowBefore0018(outboundSmsRow(org, { status, sent_at: 10_000, telnyx_id: telnyxId }, 1_000));
    const waiting = sent("5b0f6f55-2f4e-4d0e-8a61-0c0b1e6b7a01", "Sent");
    await db
      .insertInto("events")
      .values([waiting, sent("5b0f6f55-2f4e-4d0e-8a61-0c0b1e6b7a02", "Delivered"), sent(null, "Sent")])
      .execute();
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
    const due = (at: number) =>
      dueLookupsQuery(db, at, 10).where("organization_id", "=", org.organizationId).execute();
    assert.deepEqual(await due(10_000 + RECEIPT_LOOKUP_AFTER_MS - 1), []);
    assert.deepEqual(await due(10_000 + RECEIPT_LOOKUP_AFTER_MS), [
      {
        organization_id: org.organizationId,
        id: waiting.id,
        telnyx_id: waiting.telnyx_id,
        receipt_lookups: 0,
      },
    ]);
  });

  test("migration 0009 leaves conversations written before it read: counting starts with the next message", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0008_suppression_identifiers");
    const org = await createOrganization(db, "Conversations before reads");
    await sql`insert into conversations (organization_id, id, lead_id, lead_phone, last_snippet,
      last_event_at, last_event_is_internal_note, created_at, override_phone_number_id, last_phone_number_id)
      values (${org.organizationId}, 'conv_before', 'lead_x', '+14155550188', null, 1000, 0, 1000, null, null)`.execute(
      db,
    );
    // A mark as migration 0007 kept them (by position): 0009 cannot carry it over.
    await sql`insert into conversation_reads (organization_id, conversation_id, user_id, read_through_at,
      read_through_id) values (${org.organizationId}, 'conv_before', ${org.userId}, 1000, 'evt_x')`.execute(
      db,
    );
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
    assert.deepEqual(await db.selectFrom("conversation_reads").selectAll().execute(), []);
    const row = await db
      .selectFrom("conversations")
      .select(["inbound_count", "last_inbound_event_id"])
      .where("organization_id", "=", org.organizationId)
      .executeTakeFirstOrThrow();
    assert.deepEqual(
      { ...row, inbound_count: Number(row.inbound_count) },
      { inbound_count: 0, last_inbound_event_id: null },
    );
  });

  test("migration 0014 splits a charge refunded before it into the charge and its refund line, at the same time", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0011_conversation_last_event");
    const org = await createOrganization(db, "Refunded before the split");
    // As refundCharge left it then: the charge line rewritten to refunded_credited; and one kept.
    for (const [id, status] of [
      ["use_refunded", "refunded_credited"],
      ["use_charged", "charged"],
    ]) {
      await sql`insert into usage_ledger (organization_id, id, event_id, channel, billable_unit, status,
        quantity, unit_price_micros, amount_micros, lead_id, phone_number_id, phone_number, created_at)
        values (${org.organizationId}, ${id}, ${`evt_${id}`}, 'sms', 'sms_segment', ${status}, 2, 7900, 15800,
        null, 'pn_1', '+14155550100', 5000)`.execute(db);
    }
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
    const lines = await db
      .selectFrom("usage_ledger")
      .select(["id", "event_id", "event_entry", "status", "quantity", "amount_micros", "created_at"])
      .where("organization_id", "=", org.organizationId)
      .orderBy("event_id")
      .orderBy("event_entry")
      .execute();
    assert.deepEqual(
      lines.map((l) => ({ ...l, amount_micros: Number(l.amount_micros), created_at: Number(l.created_at) })),
      [
        {
          id: "use_charged",
          event_id: "evt_use_charged",
          event_entry: 0,
          status: "charged",
          quantity: 2,
          amount_micros: 15800,
          created_at: 5000,
        },
        {
          id: "use_refunded",
          event_id: "evt_use_refunded",
          event_entry: 0,
          status: "charged",
          quantity: 2,
          amount_micros: 15800,
          created_at: 5000,
        },
        {
          id: lines[2]!.id,
          event_id: "evt_use_refunded",
          event_entry: 1,
          status: "refunded_credited",
          quantity: -2,
          amount_micros: -15800,
          created_at: 5000,
        },
      ],
    );
    assert.match(lines[2]!.id, /^use_/);
  });

  test("migration 0012 rewrites lead date-times stored with an offset in UTC form, and nothing else", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0011_conversation_last_event");
    const org = await createOrganization(db, "Offsets before UTC");
    const document = (metadata: Record<string, unknown>) =>
      JSON.stringify({
        metadata,
        contact: { firstName: "Ada" },
        customer: { birthDate: "1990-04-01" },
        enabled: true,
        tagIds: [],
        tagNames: [],
      });
    const stored = {
      lead_offsets: document({
        createdAt: "2026-03-01T09:00:00-05:00",
        smsOptOutAt: "2026-03-02T01:30:00+05:30",
        smsOptInAt: "2026-03-01t14:00:00z",
        utmSource: "fb",
        // Not one of the lead's date-time fields: kept as sent.
        followUpAt: "2026-03-01T09:00:00-05:00",
      }),
      lead_utc: document({ createdAt: "2026-03-01T14:00:00.000Z" }),
      lead_none: document({ utmSource: "google" }),
    };
    for (const [id, doc] of Object.entries(stored)) {
      await sql`insert into leads (organization_id, id, first_name, last_name, phone, email, enabled, source_id,
        price_micros, document, created_at, updated_at, created_by)
        values (${org.organizationId}, ${id}, 'Ada', null, null, null, 1, null, null, ${doc}, 1000, 1000,
        ${org.userId})`.execute(db);
    }
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
    const rows = await db
      .selectFrom("leads")
      .select(["id", "document"])
      .where("organization_id", "=", org.organizationId)
      .orderBy("id")
      .execute();
    const after = Object.fromEntries(rows.map((row) => [row.id, row.document]));
    assert.deepEqual(JSON.parse(after.lead_offsets!).metadata, {
      createdAt: "2026-03-01T14:00:00.000Z",
      smsOptOutAt: "2026-03-01T20:00:00.000Z",
      smsOptInAt: "2026-03-01T14:00:00.000Z",
      utmSource: "fb",
      followUpAt: "2026-03-01T09:00:00-05:00",
    });
    assert.equal(JSON.parse(after.lead_offsets!).customer.birthDate, "1990-04-01");
    assert.equal(after.lead_utc, stored.lead_utc);
    assert.equal(after.lead_none, stored.lead_none);
  });

  test("migration 0008 gives suppressions written before it their recipientIdentifier (the recipient)", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0007_conversation_reads");
    const org = await createOrganization(db, "Suppressed before identifiers");
    await sql`insert into suppressions (organization_id, id, channel, recipient, phone_number, email, status,
      source, reason, suppressed_at, released_at, audit)
      values (${org.organizationId}, 'sup_before', 'sms', '+14155550177', '+14155550177', null, 'active',
      'api', null, 1000, null, '[]')`.execute(db);
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
    const row = await db
      .selectFrom("suppressions")
      .select(["recipient", "recipient_identifier"])
      .where("organization_id", "=", org.organizationId)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { recipient: "+14155550177", recipient_identifier: "+14155550177" });
  });

  test("migration 0005 gives leads written before it their tags: names and ids, filterable", async () => {
    const db = tdb.store.db;
    await migrateDownTo("0004_inbound_once");
    const org = await createOrganization(db, "Tagged before tags");
    const lead = (id: string, tagNames: string[], tagIds: string[]) => ({
      organization_id: org.organizationId,
      id,
      first_name: id,
      last_name: null,
      phone: null,
      email: null,
      enabled: 1,
      source_id: null,
      price_micros: null,
      document: JSON.stringify({
        metadata: {},
        contact: { firstName: id },
        customer: {},
        enabled: true,
        tagIds,
        tagNames,
      }),
      created_at: 1_000,
      updated_at: 1_000,
      created_by: org.userId,
    });
    await db
      .insertInto("leads")
      .values([
        lead("lead_a", ["Hot", "Hot Lead"], ["ext-1"]),
        lead("lead_b", ["hot"], []),
        lead("lead_c", [], []),
        // Ids a client copied from what leads showed (tag_hot, tag_vip, tag_caf-) name those tags,
        // even on a lead written before the lead that names the tag.
        lead("lead_d", ["Hot"], ["tag_hot"]),
        lead("lead_e", [], ["tag_vip"]),
        lead("lead_f", ["VIP", "Café"], ["tag_caf-"]),
      ])
      .execute();
    assert.equal(await migrateToLatest(db as never), LATEST_MIGRATION);
    const tagsOf = async (id: string) => {
      const row = await db
        .selectFrom("leads")
        .select("document")
        .where("organization_id", "=", org.organizationId)
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      const rows = await db
        .selectFrom("lead_tags")
        .select("tag_id")
        .where("organization_id", "=", org.organizationId)
        .where("lead_id", "=", id)
        .orderBy("tag_id")
        .execute();
      return { document: JSON.parse(row.document).tags, rows: rows.map((r) => r.tag_id) };
    };
    assert.deepEqual(await tagsOf("lead_a"), {
      document: [
        { id: "tag_hot", name: "Hot" },
        { id: "tag_hot-lead", name: "Hot Lead" },
        { id: "ext-1", name: "ext-1" },
      ],
      rows: ["ext-1", "tag_hot", "tag_hot-lead"],
    });
    assert.deepEqual(await tagsOf("lead_b"), {
      document: [{ id: "tag_hot", name: "Hot" }],
      rows: ["tag_hot"],
    });
    assert.deepEqual(await tagsOf("lead_c"), { document: undefined, rows: [] });
    assert.deepEqual(await tagsOf("lead_d"), {
      document: [{ id: "tag_hot", name: "Hot" }],
      rows: ["tag_hot"],
    });
    assert.deepEqual(await tagsOf("lead_e"), {
      document: [{ id: "tag_vip", name: "VIP" }],
      rows: ["tag_vip"],
    });
    assert.deepEqual(await tagsOf("lead_f"), {
      document: [
        { id: "tag_vip", name: "VIP" },
        { id: "tag_caf-", name: "Café" },
      ],
      rows: ["tag_caf-", "tag_vip"],
    });
    // Running it again (a migration killed half-way on SQLite, where it is no transaction) changes
    // nothing and fails on nothing.
    const snapshot = async () => ({
      tags: await db.selectFrom("tags").selectAll().orderBy("organization_id").orderBy("id").execute(),
      leadTags: await db.selectFrom("lead_tags").selectAll().orderBy("lead_id").orderBy("tag_id").execute(),
      leads: await db.selectFrom("leads").select(["id", "document"]).orderBy("id").execute(),
    });
    const once = await snapshot();
    await leadTags.up(db as never);
    assert.deepEqual(await snapshot(), once);
    const tags = await db
      .selectFrom("tags")
      .select(["id", "normalized_name"])
      .where("organization_id", "=", org.organizationId)
      .orderBy("id")
      .execute();
    assert.deepEqual(tags, [
      { id: "ext-1", normalized_name: "ext-1" },
      { id: "tag_caf-", normalized_name: "café" },
      { id: "tag_hot", normalized_name: "hot" },
      { id: "tag_hot-lead", normalized_name: "hot lead" },
      { id: "tag_vip", normalized_name: "vip" },
    ]);
  });

  test("a second process on the same database verifies the first one's continuation tokens", async () => {
    const other = await Store.open(tdb.options);
    const token = tdb.store.cursors.encode("events|x", [1, "evt_a"]);
    assert.deepEqual(other.cursors.decode(token, "events|x", 2), [1, "evt_a"]);
    assert.equal(other.cursors.decode(token, "events|y", 2), null);
    await other.close();
  });
});

test("the vendored component schemas are the contract subset's", () => {
  const shared = new URL("../../shared/contract/leadping-openapi-subset.json", import.meta.url);
  if (!existsSync(shared)) return;
  const vendored = new URL("./contract/leadping-components.json", import.meta.url);
  const subset = JSON.parse(readFileSync(shared, "utf8")) as { components: { schemas: unknown } };
  assert.deepEqual(JSON.parse(readFileSync(vendored, "utf8")), {
    components: { schemas: subset.components.schemas },
  });
});

test("the vendored event schema is the contract's", () => {
  const shared = new URL("../../shared/contract/event.schema.json", import.meta.url);
  if (!existsSync(shared)) return;
  const vendored = new URL("./contract/event.schema.json", import.meta.url);
  assert.deepEqual(JSON.parse(readFileSync(vendored, "utf8")), JSON.parse(readFileSync(shared, "utf8")));
});

/** An event row as the events table held it before migration 0013 (no requested_scheduled_for). */
function rowBefore0013(row: EventRow): Omit<EventRow, "requested_scheduled_for"> {
  const { requested_scheduled_for: _addedBy0013, ...before } = rowBefore0018(row);
  return before;
}

/** A row as a database before 0018 takes it; typed as today's, the only schema Kysely's types know. */
function rowBefore0018(row: EventRow): EventRow {
  const {
    receipt_lookups: _addedBy0018,
    receipt_lookup_after: _alsoAddedBy0018,
    ...before
  } = rowBefore0019(row);
  return before as EventRow;
}

/** A row as a database before 0019 takes it (no operator_wait_since). */
function rowBefore0019(row: EventRow): EventRow {
  const { operator_wait_since: _addedBy0019, ...before } = row;
  return before as EventRow;
}
