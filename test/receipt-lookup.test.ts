import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { dueLookupsQuery, MAX_RECEIPT_LOOKUPS } from "../src/messaging/receipt-lookup.js";
import type { TestApi } from "./helpers/api.js";
import { forEachEngine, openTestDatabase, type TestDatabase } from "./helpers/engines.js";
import type { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { postWebhook, queryOf, sendToLead, startTelnyxApi } from "./helpers/telnyx.js";

// Telnyx gives up on a webhook after a few attempts: a message it took whose receipts we never got
// is asked for (GET /v2/messages/{id}) once it has stayed Sent 15 minutes (unless set otherwise), a
// bounded number of times.

const MINUTE = 60_000;

forEachEngine("receipt lookup", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  before(async () => {
    // No automatic receipts: every webhook Telnyx would have sent is lost.
    ({ api, fake } = await startTelnyxApi(engine));
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  /** Sends a message to `phone` and waits until Telnyx took it; answers our id and Telnyx's. */
  const sendOne = async (phone: string) => {
    const { sms, sent } = await sendToLead(api, phone);
    assert.equal(sent.status, "Sent");
    return { id: sms.id as string, telnyxId: sent.telnyxId as string };
  };
  const statusOf = async (id: string) => (await api.call("GET", `/events/${id}`)).json().status;
  const asksFor = (telnyxId: string) => fake.lookups.filter((id) => id === telnyxId).length;
  const lookUp = (at: number) => api.pipeline.lookUpReceipts(at);
  const appliedTo = async (id: string, status: string) =>
    (
      await api.db.store.db
        .selectFrom("event_transitions")
        .select("seq")
        .where("event_id", "=", id)
        .where("to_status", "=", status)
        .where("applied", "=", 1)
        .execute()
    ).length;

  test("a message whose receipts never came ends Delivered through the lookup, once; the late webhook changes nothing", async () => {
    const { id, telnyxId } = await sendOne("+12125550301");
    fake.statuses.set(telnyxId, "delivered");
    const start = Date.now();
    await lookUp(start);
    assert.equal(asksFor(telnyxId), 0, "not asked before it has been Sent 15 minutes");
    await lookUp(start + 16 * MINUTE);
    assert.equal(asksFor(telnyxId), 1);
    assert.equal(await statusOf(id), "Delivered");
    const balance = (await api.call("GET", "/wallets/me")).json().balance;
    await lookUp(start + 24 * 60 * MINUTE);
    assert.equal(asksFor(telnyxId), 1, "a Delivered message is not asked again");

    const request = fake.sent.find((r) => r.id === telnyxId)!;
    const finalized = fake.webhook("message.finalized", telnyxId, request.body, "delivered");
    const late = await postWebhook(api, fake, finalized, { query: queryOf(request) });
    assert.equal(late.statusCode, 200);
    assert.equal(await statusOf(id), "Delivered");
    assert.equal(await appliedTo(id, "Delivered"), 1);
    assert.equal((await api.call("GET", "/wallets/me")).json().balance, balance, "billed once");
  });

  test("an answer that is not final leaves the message Sent, asked again after a longer wait", async () => {
    const { id, telnyxId } = await sendOne("+12125550302");
    fake.statuses.set(telnyxId, "sent");
    const start = Date.now();
    await lookUp(start + 16 * MINUTE);
    assert.equal(asksFor(telnyxId), 1);
    assert.equal(await statusOf(id), "Sent");
    await lookUp(start + 20 * MINUTE);
    assert.equal(asksFor(telnyxId), 1, "not asked again before its wait is over");
    fake.statuses.set(telnyxId, "delivered");
    await lookUp(start + 32 * MINUTE);
    assert.equal(asksFor(telnyxId), 2);
    assert.equal(await statusOf(id), "Delivered");
    assert.equal(await appliedTo(id, "Delivered"), 1);
  });

  test("a final answer that leaves the message Sent (delivery_unconfirmed) is not asked for again", async () => {
    const { id, telnyxId } = await sendOne("+12125550305");
    fake.statuses.set(telnyxId, "delivery_unconfirmed");
    const start = Date.now();
    for (let day = 1; day <= 3; day++) await lookUp(start + day * 24 * 60 * MINUTE);
    assert.equal(asksFor(telnyxId), 1);
    assert.equal(await statusOf(id), "Sent");
  });

  test("a 5xx or a 404 from Telnyx changes nothing, and a message is asked a bounded number of times", async () => {
    const failing = await sendOne("+12125550303");
    const forgotten = await sendOne("+12125550304");
    // An id Telnyx no longer keeps (it keeps messages 10 days) answers 404.
    const unknownId = "0c9f2b52-5e0b-4a8e-9d43-6b1f2f9d0a11";
    await api.db.store.db
      .updateTable("events")
      .set({ telnyx_id: unknownId })
      .where("id", "=", forgotten.id)
      .execute();
    fake.statuses.set(failing.telnyxId, "delivered");
    fake.lookupFailure = 500;
    const start = Date.now();
    try {
      await lookUp(start + 16 * MINUTE);
    } finally {
      fake.lookupFailure = null;
    }
    assert.equal(asksFor(failing.telnyxId), 1);
    assert.equal(await statusOf(failing.id), "Sent");
    for (let day = 1; day <= 10; day++) await lookUp(start + day * 24 * 60 * MINUTE);
    assert.equal(await statusOf(failing.id), "Delivered", "a later ask finds the outcome");
    assert.equal(asksFor(failing.telnyxId), 2);
    assert.equal(asksFor(unknownId), MAX_RECEIPT_LOOKUPS);
    assert.equal(await statusOf(forgotten.id), "Sent");
    assert.equal(
      (await dueLookupsQuery(api.db.store.db, start + 100 * 24 * 60 * MINUTE, 10).execute()).length,
      0,
      "nothing left to ask",
    );
  });
});

// LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES sets the age a message is first asked at, and the first of
// the doubling waits: shorter and longer than the index's 15 minutes (receipt-lookup.ts reads the
// index further, or holds its rows to the age).
forEachEngine("receipt lookup after the age set", (engine) => {
  const started: Array<{ api: TestApi; fake: FakeTelnyx }> = [];
  const start = async (minutes: number) => {
    const env = { LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: String(minutes) };
    const apiAndFake = await startTelnyxApi(engine, {}, env);
    started.push(apiAndFake);
    return apiAndFake;
  };
  after(async () => {
    for (const { api, fake } of started) {
      await api.close();
      await fake.stop();
    }
  });

  for (const [minutes, phones] of [
    [5, ["+12125550311", "+12125550312"]],
    [60, ["+12125550313", "+12125550314"]],
  ] as const) {
    test(`${minutes} minutes: a message Sent longer is asked for, a younger one not, and asked again after twice that`, async () => {
      const { api, fake } = await start(minutes);
      const asksFor = (telnyxId: string) => fake.lookups.filter((id) => id === telnyxId).length;
      const sendOne = async (phone: string) => {
        const { sms, sent } = await sendToLead(api, phone);
        assert.equal(sent.status, "Sent");
        return { id: sms.id as string, telnyxId: sent.telnyxId as string };
      };
      const older = await sendOne(phones[0]);
      const younger = await sendOne(phones[1]);
      fake.statuses.set(older.telnyxId, "sent");
      fake.statuses.set(younger.telnyxId, "sent");
      const sentAt = async (id: string) =>
        Number(
          (
            await api.db.store.db
              .selectFrom("events")
              .select("sent_at")
              .where("id", "=", id)
              .executeTakeFirstOrThrow()
          ).sent_at,
        );
      const t0 = await sentAt(older.id);
      // As if handed over half the age later than the first.
      await api.db.store.db
        .updateTable("events")
        .set({ sent_at: t0 + (minutes / 2) * MINUTE })
        .where("id", "=", younger.id)
        .execute();
      // Just short of the age (and, for 60, well past the default 15 minutes): neither is asked.
      await api.pipeline.lookUpReceipts(t0 + minutes * MINUTE - 1);
      assert.equal(asksFor(older.telnyxId), 0, "not asked before the age set");
      await api.pipeline.lookUpReceipts(t0 + minutes * MINUTE);
      assert.equal(asksFor(older.telnyxId), 1, "asked once it has been Sent the age set");
      assert.equal(asksFor(younger.telnyxId), 0, "the younger message is not asked yet");
      // Not final: asked again once the age set has passed once more (the first wait), not before;
      // the younger one's turn comes meanwhile.
      await api.pipeline.lookUpReceipts(t0 + 2 * minutes * MINUTE - 1);
      assert.equal(asksFor(older.telnyxId), 1);
      assert.equal(asksFor(younger.telnyxId), 1);
      fake.statuses.set(older.telnyxId, "delivered");
      await api.pipeline.lookUpReceipts(t0 + 2 * minutes * MINUTE);
      assert.equal(asksFor(older.telnyxId), 2);
      assert.equal((await api.call("GET", `/events/${older.id}`)).json().status, "Delivered");
    });
  }
});

forEachEngine("receipt lookup's query", (engine) => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await openTestDatabase(engine);
  });
  after(() => tdb.cleanup());

  test("a round reads the index of Telnyx's messages still Sent that may be asked, not every message, whatever the age set", async () => {
    for (const afterMs of [undefined, 5 * MINUTE, 360 * MINUTE]) {
      const plan = await planOf(dueLookupsQuery(tdb.store.db, 1_000_000, 10, afterMs).compile());
      assert.match(plan, /events_receipt_lookup/, `${afterMs}: ${plan}`);
    }
  });

  const planOf = async (query: { sql: string; parameters: readonly unknown[] }) => {
    const db = tdb.store.db;
    // The parameters (the time and the limit) written in, so the plan is the one the engine runs.
    let i = 0;
    const text = query.sql.replace(/\$\d+|\?/g, () => String(query.parameters[i++]));
    return db.transaction().execute(async (trx) => {
      if (engine === "postgresql") {
        // The test tables are small enough for a scan to look cheaper: only whether the index can
        // serve the query is checked here.
        await sql`set local enable_seqscan = off`.execute(trx);
        const rows = await sql<Record<string, string>>`explain ${sql.raw(text)}`.execute(trx);
        return rows.rows.map((row) => Object.values(row).join(" ")).join("\n");
      }
      const rows = await sql<{ detail: string }>`explain query plan ${sql.raw(text)}`.execute(trx);
      return rows.rows.map((row) => row.detail).join("\n");
    });
  };
});
