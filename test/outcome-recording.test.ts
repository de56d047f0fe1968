import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import { TelnyxProvider } from "../src/messaging/providers/telnyx.js";
import { Worker } from "../src/messaging/worker.js";
import { createWallet } from "../src/store/billing-repo.js";
import { assertEventRecord, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine, PG_URL } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { addLead, addSenderNumber, type EventJson, until } from "./helpers/messaging.js";

// The provider has answered; writing down what it said fails (the database connection drops, a
// restart). The worker knows the answer: it must not drop it, leaving the message Sending for the
// reconcile to end as ProviderOutcomeUnknown (or, for an error that proves nothing was sent, never
// retried).

/** GET /events/{id}, checked against event.schema.json. */
async function eventRecord(api: TestApi, id: string): Promise<EventJson> {
  const record = (await api.call("GET", `/events/${id}`)).json() as EventJson;
  assertEventRecord(record);
  return record;
}

forEachEngine("recording a provider outcome", (engine) => {
  const onPostgres = engine === "postgresql" ? test : () => {};
  let api: TestApi;
  let fake: FakeTelnyx;
  let apiBaseUrl: string;
  before(async () => {
    fake = new FakeTelnyx();
    apiBaseUrl = `${await fake.start()}/v2`;
    // A retry an hour out: the message waits Queued for it.
    api = await startTestApi(engine, {
      env: { LEADTRAIL_QUIET_HOURS: "off", LEADTRAIL_RETRY_BASE_SECONDS: "3600" },
    });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  test("an answer that comes after the reconcile gave up still counts: a 429 is retried, a 422 fails with its code", async () => {
    const worker = new Worker(api.db.store.db, {
      engine,
      config: api.pipeline.config,
      provider: new TelnyxProvider({
        apiKey: "KEYtest",
        apiBaseUrl,
        publicUrl: "http://127.0.0.1:9",
        webhookUrlSecret: api.db.store.webhookUrlSecret,
      }),
    });
    // Another worker, past the first one's reconcile deadline.
    const reconciler = new Worker(api.db.store.db, {
      engine,
      config: api.pipeline.config,
      provider: new TelnyxProvider({
        apiKey: "KEYtest",
        apiBaseUrl,
        publicUrl: "http://127.0.0.1:9",
        webhookUrlSecret: api.db.store.webhookUrlSecret,
      }),
      now: () => Date.now() + (api.pipeline.config.reconcileSeconds + 60) * 1000,
    });
    const ids = new Map<string, string>();
    for (const [to, behaviour] of [
      ["+12125550421", "429"],
      ["+12125550422", "422"],
    ] as const) {
      fake.behaviour.set(to, behaviour);
      const { conversationId } = await addLead(api, to);
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Slow answer" });
      assert.equal(res.statusCode, 201, res.body);
      ids.set(behaviour, res.json().id as string);
    }
    const release = fake.hold();
    const round = worker.runOnce();
    const record = (id: string) => eventRecord(api, id);
    for (const id of ids.values())
      await until("the message to be handed over", async () =>
        (await record(id)).status === "Sending" ? true : undefined,
      );
    // Telnyx takes its time: the deadline passes and the other worker gives up on both.
    await reconciler.runOnce();
    for (const id of ids.values()) assert.equal((await record(id)).errorCode, "ProviderOutcomeUnknown");
    release();
    await round;
    const retrying = await record(ids.get("429")!);
    assert.equal(retrying.status, "Queued", JSON.stringify(retrying));
    assert.equal(retrying.retryCount, 1);
    // Telnyx's own code (Too many requests), not the HTTP status it came with.
    assert.equal(retrying.errorCode, "10011");
    assert.equal(retrying.failedAt, null);
    assert.ok(retrying.nextRetryAt);
    const rejected = await record(ids.get("422")!);
    assert.equal(rejected.status, "Failed", JSON.stringify(rejected));
    assert.equal(rejected.errorCode, "40310");
    assert.match(String(rejected.statusReason), /^Rejected by the provider \(code 40310\)/);
  });

  onPostgres(
    "an outcome whose write loses its connection is written again: a 429 is retried, not left Sending",
    async () => {
      const to = "+12125550411";
      fake.behaviour.set(to, "429");
      const { conversationId } = await addLead(api, to);
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Retry me" });
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      const worker = new Worker(api.db.store.db, {
        engine,
        config: api.pipeline.config,
        provider: new TelnyxProvider({
          apiKey: "KEYtest",
          apiBaseUrl,
          publicUrl: "http://127.0.0.1:9",
          webhookUrlSecret: api.db.store.webhookUrlSecret,
        }),
      });
      const release = fake.hold();
      const holder = new pg.Client({ connectionString: PG_URL });
      await holder.connect();
      try {
        await holder.query(`set search_path to ${api.db.options.pgSchema}`);
        const round = worker.runOnce().then(
          () => null,
          (error: unknown) => error,
        );
        const status = async () =>
          (
            await api.db.store.db
              .selectFrom("events")
              .select("status")
              .where("id", "=", id)
              .executeTakeFirst()
          )?.status;
        await until("the message to be handed over", async () =>
          (await status()) === "Sending" ? true : undefined,
        );
        // The outcome's transaction waits for the message's row, and its connection is cut meanwhile.
        await holder.query("begin");
        await holder.query("select id from events where id = $1 for update", [id]);
        const holderPid = (await holder.query("select pg_backend_pid() as pid")).rows[0].pid as number;
        release();
        const waiting = await until("the outcome to wait for the row", async () => {
          const rows = (
            await holder.query("select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))", [
              holderPid,
            ])
          ).rows as Array<{ pid: number }>;
          return rows[0]?.pid;
        });
        await holder.query("select pg_terminate_backend($1)", [waiting]);
        await holder.query("commit");
        await round;
      } finally {
        await holder.end();
      }
      const record = await eventRecord(api, id);
      assert.equal(record.status, "Queued", JSON.stringify(record));
      assert.equal(record.retryCount, 1);
      assert.equal(record.errorCode, "10011");
      assert.ok(record.nextRetryAt);
      assert.equal(fake.requests.filter((r) => r.body.to === to).length, 1);
    },
  );

  onPostgres(
    "a receipt batch and a worker's outcome that lock the same messages and wallet in opposite orders: the deadlock's victim runs again, both apply",
    async () => {
      const db = api.db.store.db;
      const org = api.org.organizationId;
      const wallet = async () =>
        Number(
          (
            await db
              .selectFrom("wallets")
              .select("balance_micros")
              .where("organization_id", "=", org)
              .executeTakeFirstOrThrow()
          ).balance_micros,
        );
      // X: another process's message, with Telnyx (not yet answered there).
      const lead = await addLead(api, "+12125550431");
      const x = (
        await api.call("POST", "/sms/send", {
          conversationId: lead.conversationId,
          text: "Elsewhere",
          scheduledFor: new Date(Date.now() + 3_600_000).toISOString(),
        })
      ).json().id as string;
      await db
        .updateTable("events")
        .set({ status: "Sending", sending_started_at: Date.now(), next_attempt_at: Date.now() + 3_600_000 })
        .where("id", "=", x)
        .execute();
      // B: this worker's message; Telnyx takes it and holds its answer.
      const other = await addLead(api, "+12125550432");
      const b = (
        await api.call("POST", "/sms/send", { conversationId: other.conversationId, text: "Here" })
      ).json().id as string;
      const before = await wallet();
      const worker = new Worker(db, {
        engine,
        config: api.pipeline.config,
        provider: new TelnyxProvider({
          apiKey: "KEYtest",
          apiBaseUrl,
          publicUrl: "http://127.0.0.1:9",
          webhookUrlSecret: api.db.store.webhookUrlSecret,
        }),
      });
      const release = fake.hold();
      const holder = new pg.Client({ connectionString: PG_URL });
      await holder.connect();
      try {
        await holder.query(`set search_path to ${api.db.options.pgSchema}`);
        const round = worker.runOnce();
        const status = async (id: string) =>
          (await db.selectFrom("events").select("status").where("id", "=", id).executeTakeFirst())?.status;
        await until("B to be handed over", async () => ((await status(b)) === "Sending" ? true : undefined));
        await holder.query("begin");
        await holder.query("select id from events where id = $1 for update", [b]);
        const holderPid = (await holder.query("select pg_backend_pid() as pid")).rows[0].pid as number;
        const blocked = async (n: number) =>
          until(`${n} transactions to wait for B`, async () => {
            // Behind the holder, or behind one that waits for it (a second waiter queues on the first).
            const rows = (
              await holder.query(
                `select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))
                 or pg_blocking_pids(pid) && array(select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid)))`,
                [holderPid],
              )
            ).rows;
            return rows.length >= n ? true : undefined;
          });
        // The worker's outcome for B waits for B's row (it debits the wallet next)...
        release();
        await blocked(1);
        // ...and a receipt batch bills X (the wallet's row) and then waits for B's row too.
        const receipt = (id: string) => ({
          eventId: id,
          organizationId: org,
          providerMessageId: `tx-${id}`,
          kind: "sent" as const,
          occurredAt: Date.now(),
        });
        const receipts = Promise.all([
          api.pipeline.applyReceipt(receipt(x)),
          api.pipeline.applyReceipt(receipt(b)),
        ]);
        await blocked(2);
        await holder.query("commit");
        await Promise.all([round, receipts]);
      } finally {
        await holder.end();
      }
      for (const id of [x, b]) {
        const record = await eventRecord(api, id);
        assert.equal(record.status, "Sent", JSON.stringify(record));
        assert.equal(record.billingStatus, "Billed");
        const lines = await db
          .selectFrom("usage_ledger")
          .select("status")
          .where("event_id", "=", id)
          .execute();
        assert.deepEqual(
          lines.map((l) => l.status),
          ["charged"],
        );
      }
      assert.equal(before - (await wallet()), 2 * 7_900, "each billed once");
    },
  );
});
