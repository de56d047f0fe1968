import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { InboundMessage, Receipt } from "../src/messaging/provider.js";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { applyReceiptsIn } from "../src/messaging/receipts.js";
import { Worker } from "../src/messaging/worker.js";
import { createWallet } from "../src/store/billing-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber, type EventJson } from "./helpers/messaging.js";

// What the worker records from a provider's answer, one round at a time (runOnce returns once the
// outcome is committed), with a clock the test moves: a send call that returns "a minute later"
// than the receipt it raced, a retry that is due.

interface Transition {
  occurredAt: string;
  applied: boolean;
  toStatus: string;
  stage: string;
  message: string;
}

forEachEngine("worker outcomes", (engine) => {
  let api: TestApi;
  let provider: SimulatorProvider;
  let worker: Worker;
  /** Added to the worker's clock. */
  let skew = 0;
  /** Added to `skew` once a receipt was applied (the send call returns that much later). */
  let callReturnsAfterReceipt = 0;

  before(async () => {
    api = await startTestApi(engine, {
      env: { LEADTRAIL_QUIET_HOURS: "off", LEADTRAIL_RETRY_MAX_ATTEMPTS: "1" },
    });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    // The simulator's receipts go to the pipeline as they would from a webhook.
    const events = {
      receipt: async (receipt: Receipt) => {
        await api.pipeline.receipt(receipt);
        skew += callReturnsAfterReceipt;
      },
      inbound: (message: InboundMessage) => api.pipeline.inbound(message),
    };
    provider = new SimulatorProvider(events, 60_000);
    worker = new Worker(api.db.store.db, {
      engine,
      config: api.pipeline.config,
      provider,
      now: () => Date.now() + skew,
    });
  });
  after(async () => {
    await provider.close();
    await api.close();
  });

  const send = async (phone: string) => {
    const { conversationId } = await addLead(api, phone);
    const res = await api.call("POST", "/sms/send", { conversationId, text: "Hello from Summit." });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  };
  const record = async (id: string) => (await api.call("GET", `/events/${id}`)).json() as EventJson;
  const transitions = async (id: string) =>
    (await api.call("GET", `/events/detail/${id}`)).json().transitions as Transition[];

  test("0700: a delivered receipt before the send call returns: sentAt is not after deliveredAt, the acceptance is logged", async () => {
    const id = await send("+12125550700");
    callReturnsAfterReceipt = 60_000;
    try {
      await worker.runOnce();
    } finally {
      callReturnsAfterReceipt = 0;
    }
    const done = await record(id);
    assert.equal(done.status, "Delivered");
    assert.ok(done.sentAt && done.deliveredAt);
    assert.ok(
      Date.parse(String(done.sentAt)) <= Date.parse(String(done.deliveredAt)),
      `sentAt ${done.sentAt} after deliveredAt ${done.deliveredAt}`,
    );
    assert.ok(String(done.providerMessageId).startsWith("sim_"));
    const accepted = (await transitions(id)).filter((t) => t.stage === "provider");
    assert.equal(accepted.length, 1, JSON.stringify(accepted));
    assert.equal(accepted[0]!.applied, false);
    assert.equal(accepted[0]!.toStatus, "Sent");
    assert.match(accepted[0]!.message, /^Accepted by simulator as sim_.*already Delivered\.$/);
  });

  test("0900: a failure receipt before the send call returns: the failure stands, the acceptance is logged as ignored", async () => {
    const id = await send("+12125550900");
    await worker.runOnce();
    const done = await record(id);
    assert.equal(done.status, "Failed");
    assert.equal(done.errorCode, "40001");
    assert.match(String(done.statusReason), /Simulated sending failure/);
    assert.equal(done.billingStatus, "NotBilled", "failed before any acceptance: known not billed");
    assert.equal(done.sentAt, null, "it never left the provider");
    const log = await transitions(id);
    const accepted = log.find((t) => t.stage === "provider");
    assert.ok(accepted, JSON.stringify(log));
    assert.equal(accepted.applied, false);
    assert.equal(log.at(-1)!.toStatus, "Sent");
  });

  test("one round cannot spend more than the wallet holds: messages past the balance are blocked", async () => {
    const db = api.db.store.db;
    const org = api.org.organizationId;
    const setBalance = (micros: number) =>
      db.updateTable("wallets").set({ balance_micros: micros }).where("organization_id", "=", org).execute();
    const { balance_micros: before } = await db
      .selectFrom("wallets")
      .select("balance_micros")
      .where("organization_id", "=", org)
      .executeTakeFirstOrThrow();
    // Room for one one-segment message ($0.0079), not two.
    await setBalance(2 * 7_900 - 1);
    try {
      const ids = [await send("+12125550131"), await send("+12125550132"), await send("+12125550133")];
      await worker.runOnce();
      const states = await Promise.all(ids.map(record));
      assert.deepEqual(
        states.map((e) => e.status).sort(),
        ["Blocked", "Blocked", "Sent"],
        JSON.stringify(states.map((e) => [e.status, e.billingStatus])),
      );
      for (const e of states.filter((x) => x.status === "Blocked"))
        assert.equal(e.billingStatus, "InsufficientFunds");
      const { balance_micros: after } = await db
        .selectFrom("wallets")
        .select("balance_micros")
        .where("organization_id", "=", org)
        .executeTakeFirstOrThrow();
      assert.equal(Number(after), 7_900 - 1, "one message billed, the wallet never below zero");
    } finally {
      await setBalance(Number(before));
    }
  });

  test("two workers' rounds at once cannot spend more than the wallet holds either", async () => {
    const db = api.db.store.db;
    const org = api.org.organizationId;
    const balance = async () =>
      Number(
        (
          await db
            .selectFrom("wallets")
            .select("balance_micros")
            .where("organization_id", "=", org)
            .executeTakeFirstOrThrow()
        ).balance_micros,
      );
    const before = await balance();
    const setBalance = (micros: number) =>
      db.updateTable("wallets").set({ balance_micros: micros }).where("organization_id", "=", org).execute();
    // Room for exactly five one-segment messages ($0.0079 each); twelve are due, six per worker.
    await setBalance(5 * 7_900);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) ids.push(await send(`+1212555${String(3100 + i)}`));
      const workers = [0, 1].map(
        () =>
          new Worker(db, {
            engine,
            config: api.pipeline.config,
            provider,
            now: () => Date.now() + skew,
            batchSize: 6,
          }),
      );
      await Promise.all(workers.map((w) => w.runOnce()));
      const states = await Promise.all(ids.map(record));
      const blocked = states.filter((e) => e.status === "Blocked");
      assert.equal(
        states.length - blocked.length,
        5,
        JSON.stringify(states.map((e) => [e.status, e.billingStatus])),
      );
      for (const e of blocked) assert.equal(e.billingStatus, "InsufficientFunds");
      assert.equal(await balance(), 0, "five billed, the wallet never below zero");
    } finally {
      await setBalance(before);
    }
  });

  test("a late 'sent' receipt stamped after the delivery does not put sentAt after deliveredAt", async () => {
    const id = await send("+12125550120");
    // As if the worker had moved it to Sending and died before the provider's answer.
    await api.db.store.db
      .updateTable("events")
      .set({ status: "Sending", sending_started_at: Date.now(), next_attempt_at: null })
      .where("id", "=", id)
      .execute();
    const deliveredAt = Date.now();
    const receipt = { eventId: id, organizationId: api.org.organizationId, providerMessageId: "late-sent" };
    await api.pipeline.receipt({ ...receipt, kind: "delivered", occurredAt: deliveredAt });
    await api.pipeline.receipt({ ...receipt, kind: "sent", occurredAt: deliveredAt + 5_000 });
    const done = await record(id);
    assert.equal(done.status, "Delivered");
    assert.equal(done.sentAt, new Date(deliveredAt).toISOString());
  });

  test("a delivery the provider stamps before our record of the send bounds sentAt (one receipt, and a batch)", async () => {
    const ids = [await send("+12125550141"), await send("+12125550142"), await send("+12125550143")];
    const recordedAt = Date.now();
    // As if the worker's record of the acceptance had committed after the provider's delivery time.
    await api.db.store.db
      .updateTable("events")
      .set({
        status: "Sent",
        sending_started_at: recordedAt - 100,
        sent_at: recordedAt,
        billing_status: "Billed",
        next_attempt_at: null,
      })
      .where("id", "in", ids)
      .execute();
    const deliveredAt = recordedAt - 40;
    const receipt = (id: string) => ({
      eventId: id,
      organizationId: api.org.organizationId,
      providerMessageId: `early-${id}`,
      kind: "delivered" as const,
      occurredAt: deliveredAt,
    });
    await api.pipeline.receipt(receipt(ids[0]!));
    await api.db.store.db
      .transaction()
      .execute((trx) => applyReceiptsIn(trx, [receipt(ids[1]!), receipt(ids[2]!)]));
    for (const id of ids) {
      const done = await record(id);
      assert.equal(done.status, "Delivered");
      assert.equal(done.deliveredAt, new Date(deliveredAt).toISOString());
      assert.equal(done.sentAt, done.deliveredAt, id);
    }
  });

  test("a warmup message to a number that opted out after it was queued is Blocked, not sent", async () => {
    const warming = await addSenderNumber(api, { number: "+14155550131", warmup_enabled: 1, is_default: 0 });
    const queued = await api.pipeline.warmupTick(Date.now() + skew);
    const out = queued.find((e) => e.from_phone_number === warming.number);
    assert.ok(out, "the exchange was queued");
    const res = await api.call("POST", "/suppressions", {
      organizationId: api.org.organizationId,
      phoneNumber: out.to_phone_number,
      channel: "sms",
      reason: "said STOP",
    });
    assert.equal(res.statusCode, 201, res.body);
    await worker.runOnce();
    const blocked = await record(out.id);
    assert.equal(blocked.status, "Blocked");
    assert.equal(blocked.complianceAction, "Suppressed");
    await api.db.store.db.updateTable("phone_numbers").set({ warmup_enabled: 0 }).execute();
  });

  test("a transient error's reason is the status reason while retrying, and when the retries run out", async () => {
    const id = await send("+12125550500");
    await worker.runOnce();
    const retrying = await record(id);
    assert.equal(retrying.status, "Queued");
    assert.equal(retrying.errorCode, "503");
    assert.equal(
      retrying.statusReason,
      "Temporary provider error (code 503): Simulated provider outage. Retrying (1 of 1).",
    );
    skew += 3_600_000; // the retry is due
    await worker.runOnce();
    const failed = await record(id);
    assert.equal(failed.status, "Failed");
    assert.equal(
      failed.statusReason,
      "The provider kept failing (code 503): Simulated provider outage. Gave up after 1 retry.",
    );
  });

  test("a cancel after a change written by a clock ahead of ours is not recorded before that change", async () => {
    // The worker (another process, its clock a minute ahead) queued the retry; the API cancels it.
    skew += 60_000;
    const id = await send("+14155550500");
    await worker.runOnce();
    const retryAt = Date.parse((await transitions(id)).at(-1)!.occurredAt);
    assert.ok(retryAt > Date.now(), "the retry was written ahead of the API's clock");
    const res = await api.call("POST", `/sms/${id}/cancel`, {});
    assert.equal(res.statusCode, 200, res.body);
    const canceled = await record(id);
    assert.ok(Date.parse(String(canceled.canceledAt)) >= retryAt, `${canceled.canceledAt} before the retry`);
    const times = (await transitions(id)).map((t) => Date.parse(t.occurredAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      "the log is in time order",
    );
  });

  test("a message canceled while waiting for its retry drops the retry's reason", async () => {
    const id = await send("+13125550500");
    await worker.runOnce();
    assert.match(String((await record(id)).statusReason), /^Temporary provider error/);
    const res = await api.call("POST", `/sms/${id}/cancel`, { reason: "Lead called in" });
    assert.equal(res.statusCode, 200, res.body);
    const canceled = await record(id);
    assert.equal(canceled.status, "Canceled");
    assert.equal(canceled.statusReason, null);
    assert.equal(canceled.cancelReason, "Lead called in");
  });
});
