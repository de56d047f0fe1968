import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber, startSimulator, waitForEvent } from "./helpers/messaging.js";

// Messages sent side by side are written in one batch; messages that fall due together are claimed,
// moved to Sending and recorded as Sent in batches (one statement for many messages), and their
// delivered receipts applied in batches too. Each must still end exactly as if it went alone: its own values, its own log, billed once at its own price,
// counted once toward its sender's health, and the wallet debited by the sum.

forEachEngine("worker batches", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine); // the worker starts only once every message is queued
    await addSenderNumber(api);
  });
  after(() => api.close());

  test("six messages due together: each Sent and Delivered once, billed at its own price, counted once", async () => {
    const walletBefore = (await api.call("GET", "/wallets/me")).json().balance as number;
    const texts = ["One segment", "x".repeat(161), "Hi — unicode", "Four", "Five", "y".repeat(320)];
    const conversations: string[] = [];
    for (const i of texts.keys()) conversations.push((await addLead(api, `+1212555071${i}`)).conversationId);
    // Sent side by side, so that they are written as one batch too.
    const ids = await Promise.all(
      texts.map(async (text, i) => {
        const res = await api.call("POST", "/sms/send", { conversationId: conversations[i], text });
        assert.equal(res.statusCode, 201, res.body);
        return res.json().id as string;
      }),
    );
    for (const [i, conversationId] of conversations.entries()) {
      const row = await api.db.store.db
        .selectFrom("conversations")
        .selectAll()
        .where("id", "=", conversationId)
        .executeTakeFirstOrThrow();
      assert.equal(row.last_snippet, texts[i]!.slice(0, 160));
      assert.ok(row.last_phone_number_id, "the conversation remembers its sender (sticky selection)");
    }
    const rows = await api.db.store.db
      .selectFrom("events")
      .select(["id", "segments"])
      .where("id", "in", ids)
      .execute();
    const segmentsOf = new Map(rows.map((r) => [r.id, r.segments!]));
    assert.deepEqual(
      ids.map((id) => segmentsOf.get(id)),
      [1, 2, 1, 1, 1, 3],
    );
    startSimulator(api);
    let total = 0;
    for (const id of ids) {
      const done = await waitForEvent(api, id, (e) => e.status === "Delivered");
      const segments = segmentsOf.get(id)!;
      assert.equal(done.billingStatus, "Billed");
      assert.equal(Math.round((done.billableAmount as number) * 1e6), segments * 7900);
      assert.ok(done.sentAt && String(done.providerMessageId).startsWith("sim_"));
      total += segments * 7900;
      const detail = (await api.call("GET", `/events/detail/${id}`)).json();
      assert.deepEqual(
        detail.transitions.map((t: { toStatus: string; applied: boolean }) => [t.toStatus, t.applied]),
        [
          ["Queued", true],
          ["Sending", true],
          ["Sent", true],
          ["Delivered", true],
        ],
      );
    }
    const lines = await api.db.store.db
      .selectFrom("usage_ledger")
      .select(["event_id", "amount_micros"])
      .where("organization_id", "=", api.org.organizationId)
      .where("event_id", "in", ids)
      .execute();
    assert.equal(lines.length, ids.length);
    const health = await api.db.store.db
      .selectFrom("phone_number_health_days")
      .select((eb) => eb.fn.sum<number | string>("sent").as("sent"))
      .where("organization_id", "=", api.org.organizationId)
      .executeTakeFirst();
    assert.equal(Number(health?.sent), ids.length, "each delivery counts once toward the sender's health");
    const walletAfter = (await api.call("GET", "/wallets/me")).json().balance as number;
    assert.equal(Math.round((walletBefore - walletAfter) * 1e6), total);
  });
});
