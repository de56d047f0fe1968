import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { OUTCOME_UNKNOWN } from "../src/domain/message-status.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { until } from "./helpers/messaging.js";
import {
  type CliDatabase,
  cliOk,
  createCliDatabase,
  ensureBuilt,
  post,
  startServer,
} from "./helpers/processes.js";
import { telnyxEnv } from "./helpers/telnyx.js";

// SIGTERM while Telnyx holds a send call: the process ends within LEADTRAIL_SHUTDOWN_GRACE_SECONDS,
// not at the call's timeout (10 s), and the message is left as a crash leaves it: Sending, settled
// later by the reconcile, never sent twice.

before(ensureBuilt, { timeout: 180_000 });

forEachEngine("shutdown with a provider call in flight", (engine) => {
  let db: CliDatabase;
  let fake: FakeTelnyx;
  before(async () => {
    db = await createCliDatabase(engine);
    fake = new FakeTelnyx();
    await fake.start();
  });
  after(async () => {
    await fake.stop();
    await db.cleanup();
  });

  test("SIGTERM ends serve within the grace; the held message stays Sending and the reconcile settles it, unsent again", {
    timeout: 120_000,
  }, async () => {
    const env = {
      ...db.env,
      ...telnyxEnv(fake, fake.url),
      LEADTRAIL_SHUTDOWN_GRACE_SECONDS: "1",
      // A send call may then run 10 s, the longest there is.
      LEADTRAIL_RECONCILE_SECONDS: "600",
      LEADTRAIL_WARMUP_TICK_SECONDS: "0",
    };
    const org = JSON.parse((await cliOk(["org", "create", "--name", "Grace Co", "--json"], env)).stdout) as {
      apiKey: string;
    };
    const to = "+12125550171";
    const held = fake.holdRecipient(to);
    const first = await startServer([], env);
    let id: string;
    try {
      const call = (path: string, body: unknown) => post(first.baseUrl, path, org.apiKey, body);
      const number = await call("/phone-numbers", {
        number: "+14155550170",
        name: "Main",
        routing: { tenDlcCampaignId: "CGRACE" },
      });
      assert.equal(number.status, 200, JSON.stringify(number.body));
      const lead = await call("/leads", { contact: { firstName: "Pat", phone: { number: to } } });
      assert.equal(lead.status, 201, JSON.stringify(lead.body));
      const conversations = await call(`/conversations/lead/${lead.body.id}`, {});
      const sms = await call("/sms/send", { conversationId: conversations.body.items[0].id, text: "Hello" });
      assert.equal(sms.status, 201, JSON.stringify(sms.body));
      id = sms.body.id;
      await held.arrived;
    } finally {
      assert.equal(await first.stop(), 0);
    }
    const row = async () =>
      (
        await db.query<{ status: string; error_code: string | null }>(
          "select status, error_code from events where id = $1",
          [id],
        )
      )[0]!;
    // Exited before the call's timeout could record an outcome: left as a crash leaves it.
    assert.deepEqual({ ...(await row()) }, { status: "Sending", error_code: null });

    // Telnyx takes it after all; the reconcile deadline then passes (made due now) and a new start
    // settles the message without sending it again.
    held.release();
    await until("Telnyx answered the held call", async () =>
      fake.requests.some((r) => r.body.to === to) ? true : undefined,
    );
    await db.query("update events set next_attempt_at = $1 where id = $2", [Date.now(), id]);
    const second = await startServer([], env);
    try {
      const settled = await until("reconciled", async () => {
        const current = await row();
        return current.status === "Failed" ? current : undefined;
      });
      assert.equal(settled.error_code, OUTCOME_UNKNOWN);
    } finally {
      assert.equal(await second.stop(), 0);
    }
    assert.equal(fake.requests.filter((r) => r.body.to === to).length, 1, "handed over once");
  });
});
