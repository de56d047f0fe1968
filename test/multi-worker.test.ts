import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { loadMessagingConfig } from "../src/config.js";
import { Messaging } from "../src/messaging/messaging.js";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { createWallet } from "../src/store/billing-repo.js";
import { Store } from "../src/store/store.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

// Several worker "processes" (each its own Store and connection pool) on one database: every message
// is claimed, gated and handed to the provider exactly once.

forEachEngine("several workers on one database", (engine) => {
  let api: TestApi;
  const workers: Array<{ store: Store; pipeline: Messaging }> = [];
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "off" } });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 100_000_000);
  });
  after(async () => {
    for (const w of workers) {
      await w.pipeline.stop();
      await w.store.close();
    }
    await api.close();
  });

  test("120 messages, 3 workers: each sent exactly once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { conversationId } = await addLead(api, `+1212555${String(2000 + i)}`);
      for (let j = 0; j < 3; j++) {
        const res = await api.call("POST", "/sms/send", { conversationId, text: `message ${j}` });
        assert.equal(res.statusCode, 201);
        ids.push(res.json().id);
      }
    }
    const config = loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off" });
    for (let w = 0; w < 3; w++) {
      const store = await Store.open(api.db.options);
      const pipeline = new Messaging(store.db, store.engine, config);
      pipeline.startWorker(new SimulatorProvider(pipeline, 5), { pollMs: 5, batchSize: 7 });
      workers.push({ store, pipeline });
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const pending = await api.db.store.db
        .selectFrom("events")
        .select((eb) => eb.fn.countAll().as("n"))
        .where("organization_id", "=", api.org.organizationId)
        .where("id", "in", ids)
        .where("status", "!=", "Delivered")
        .executeTakeFirst();
      if (Number(pending?.n) === 0) break;
      assert.ok(Date.now() < deadline, `${pending?.n} messages still not delivered`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const handOvers = await api.db.store.db
      .selectFrom("event_transitions")
      .select(["event_id", (eb) => eb.fn.countAll().as("n")])
      .where("organization_id", "=", api.org.organizationId)
      .where("stage", "=", "sending")
      .groupBy("event_id")
      .execute();
    assert.equal(handOvers.length, ids.length);
    assert.ok(
      handOvers.every((h) => Number(h.n) === 1),
      "a message was handed to the provider twice",
    );
    const charges = await api.db.store.db
      .selectFrom("usage_ledger")
      .select((eb) => eb.fn.countAll().as("n"))
      .where("organization_id", "=", api.org.organizationId)
      .executeTakeFirst();
    assert.equal(Number(charges?.n), ids.length);
  });
});
