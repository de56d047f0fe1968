import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import SqliteDatabase from "better-sqlite3";
import pg from "pg";
import { OUTCOME_UNKNOWN } from "../src/domain/message-status.js";
import type { Engine } from "../src/store/database.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { until } from "./helpers/messaging.js";
import {
  type CliDatabase,
  cliOk,
  createCliDatabase,
  ensureBuilt,
  freePort,
  post,
  type RunningProcess,
  type RunningServer,
  startServer,
  startWorker,
} from "./helpers/processes.js";
import { eventIdOf, telnyxEnv } from "./helpers/telnyx.js";

// kill -9 of a real `leadtrail serve` / `worker` at chosen moments, each reached deterministically
// (the fake Telnyx holding its answer, or a lock this test holds that the process waits on), then a
// new start, and the messages left to settle. Per message: Telnyx received it at most once, it ends
// in a final status, its transitions chain (each applied one leaves the status the one before
// reached), it was handed over (stage "sending") at most once, and it is billed once if it went out,
// never otherwise (the ledger's net for it and the wallet agree).

before(ensureBuilt, { timeout: 180_000 });

const FINAL = new Set(["Delivered", "Undeliverable", "Failed", "Blocked", "Canceled"]);

/**
 * A lock this test holds on the database until released: on PostgreSQL what `statement` takes in a
 * transaction of its own; on SQLite the write lock itself (BEGIN IMMEDIATE), which every writer waits on.
 */
interface HeldLock {
  release(): Promise<void>;
}

async function holdLock(
  engine: Engine,
  db: CliDatabase,
  statement: string,
  params: unknown[] = [],
): Promise<HeldLock> {
  if (engine === "sqlite") {
    const sqlite = new SqliteDatabase(db.env.LEADTRAIL_DB!, { fileMustExist: true });
    sqlite.exec("BEGIN IMMEDIATE");
    return {
      release: async () => {
        sqlite.exec("ROLLBACK");
        sqlite.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: db.env.DATABASE_URL });
  await client.connect();
  await client.query("begin");
  await client.query(statement, params);
  return {
    release: async () => {
      await client.query("rollback");
      await client.end();
    },
  };
}

/**
 * Resolves once `count` sessions of other processes wait on a lock (PostgreSQL); on SQLite, once the
 * server stops answering: a write waiting on SQLite's lock blocks its whole process (better-sqlite3
 * waits in the busy handler, on the event loop's thread), and reads do not wait in WAL mode.
 */
async function waitUntilBlocked(engine: Engine, db: CliDatabase, baseUrl: string, count = 1): Promise<void> {
  if (engine === "postgresql") {
    await until(`${count} sessions waiting on a lock`, async () => {
      const [row] = await db.query<{ n: string }>(
        `select count(*) as n from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
      );
      return Number(row!.n) >= count ? true : undefined;
    });
    return;
  }
  await until("the server blocked on the write lock", async () => {
    const answered = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
      () => true,
      () => false,
    );
    return answered ? undefined : true;
  });
}

interface Timeline {
  status: string;
  errorCode: string | null;
  billingStatus: string | null;
}

/**
 * Checks one message as the file's header says and answers its final state. `handedOver` is how
 * many times Telnyx received it; `taken` whether Telnyx accepted it (it then went out).
 */
async function assertSettledOnce(
  db: CliDatabase,
  fake: FakeTelnyx,
  id: string,
): Promise<Timeline & { handedOver: number; taken: boolean }> {
  const handedOver = fake.requests.filter((r) => eventIdOf(r) === id).length;
  const taken = fake.sent.filter((r) => eventIdOf(r) === id).length;
  assert.ok(handedOver <= 1, `${id}: Telnyx received it ${handedOver} times`);
  const [event] = await db.query<{
    status: string;
    error_code: string | null;
    billing_status: string | null;
    price_micros: string | number | null;
  }>("select status, error_code, billing_status, price_micros from events where id = $1", [id]);
  assert.ok(event, `${id} is in the database`);
  assert.ok(FINAL.has(event.status), `${id} ended ${event.status}`);
  const transitions = await db.query<{
    from_status: string | null;
    to_status: string | null;
    applied: string | number;
    stage: string;
  }>(
    "select from_status, to_status, applied, stage from event_transitions where event_id = $1 order by seq",
    [id],
  );
  const applied = transitions.filter((t) => Number(t.applied) === 1);
  for (let i = 1; i < applied.length; i++) {
    assert.equal(applied[i]!.from_status, applied[i - 1]!.to_status, `${id}: transitions chain`);
  }
  if (applied.length > 0) assert.equal(applied.at(-1)!.to_status, event.status, `${id}: last transition`);
  const handings = applied.filter((t) => t.stage === "sending").length;
  assert.ok(handings <= 1 && handings >= handedOver, `${id}: moved to Sending ${handings} times`);
  const ledger = await db.query<{ amount_micros: string | number; status: string }>(
    "select amount_micros, status from usage_ledger where event_id = $1 order by event_entry",
    [id],
  );
  const net = ledger.reduce((sum, line) => sum + Number(line.amount_micros), 0);
  const billed = event.billing_status === "Billed";
  assert.equal(net, billed ? Number(event.price_micros) : 0, `${id}: billed ${JSON.stringify(ledger)}`);
  assert.ok(ledger.filter((l) => l.status === "charged").length <= 1, `${id}: charged more than once`);
  if (event.status === "Delivered" || event.status === "Undeliverable") {
    assert.equal(taken, 1, `${id} ended ${event.status} without Telnyx taking it`);
    assert.ok(billed, `${id} went out and is not billed`);
  }
  if (taken === 0) assert.ok(!billed, `${id} is billed though Telnyx never took it`);
  return {
    status: event.status,
    errorCode: event.error_code,
    billingStatus: event.billing_status,
    handedOver,
    taken: taken === 1,
  };
}

/** The wallet lost exactly what the ledger says it was charged, no more, no less. */
async function assertWalletMatchesLedger(db: CliDatabase, organizationId: string): Promise<void> {
  const [wallet] = await db.query<{ balance_micros: string | number; purchased_micros: string | number }>(
    "select balance_micros, purchased_micros from wallets where organization_id = $1",
    [organizationId],
  );
  const [spent] = await db.query<{ total: string | number | null }>(
    "select sum(amount_micros) as total from usage_ledger where organization_id = $1",
    [organizationId],
  );
  assert.equal(
    Number(wallet!.purchased_micros) - Number(wallet!.balance_micros),
    Number(spent!.total ?? 0),
    "the wallet's debits are the ledger's lines",
  );
}

/** One organization with a sender number on its own `leadtrail serve`, whose webhooks stay on one port. */
interface Rig {
  env: NodeJS.ProcessEnv;
  baseUrl: string;
  port: number;
  organizationId: string;
  apiKey: string;
  sender: string;
  server: RunningServer | null;
  start(): Promise<RunningServer>;
  /** kill -9 of the server; resolves once it is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  conversation(phone: string): Promise<string>;
  send(conversationId: string, text: string, scheduledFor?: string): Promise<string>;
  status(id: string): Promise<{ status: string; error_code: string | null }>;
  waitFor(id: string, status: string): Promise<void>;
}

async function createRig(
  db: CliDatabase,
  fake: FakeTelnyx,
  name: string,
  sender: string,
  extra: NodeJS.ProcessEnv = {},
): Promise<Rig> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...db.env,
    ...telnyxEnv(fake, fake.url),
    // Telnyx's webhooks (which the fake retries while nobody answers) reach the server started again.
    LEADTRAIL_PUBLIC_URL: baseUrl,
    // A send call may then run its full 10 s: every kill here comes long before.
    LEADTRAIL_RECONCILE_SECONDS: "600",
    LEADTRAIL_WARMUP_TICK_SECONDS: "0",
    ...extra,
  };
  const org = JSON.parse((await cliOk(["org", "create", "--name", name, "--json"], env)).stdout) as {
    organizationId: string;
    apiKey: string;
  };
  const call = (path: string, body: unknown) => post(baseUrl, path, org.apiKey, body);
  const rig: Rig = {
    env,
    baseUrl,
    port,
    organizationId: org.organizationId,
    apiKey: org.apiKey,
    sender,
    server: null,
    async start() {
      rig.server = await startServer([], env, undefined, port);
      return rig.server;
    },
    async kill() {
      rig.server?.child.kill("SIGKILL");
      await rig.server?.stop();
      rig.server = null;
    },
    async stop() {
      if (rig.server) assert.equal(await rig.server.stop(), 0);
      rig.server = null;
    },
    async conversation(phone) {
      const lead = await call("/leads", { contact: { firstName: "Pat", phone: { number: phone } } });
      assert.equal(lead.status, 201, JSON.stringify(lead.body));
      const conversations = await call(`/conversations/lead/${lead.body.id}`, {});
      return conversations.body.items[0].id as string;
    },
    async send(conversationId, text, scheduledFor) {
      const sms = await call("/sms/send", { conversationId, text, scheduledFor });
      assert.equal(sms.status, 201, JSON.stringify(sms.body));
      return sms.body.id as string;
    },
    async status(id) {
      const [row] = await db.query<{ status: string; error_code: string | null }>(
        "select status, error_code from events where id = $1",
        [id],
      );
      return row!;
    },
    async waitFor(id, status) {
      await until(`${id} ${status}`, async () =>
        (await rig.status(id)).status === status ? true : undefined,
      );
    },
  };
  await rig.start();
  const number = await call("/phone-numbers", {
    number: sender,
    name: "Main",
    routing: { tenDlcCampaignId: "CCRASH" },
  });
  assert.equal(number.status, 200, JSON.stringify(number.body));
  return rig;
}

forEachEngine("crash points: kill -9 at chosen moments", (engine) => {
  const onPostgres = engine === "postgresql" ? test : () => {};
  let db: CliDatabase;
  let fake: FakeTelnyx;
  const rigs: Rig[] = [];
  const others: RunningProcess[] = [];
  before(async () => {
    db = await createCliDatabase(engine);
    fake = new FakeTelnyx({ autoReceipts: true });
    await fake.start();
  });
  after(async () => {
    for (const rig of rigs) await rig.kill();
    for (const other of others) {
      other.child.kill("SIGKILL");
      await other.stop();
    }
    await fake.stop();
    await db.cleanup();
  });
  /** Checks each message (assertSettledOnce), then the organization's wallet; answers their states. */
  const settledOnce = async (r: Rig, ids: string[]) => {
    const settled = [];
    for (const id of ids) settled.push(await assertSettledOnce(db, fake, id));
    await assertWalletMatchesLedger(db, r.organizationId);
    return settled;
  };
  const rig = async (name: string, sender: string, extra?: NodeJS.ProcessEnv) => {
    const made = await createRig(db, fake, name, sender, extra);
    rigs.push(made);
    return made;
  };

  test("while send calls wait for Telnyx's answer, and after receipts settled one whose call is unanswered", {
    timeout: 180_000,
  }, async () => {
    const r = await rig("Held Co", "+14155550180");
    // …0181 and …0183 are taken once the server is gone, …0182 refused (500), …0184 taken at once
    // with its receipts but never answered.
    const [taken1, refused, taken2, hanging] = [
      "+12125550181",
      "+12125550182",
      "+12125550183",
      "+12125550184",
    ];
    fake.behaviour.set(refused!, "500");
    fake.behaviour.set(hanging!, "accept-hang");
    const holds = [taken1!, refused!, taken2!].map((to) => fake.holdRecipient(to));
    const ids: string[] = [];
    for (const to of [taken1!, refused!, taken2!, hanging!])
      ids.push(await r.send(await r.conversation(to), "Hello"));
    await Promise.all(holds.map((h) => h.arrived));
    await r.waitFor(ids[3]!, "Delivered");
    await r.kill();
    for (const h of holds) h.release();
    await until("Telnyx answered the held calls", async () =>
      fake.requests.filter((q) => ids.slice(0, 3).includes(eventIdOf(q)!)).length === 3 ? true : undefined,
    );
    await r.start();
    await r.waitFor(ids[0]!, "Delivered");
    await r.waitFor(ids[2]!, "Delivered");
    // The refused one never went out, and nobody can know: at its reconcile deadline (made due now)
    // it ends ProviderOutcomeUnknown, unsent again.
    assert.equal((await r.status(ids[1]!)).status, "Sending");
    await db.query("update events set next_attempt_at = $1 where id = $2", [Date.now(), ids[1]]);
    await r.waitFor(ids[1]!, "Failed");
    const settled = await settledOnce(r, ids);
    assert.deepEqual(
      settled.map((s) => [s.status, s.errorCode, s.handedOver]),
      [
        ["Delivered", null, 1],
        ["Failed", OUTCOME_UNKNOWN, 1],
        ["Delivered", null, 1],
        ["Delivered", null, 1],
      ],
    );
    await r.stop();
  });

  test("while the outcomes of answered calls are being written (the group commit waits on a lock)", {
    timeout: 180_000,
  }, async () => {
    const r = await rig("Commit Co", "+14155550185");
    const recipients = ["+12125550186", "+12125550187", "+12125550188"];
    const holds = recipients.map((to) => fake.holdRecipient(to));
    const ids: string[] = [];
    for (const to of recipients) ids.push(await r.send(await r.conversation(to), "Hello"));
    await Promise.all(holds.map((h) => h.arrived));
    // The acceptances debit the wallet: on PostgreSQL its row is held; on SQLite every write waits.
    const lock = await holdLock(engine, db, "select 1 from wallets where organization_id = $1 for update", [
      r.organizationId,
    ]);
    try {
      for (const h of holds) h.release();
      await until("Telnyx answered", async () =>
        fake.requests.filter((q) => ids.includes(eventIdOf(q)!)).length === 3 ? true : undefined,
      );
      await waitUntilBlocked(engine, db, r.baseUrl);
      await r.kill();
    } finally {
      await lock.release();
    }
    for (const id of ids) assert.equal((await r.status(id)).status, "Sending", "no outcome was recorded");
    await r.start();
    for (const id of ids) await r.waitFor(id, "Delivered");
    for (const settled of await settledOnce(r, ids)) assert.equal(settled.handedOver, 1);
    await r.stop();
  });

  test("while a keyed send is being written: the client's retry with its key after the restart queues it once", {
    timeout: 180_000,
  }, async () => {
    const r = await rig("Keyed Co", "+14155550197");
    const conversation = await r.conversation("+12125550198");
    const body = { conversationId: conversation, text: "Hello", outboundIdempotencyKey: "crash-key-1" };
    // Writing the message moves its conversation's preview: on PostgreSQL that row is held.
    const lock = await holdLock(engine, db, "select 1 from conversations where id = $1 for update", [
      conversation,
    ]);
    let sending: Promise<unknown>;
    try {
      sending = post(r.baseUrl, "/sms/send", r.apiKey, body).catch((error: unknown) => error);
      await waitUntilBlocked(engine, db, r.baseUrl);
      await r.kill();
    } finally {
      await lock.release();
    }
    assert.ok((await sending) instanceof Error, "the killed server never answered");
    await r.start();
    const retried = await post(r.baseUrl, "/sms/send", r.apiKey, body);
    assert.equal(retried.status, 201, JSON.stringify(retried.body));
    const again = await post(r.baseUrl, "/sms/send", r.apiKey, body);
    assert.equal(again.body.id, retried.body.id, "the key names one message");
    await r.waitFor(retried.body.id, "Delivered");
    const messages = await db.query<{ id: string }>(
      "select id from events where conversation_id = $1 and direction = 'outbound'",
      [conversation],
    );
    assert.deepEqual(
      messages.map((m) => m.id),
      [retried.body.id],
    );
    assert.equal((await settledOnce(r, [retried.body.id]))[0]!.handedOver, 1);
    await r.stop();
  });

  test("while an inbound STOP is being recorded: Telnyx's retry records it once, and nothing more goes to them", {
    timeout: 180_000,
  }, async () => {
    const r = await rig("Stop Co", "+14155550189");
    const person = "+12125550190";
    const conversation = await r.conversation(person);
    const lock = await holdLock(engine, db, "select pg_advisory_xact_lock(hashtextextended($1, 0))", [
      `inbound-sender:${r.organizationId}:${person}`,
    ]);
    const stop = fake.inbound({ from: person, to: r.sender, text: "STOP" });
    let delivering: Promise<void>;
    try {
      delivering = fake.deliverWithRetry([`${r.baseUrl}/webhooks/telnyx`], stop);
      await waitUntilBlocked(engine, db, r.baseUrl);
      await r.kill();
    } finally {
      await lock.release();
    }
    const providerId = stop.data.payload.id;
    const inbound = () =>
      db.query<{ id: string }>(
        "select id from events where provider_message_id = $1 and direction = 'inbound'",
        [providerId],
      );
    assert.equal((await inbound()).length, 0, "killed before it was recorded");
    await r.start();
    await delivering;
    assert.equal((await inbound()).length, 1, "recorded once");
    const [entry] = await db.query<{ status: string }>(
      "select status from suppressions where organization_id = $1 and recipient = $2",
      [r.organizationId, person],
    );
    assert.equal(entry?.status, "active");
    // A redelivery of the same webhook (Telnyx did not hear our 200) changes nothing.
    assert.equal(await fake.deliver(`${r.baseUrl}/webhooks/telnyx`, stop), 200);
    assert.equal((await inbound()).length, 1);
    const after = await r.send(conversation, "Are you still there?");
    await r.waitFor(after, "Blocked");
    assert.equal((await settledOnce(r, [after]))[0]!.handedOver, 0);
    // Nothing of ours (a confirmation included: Telnyx answers its keywords) reached them.
    assert.equal(fake.requests.filter((q) => q.body.to === person).length, 0);
    await r.stop();
  });

  onPostgres(
    "while a cancel waits on the message a worker is claiming: the killed claim lets it through",
    {
      timeout: 180_000,
    },
    async () => {
      // Two servers on one database: the first claims the message and waits (on the spend lock this
      // test holds) inside its claim; the second is asked to cancel it and waits on the message's row.
      const r = await rig("Cancel Co", "+14155550191");
      const conversation = await r.conversation("+12125550192");
      const spend = await holdLock(engine, db, "select pg_advisory_xact_lock(hashtextextended($1, 0))", [
        `spend:${r.organizationId}`,
      ]);
      let canceling: Promise<{ status: number; body: { status?: string } }>;
      let second: RunningServer | null = null;
      let id: string;
      try {
        id = await r.send(conversation, "Never mind");
        await waitUntilBlocked(engine, db, r.baseUrl, 1);
        second = await startServer([], r.env);
        canceling = post(second.baseUrl, `/sms/${id}/cancel`, r.apiKey, {});
        await waitUntilBlocked(engine, db, r.baseUrl, 2);
        await r.kill();
      } finally {
        await spend.release();
      }
      // Where Telnyx's webhooks point, should the message have gone out after all.
      await r.start();
      const canceled = await canceling;
      if (canceled.status !== 200) {
        // The second server's worker took the message first once the claim was undone: then it is
        // sent, and the cancel said it could not be canceled.
        assert.equal(canceled.status, 409, JSON.stringify(canceled.body));
        await r.waitFor(id, "Delivered");
      }
      const [settled] = await settledOnce(r, [id]);
      assert.equal(settled!.status, canceled.status === 200 ? "Canceled" : "Delivered");
      assert.equal(settled!.handedOver, canceled.status === 200 ? 0 : 1);
      assert.equal(await second!.stop(), 0);
    },
  );

  onPostgres(
    "two workers on PostgreSQL, one killed inside its claim: the other sends those messages once",
    {
      timeout: 180_000,
    },
    async () => {
      const r = await rig("Workers Co", "+14155550193");
      const recipients = ["+12125550194", "+12125550195", "+12125550196"];
      // Queued for tomorrow while the server runs, so that the worker alone claims them below.
      const ids: string[] = [];
      for (const to of recipients) {
        const conversation = await r.conversation(to);
        ids.push(await r.send(conversation, "Hello", new Date(Date.now() + 86_400_000).toISOString()));
      }
      await r.stop();
      const worker = await startWorker(r.env);
      others.push(worker);
      const spend = await holdLock(engine, db, "select pg_advisory_xact_lock(hashtextextended($1, 0))", [
        `spend:${r.organizationId}`,
      ]);
      try {
        await db.query("update events set next_attempt_at = $1 where id = any($2)", [Date.now(), ids]);
        await waitUntilBlocked(engine, db, r.baseUrl, 1);
        // The server's worker finds them locked by the claim in progress, and skips them.
        await r.start();
        worker.child.kill("SIGKILL");
        await worker.stop();
      } finally {
        await spend.release();
      }
      for (const id of ids) await r.waitFor(id, "Delivered");
      for (const settled of await settledOnce(r, ids)) assert.equal(settled.handedOver, 1);
      await r.stop();
    },
  );
});
