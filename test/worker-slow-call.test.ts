import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { loadMessagingConfig, type MessagingConfig } from "../src/config.js";
import { TelnyxProvider } from "../src/messaging/providers/telnyx.js";
import { Worker } from "../src/messaging/worker.js";
import { createWallet } from "../src/store/billing-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { addLead, addSenderNumber, until, waitForEvent } from "./helpers/messaging.js";

// One send call that Telnyx is slow to answer (up to the call's timeout) must not hold the worker:
// messages queued after it are still handed over and recorded while it runs, and its own answer is
// recorded when it comes, also when the worker is being stopped.

forEachEngine("a slow send call", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  let worker: Worker;
  before(async () => {
    fake = new FakeTelnyx();
    await fake.start();
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "off" } });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    worker = api.pipeline.startWorker(telnyx(), { pollMs: 10 });
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  /** Telnyx at the fake, with a timeout longer than any wait here: only a release ends a held call. */
  function telnyx(): TelnyxProvider {
    return new TelnyxProvider({
      apiKey: "KEYtest",
      apiBaseUrl: `${fake.url}/v2`,
      publicUrl: "http://127.0.0.1:9",
      webhookUrlSecret: api.db.store.webhookUrlSecret,
      timeoutMs: 60_000,
    });
  }

  /** A worker of its own (the pipeline's is stopped by then), claiming one message a batch. */
  function oneMessageABatch(config: MessagingConfig): Worker {
    return new Worker(api.db.store.db, { engine, config, provider: telnyx(), batchSize: 1, pollMs: 10 });
  }

  async function send(to: string, text: string): Promise<string> {
    const { conversationId } = await addLead(api, to);
    const res = await api.call("POST", "/sms/send", { conversationId, text });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  }

  test("messages queued while one call is held are handed over and recorded Sent; the held one is recorded when answered", async () => {
    const slowTo = "+12125550801";
    const held = fake.holdRecipient(slowTo);
    try {
      const slow = await send(slowTo, "Telnyx is slow to answer this one");
      await held.arrived;
      const others = [await send("+12125550802", "Next one"), await send("+12125550803", "And another")];
      for (const id of others) {
        const sent = await waitForEvent(api, id, (e) => e.status === "Sent");
        assert.ok(sent.providerMessageId, JSON.stringify(sent));
      }
      assert.equal(
        fake.sent.filter((s) => s.body.to !== slowTo).length,
        2,
        "both handed over while the call is held",
      );
      const waiting = await waitForEvent(api, slow, () => true);
      assert.equal(waiting.status, "Sending", "the held call is still under way");
      held.release();
      const answered = await waitForEvent(api, slow, (e) => e.status === "Sent");
      assert.equal(answered.providerMessageId, fake.sent.find((s) => s.body.to === slowTo)?.id);
      assert.equal(fake.requests.filter((r) => r.body.to === slowTo).length, 1, "handed over once");
    } finally {
      held.release();
    }
  });

  test("stop() waits for a call in flight and records its answer", async () => {
    const slowTo = "+12125550804";
    const held = fake.holdRecipient(slowTo);
    try {
      const id = await send(slowTo, "Answered after stop() began");
      await held.arrived;
      let stopped = false;
      const stopping = worker.stop().then(() => {
        stopped = true;
      });
      // A round trip through the API while stop() runs: it has not returned, the call being held.
      assert.equal((await waitForEvent(api, id, () => true)).status, "Sending");
      assert.equal(stopped, false, "stop() waits for the call in flight");
      held.release();
      await stopping;
      const record = await waitForEvent(api, id, () => true);
      assert.equal(record.status, "Sent", "recorded before stop() returned");
      assert.equal(record.providerMessageId, fake.sent.find((s) => s.body.to === slowTo)?.id);
    } finally {
      held.release();
    }
  });

  test("calls in flight are bounded: with every call held, a worker claims four batches and waits for a free slot", async () => {
    // The pipeline's worker was stopped above: this one, one message a batch, is the only one.
    const recipients = ["+12125550811", "+12125550812", "+12125550813", "+12125550814", "+12125550815"];
    const holds = recipients.map((to) => fake.holdRecipient(to));
    let waiting = 0;
    let mostWaiting = 0;
    let arrived = 0;
    for (const held of holds) {
      void held.arrived.then(() => {
        arrived++;
        mostWaiting = Math.max(mostWaiting, ++waiting);
      });
    }
    const ids: string[] = [];
    for (const to of recipients) ids.push(await send(to, "Held"));
    const bounded = oneMessageABatch(api.pipeline.config);
    try {
      bounded.start();
      await until("four calls held", async () => (arrived >= 4 ? true : undefined));
      // The fifth message is claimed only once a call ends (the first's: due first, claimed first).
      const statuses = await Promise.all(
        ids.map(async (id) => (await waitForEvent(api, id, () => true)).status),
      );
      assert.deepEqual(statuses, ["Sending", "Sending", "Sending", "Sending", "Queued"]);
      waiting--;
      holds[0]!.release();
      await until("the fifth call", async () => (arrived === 5 ? true : undefined));
    } finally {
      for (const held of holds) held.release();
      await bounded.stop();
    }
    assert.equal(mostWaiting, 4, "never more than four calls in flight");
    for (const id of ids) assert.equal((await waitForEvent(api, id, () => true)).status, "Sent");
    for (const to of recipients) assert.equal(fake.requests.filter((r) => r.body.to === to).length, 1);
  });

  test("LEADTRAIL_WORKER_IN_FLIGHT_BATCHES=2: with every call held, a worker claims two batches and waits for a free slot", async () => {
    const recipients = ["+12125550821", "+12125550822", "+12125550823"];
    const holds = recipients.map((to) => fake.holdRecipient(to));
    let arrived = 0;
    for (const held of holds) void held.arrived.then(() => arrived++);
    const ids: string[] = [];
    for (const to of recipients) ids.push(await send(to, "Held"));
    const bounded = oneMessageABatch(
      loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off", LEADTRAIL_WORKER_IN_FLIGHT_BATCHES: "2" }),
    );
    try {
      bounded.start();
      await until("two calls held", async () => (arrived >= 2 ? true : undefined));
      // The third message is claimed only once a call ends.
      const statuses = await Promise.all(
        ids.map(async (id) => (await waitForEvent(api, id, () => true)).status),
      );
      assert.deepEqual(statuses, ["Sending", "Sending", "Queued"]);
      assert.equal(arrived, 2, "never more than two calls in flight");
      holds[0]!.release();
      await until("the third call", async () => (arrived === 3 ? true : undefined));
    } finally {
      for (const held of holds) held.release();
      await bounded.stop();
    }
    for (const id of ids) assert.equal((await waitForEvent(api, id, () => true)).status, "Sent");
  });
});
