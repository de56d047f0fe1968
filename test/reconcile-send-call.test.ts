import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sendCallTimeoutMs } from "../src/messaging/provider.js";
import { createProvider } from "../src/messaging/providers/index.js";
import { Worker } from "../src/messaging/worker.js";
import { createWallet } from "../src/store/billing-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { addLead, addSenderNumber, isFinal, waitForEvent } from "./helpers/messaging.js";
import { telnyxEnv } from "./helpers/telnyx.js";

// A reconcile deadline (LEADTRAIL_RECONCILE_SECONDS) shorter than Telnyx's 10 s call timeout: the
// provider that `serve` builds gives up on its call before the deadline, so the reconcile never ends
// a message ProviderOutcomeUnknown while its call is still running.

test("the send call's timeout: 10 s, or half the reconcile deadline when that is shorter", () => {
  assert.equal(sendCallTimeoutMs(300), 10_000);
  assert.equal(sendCallTimeoutMs(20), 10_000);
  assert.equal(sendCallTimeoutMs(3), 1_500);
  assert.equal(sendCallTimeoutMs(0.5), 250);
});

forEachEngine("reconcile deadline and the send call", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  let other: Worker;
  before(async () => {
    fake = new FakeTelnyx();
    const url = await fake.start();
    api = await startTestApi(engine, {
      env: { ...telnyxEnv(fake, url), LEADTRAIL_RECONCILE_SECONDS: "3" },
    });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    api.pipeline.startWorker(
      createProvider(api.pipeline.config, api.pipeline, api.db.store.webhookUrlSecret),
      { pollMs: 10 },
    );
    // A second worker, as `leadtrail worker` beside `serve`: while one waits on its call, the other
    // runs the reconcile.
    other = new Worker(api.db.store.db, {
      engine,
      config: api.pipeline.config,
      provider: createProvider(api.pipeline.config, api.pipeline, api.db.store.webhookUrlSecret),
      pollMs: 10,
    });
    other.start();
  });
  after(async () => {
    await other.stop();
    await api.close();
    await fake.stop();
  });

  test("Telnyx slower than the deadline: the call is given up (Timeout) before the reconcile ends the message, never resent", async () => {
    const release = fake.hold();
    try {
      const { conversationId } = await addLead(api, "+12125550231");
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Slow Telnyx" });
      assert.equal(res.statusCode, 201, res.body);
      const failed = await waitForEvent(api, res.json().id, isFinal);
      assert.equal(failed.status, "Failed");
      assert.equal(failed.errorCode, "ProviderOutcomeUnknown");
      const { transitions } = (await api.call("GET", `/events/detail/${failed.id}`)).json() as {
        transitions: { stage: string; message: string }[];
      };
      const stages = transitions.map((t) => t.stage);
      const gaveUp = transitions.findIndex((t) => t.stage === "provider" && /\(Timeout\)/.test(t.message));
      assert.ok(gaveUp >= 0, `the call's own timeout is recorded: ${JSON.stringify(transitions)}`);
      assert.ok(gaveUp < stages.indexOf("reconcile"), `the call was over before the reconcile: ${stages}`);
      assert.equal(stages.filter((s) => s === "sending").length, 1, "handed to Telnyx once");
    } finally {
      release();
    }
  });
});
