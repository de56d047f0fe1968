import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { forEachEngine } from "./helpers/engines.js";
import { until } from "./helpers/messaging.js";
import {
  type CliDatabase,
  cliOk,
  createCliDatabase,
  ensureBuilt,
  post,
  startServer,
} from "./helpers/processes.js";

// The simulator keeps its receipts in memory. kill -9 the server after it handed messages over and
// before their receipts came: started again, it delivers them, so they do not stay Sent for good.

before(ensureBuilt, { timeout: 180_000 });

forEachEngine("simulator: receipts owed when the server was killed", (engine) => {
  let db: CliDatabase;
  before(async () => {
    db = await createCliDatabase(engine);
  });
  after(() => db.cleanup());

  test("a message left Sent by a kill -9 is settled by the next start, as its scenario says", {
    timeout: 120_000,
  }, async () => {
    const env = { ...db.env, LEADTRAIL_QUIET_HOURS: "off", LEADTRAIL_WARMUP_TICK_SECONDS: "0" };
    const org = JSON.parse(
      (await cliOk(["org", "create", "--name", "Restart Co", "--json"], env)).stdout,
    ) as {
      apiKey: string;
    };
    const statusOf = async (baseUrl: string, id: string) => {
      const res = await fetch(`${baseUrl}/events/${id}`, {
        headers: { authorization: `Bearer ${org.apiKey}` },
      });
      return ((await res.json()) as { status: string }).status;
    };
    // Receipts a day away: only a new start can deliver them once this server is killed.
    const first = await startServer([], { ...env, LEADTRAIL_SIMULATOR_RECEIPT_SECONDS: "86400" });
    const sent: Record<string, string> = {};
    try {
      const call = (path: string, body: unknown) => post(first.baseUrl, path, org.apiKey, body);
      const number = await call("/phone-numbers", {
        number: "+14155550140",
        name: "Main",
        routing: { tenDlcCampaignId: "CRESTART" },
      });
      assert.equal(number.status, 200, JSON.stringify(number.body));
      // …0161 is delivered; …0400 is the simulator's undeliverable scenario.
      for (const phone of ["+12125550161", "+12125550400"]) {
        const lead = await call("/leads", { contact: { firstName: "Pat", phone: { number: phone } } });
        assert.equal(lead.status, 201, JSON.stringify(lead.body));
        const conversations = await call(`/conversations/lead/${lead.body.id}`, {});
        const sms = await call("/sms/send", {
          conversationId: conversations.body.items[0].id,
          text: "Hello",
        });
        assert.equal(sms.status, 201, JSON.stringify(sms.body));
        sent[phone] = sms.body.id;
      }
      for (const id of Object.values(sent)) {
        await until("Sent", async () => ((await statusOf(first.baseUrl, id)) === "Sent" ? true : undefined));
      }
    } finally {
      first.child.kill("SIGKILL");
      await first.stop();
    }

    const second = await startServer([], env);
    try {
      const settled = async (id: string, status: string) =>
        until(`${id} ${status}`, async () =>
          (await statusOf(second.baseUrl, id)) === status ? true : undefined,
        );
      await settled(sent["+12125550161"]!, "Delivered");
      await settled(sent["+12125550400"]!, "Undeliverable");
    } finally {
      await second.stop();
    }
  });
});
