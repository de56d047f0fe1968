import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { forEachEngine } from "./helpers/engines.js";
import {
  type CliDatabase,
  cliOk,
  createCliDatabase,
  ensureBuilt,
  post,
  type RunningProcess,
  type RunningServer,
  startServer,
  startWorker,
} from "./helpers/processes.js";

// Several worker processes on one database: `leadtrail serve` (its in-process worker) and two
// `leadtrail worker` processes race for the same 120 messages, which all fall due at once. Every
// message is claimed, gated and handed to the provider exactly once, and billed once.

const LEADS = 40;
const PER_LEAD = 3;

before(ensureBuilt, { timeout: 180_000 });

forEachEngine("several worker processes on one database", (engine) => {
  let db: CliDatabase;
  let server: RunningServer | undefined;
  const workers: RunningProcess[] = [];
  before(async () => {
    db = await createCliDatabase(engine);
  });
  after(async () => {
    for (const w of workers) await w.stop();
    await server?.stop();
    await db.cleanup();
  });

  test("120 messages, serve + 2 workers: each handed to the provider exactly once", async () => {
    const env = {
      ...db.env,
      LEADTRAIL_QUIET_HOURS: "off",
      LEADTRAIL_RATE_LIMIT_PER_MINUTE: "1000000",
      LEADTRAIL_WARMUP_TICK_SECONDS: "0",
    };
    const org = JSON.parse(
      (await cliOk(["org", "create", "--name", "Workers Co", "--credit", "100", "--json"], env)).stdout,
    ) as { organizationId: string; apiKey: string };
    server = await startServer([], env);
    const api = (path: string, body: unknown) => post(server!.baseUrl, path, org.apiKey, body);
    const sender = await api("/phone-numbers", {
      number: "+14155550100",
      name: "Main",
      enabled: true,
      isDefault: true,
      routing: { smsEnabled: true, tenDlcCampaignId: "CWORKERS" },
    });
    assert.equal(sender.status, 200, JSON.stringify(sender.body));

    // Scheduled an hour out so that no sender touches them while the others start; once all three
    // run, one UPDATE makes every message due at the same moment (a fixed margin fails on a slow
    // machine).
    const scheduledFor = new Date(Date.now() + 3_600_000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < LEADS; i++) {
      const lead = await api("/leads", {
        contact: { firstName: "Pat", phone: { number: `+1212555${2000 + i}` } },
      });
      assert.equal(lead.status, 201, JSON.stringify(lead.body));
      const conversations = await api(`/conversations/lead/${lead.body.id}`, {});
      const conversationId = conversations.body.items[0].id as string;
      for (let j = 0; j < PER_LEAD; j++) {
        const res = await api("/sms/send", {
          conversationId,
          text: `message ${j}`,
          scheduledFor,
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        ids.push(res.body.id);
      }
    }
    workers.push(...(await Promise.all([startWorker(env), startWorker(env)])));
    await db.query(
      "update events set next_attempt_at = $1 where organization_id = $2 and status = 'Scheduled'",
      [Date.now(), org.organizationId],
    );

    const notDelivered = async () =>
      Number(
        (
          await db.query<{ n: number | string }>(
            "select count(*) as n from events where organization_id = $1 and direction = 'outbound' and status <> 'Delivered'",
            [org.organizationId],
          )
        )[0]?.n,
      );
    const deadline = Date.now() + 60_000;
    while ((await notDelivered()) > 0) {
      assert.ok(Date.now() < deadline, `${await notDelivered()} messages still not delivered`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const handOvers = await db.query<{ event_id: string; n: number | string }>(
      "select event_id, count(*) as n from event_transitions where organization_id = $1 and stage = 'sending' group by event_id",
      [org.organizationId],
    );
    assert.equal(handOvers.length, ids.length);
    assert.ok(
      handOvers.every((h) => Number(h.n) === 1),
      "a message was handed to the provider twice",
    );
    const charges = await db.query<{ n: number | string }>(
      "select count(*) as n from usage_ledger where organization_id = $1 and event_id is not null",
      [org.organizationId],
    );
    assert.equal(Number(charges[0]?.n), ids.length);
    for (const w of workers) assert.equal(w.child.exitCode, null, "no worker crashed");
  });
});
