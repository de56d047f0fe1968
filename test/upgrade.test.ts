import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { after, before, test } from "node:test";
import SqliteDatabase from "better-sqlite3";
import type { FastifyInstance } from "fastify";
import { loadMessagingConfig } from "../src/config.js";
import { LEAD_DATE_TIME_FIELDS } from "../src/domain/lead.js";
import { buildApp } from "../src/http/app.js";
import { Messaging } from "../src/messaging/messaging.js";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { TelnyxProvider } from "../src/messaging/providers/telnyx.js";
import { RECEIPT_LOOKUP_AFTER_MS } from "../src/messaging/receipt-lookup.js";
import type { Engine } from "../src/store/database.js";
import { LATEST_MIGRATION } from "../src/store/migrations.js";
import { Store } from "../src/store/store.js";
import { assertEventRecord } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { type CliDatabase, cliOk, createCliDatabase, FROM_SOURCE } from "./helpers/processes.js";
import { eventIdOf } from "./helpers/telnyx.js";

// A database made by an old release (written by scripts/make-upgrade-fixture.mjs) is migrated by
// today's `leadtrail migrate`, and then must answer what the old release answered, and keep working:
// its keys authenticate, its due Queued/Scheduled messages are sent once, new leads and messages
// work. Each fixture folder is its own suite, with the same checks:
//   fixtures/upgrade       commit e5c891e, at migration 0010
//   fixtures/upgrade-0018  commit 7a8f32b, at migration 0018, with the scenarios that release could
//                          make and e5c891e could not (keys.json "extra"): a refund line, a keyed
//                          send held back by quiet hours, a simulator receipt owed.
const FIXTURE_DIRS = [
  { dir: "upgrade", migration: "0010_events_by_phone" },
  { dir: "upgrade-0018", migration: "0018_receipt_lookup" },
];
type Extra = "refund" | "quiet-hours" | "owed-receipt";
type Keys = Record<Engine, Record<string, { name: string; apiKey: string; agentKey?: string }>> & {
  commit: string;
  extra?: Extra[];
};

type Json = Record<string, unknown>;
interface OldAnswers {
  eventIds: string[];
  events: Record<string, Json>;
  eventDetails: Record<string, Json>;
  sms: Record<string, Json>;
  leads: Record<string, Json>;
  leadList: Json[];
  conversations: Json[];
  suppressions: Json[];
  phoneNumbers: Json[];
  warmup: Record<string, Json>;
  sources: Json[];
  usage: Json[];
  usageSummary: Json;
  wallet: Json;
  smsList: Json[];
  /** The ids of each lead's and each conversation's event list, in the list's order. */
  leadEvents: Record<string, string[]>;
  conversationEvents: Record<string, string[]>;
  /** The demo organization's conversations as its second user (Agent Two) saw them. */
  agentConversations?: Json[];
}

function leadDateTimeField(path: string): boolean {
  const field = /\.metadata\.(\w+)$/.exec(path)?.[1];
  return field !== undefined && (LEAD_DATE_TIME_FIELDS as readonly string[]).includes(field);
}

/**
 * Answers that changed on purpose since the fixture's release, each by a commit that says so: a
 * LeadTableRow leaves out an email it does not have (it was "", which format email refuses; README
 * "LeadRequest is accepted leniently"); a conversation whose last message is a keyword is waiting
 * with a reason naming the keyword (3322c19); a lead's metadata date-time written with an offset is
 * answered in UTC, the same instant (migration 0012); a wallet's balanceCalculatedAt is the time of
 * reading.
 */
function intended(path: string, old: unknown, now: unknown): boolean {
  if (leadDateTimeField(path)) {
    return (
      typeof old === "string" &&
      typeof now === "string" &&
      now.endsWith("Z") &&
      Date.parse(old) === Date.parse(now)
    );
  }
  if (/^leads\/all\/my\.\d+\.email$/.test(path)) return old === "" && now === undefined;
  if (/^(agent )?conversations\/my\.\d+\.statusReason$/.test(path)) {
    return (
      old === "Waiting for the lead to reply." &&
      typeof now === "string" &&
      / opted | asked for help/.test(now)
    );
  }
  return path.endsWith("wallets/me.balanceCalculatedAt");
}

/**
 * Where `now` differs from what the old release answered (`old`): every property it answered must
 * still be there with the same value; properties added since are not compared.
 */
function differences(old: unknown, now: unknown, path: string, out: string[]): string[] {
  if (old !== null && typeof old === "object") {
    if (now === null || typeof now !== "object" || Array.isArray(old) !== Array.isArray(now)) {
      out.push(`${path}: was ${JSON.stringify(old)}, now ${JSON.stringify(now)}`);
      return out;
    }
    if (Array.isArray(old) && old.length !== (now as unknown[]).length) {
      out.push(`${path}: ${old.length} items, now ${(now as unknown[]).length}`);
    }
    for (const [k, v] of Object.entries(old)) {
      differences(v, (now as Record<string, unknown>)[k], `${path}.${k}`, out);
    }
    return out;
  }
  // A lead's metadata date-time is compared even when unchanged: it must be answered in UTC.
  if ((old !== now || leadDateTimeField(path)) && !intended(path, old, now))
    out.push(`${path}: was ${JSON.stringify(old)}, now ${JSON.stringify(now)}`);
  return out;
}

async function loadFixture(
  engine: Engine,
  db: CliDatabase,
  readFixture: (name: string) => string,
): Promise<void> {
  const dump = readFixture(`${engine}.sql`);
  if (engine === "sqlite") {
    const file = db.env.LEADTRAIL_DB!;
    mkdirSync(dirname(file), { recursive: true });
    const sqlite = new SqliteDatabase(file);
    sqlite.exec(dump);
    sqlite.close();
    return;
  }
  await db.query(dump);
}

interface Running {
  store: Store;
  app: FastifyInstance;
  pipeline: Messaging;
  fake: FakeTelnyx;
}

async function openCurrent(engine: Engine, db: CliDatabase): Promise<Running> {
  const store = await Store.open(
    engine === "sqlite"
      ? { sqlitePath: db.env.LEADTRAIL_DB! }
      : { databaseUrl: db.env.DATABASE_URL!, sqlitePath: "" },
  );
  const fake = new FakeTelnyx({ autoReceipts: false });
  await fake.start();
  const messaging = loadMessagingConfig({
    LEADTRAIL_QUIET_HOURS: "off",
    LEADTRAIL_RETRY_BASE_SECONDS: "0.01",
  });
  const pipeline = new Messaging(store.db, store.engine, messaging);
  const app = await buildApp({ store, rateLimitPerMinute: 1_000_000, messaging, pipeline });
  return { store, app, pipeline, fake };
}

for (const { dir, migration } of FIXTURE_DIRS) {
  const fixtures = new URL(`./fixtures/${dir}/`, import.meta.url);
  const readFixture = (name: string) => readFileSync(new URL(name, fixtures), "utf8");
  const KEYS = JSON.parse(readFixture("keys.json")) as Keys;
  upgradeSuite(dir, migration, KEYS, readFixture);
}

function upgradeSuite(dir: string, migration: string, KEYS: Keys, readFixture: (name: string) => string) {
  const extra = new Set(KEYS.extra ?? []);
  forEachEngine(`upgrade from an old release's database (fixtures/${dir})`, (engine) => {
    let db: CliDatabase;
    let current: Running;
    const orgs = Object.entries(KEYS[engine]);
    const old = JSON.parse(readFixture(`${engine}.api.json`)) as Record<string, OldAnswers>;
    /** Plain SQL reads of the fixture before it was migrated. */
    let before_: {
      wallets: Json[];
      ledger: Json[];
      conversations: Json[];
      due: Array<{ id: string; organization_id: string; status: string }>;
      waiting: Array<{ id: string; organization_id: string; status: string }>;
      sending: Array<{ id: string; organization_id: string; next_attempt_at: unknown }>;
      /** Handed to Telnyx and not heard of since (the old release had no receipt look-up). */
      sentTelnyx: Array<{
        id: string;
        organization_id: string;
        telnyx_id: string;
        sent_at: unknown;
        from_phone_number: string;
        to_phone_number: string;
        body: string;
      }>;
      keyed: Array<{
        id: string;
        organization_id: string;
        conversation_id: string;
        body: string;
        idempotency_key: string;
      }>;
      /** The keyed sends quiet hours held back (extra "quiet-hours"): asked-for and scheduled times. */
      quiet: Array<{
        id: string;
        organization_id: string;
        conversation_id: string;
        body: string;
        idempotency_key: string;
        scheduled_for: unknown;
        requested_scheduled_for: unknown;
      }>;
      /** Simulator messages left Sent, their receipts owed (extra "owed-receipt"). */
      owed: Array<{ id: string; organization_id: string }>;
      now: number;
    };

    const call = async (key: string, method: "GET" | "POST" | "PUT", url: string, body?: unknown) => {
      const res = await current.app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return res;
    };
    const ok = async (key: string, method: "GET" | "POST" | "PUT", url: string, body?: unknown) => {
      const res = await call(key, method, url, body);
      assert.ok(res.statusCode < 300, `${method} ${url} → ${res.statusCode} ${res.body}`);
      return res.json() as Json;
    };
    const all = async (key: string, url: string, body: Json = {}) => {
      const items: Json[] = [];
      let continuationToken: unknown = null;
      do {
        const page = await ok(key, "POST", url, { ...body, pageSize: 200, continuationToken });
        items.push(...(page.items as Json[]));
        continuationToken = page.continuationToken ?? null;
      } while (continuationToken);
      return items;
    };

    before(async () => {
      db = await createCliDatabase(engine);
      await loadFixture(engine, db, readFixture);
      const now = Date.now();
      before_ = {
        wallets: await db.query("select * from wallets order by organization_id"),
        ledger: await db.query("select * from usage_ledger order by organization_id, id"),
        conversations: await db.query(
          "select id, organization_id, last_snippet, last_event_at from conversations order by id",
        ),
        // Messages the old release had yet to send whose time has come.
        due: await db.query(
          `select id, organization_id, status from events
          where status in ('Queued', 'Scheduled') and next_attempt_at <= $1 order by id`,
          [now],
        ),
        waiting: await db.query(
          `select id, organization_id, status from events
          where status in ('Queued', 'Scheduled') and next_attempt_at > $1 order by id`,
          [now],
        ),
        sending: await db.query(
          "select id, organization_id, next_attempt_at from events where status = 'Sending' order by id",
        ),
        sentTelnyx: await db.query(
          `select id, organization_id, telnyx_id, sent_at, from_phone_number, to_phone_number, body
          from events where status = 'Sent' and telnyx_id is not null order by id`,
        ),
        keyed: await db.query(
          `select id, organization_id, conversation_id, body, idempotency_key
          from events where idempotency_key is not null order by id`,
        ),
        quiet: extra.has("quiet-hours")
          ? await db.query(
              `select id, organization_id, conversation_id, body, idempotency_key, scheduled_for,
                requested_scheduled_for from events
                where idempotency_key like 'fixture-quiet-%' and scheduled_reason = 'QuietHours' order by id`,
            )
          : [],
        owed: extra.has("owed-receipt")
          ? await db.query(
              `select id, organization_id from events
                where status = 'Sent' and provider_message_id like 'sim%' order by id`,
            )
          : [],
        now,
      };
      const migrated = await cliOk(["migrate"], db.env, FROM_SOURCE);
      assert.match(migrated.stdout, new RegExp(LATEST_MIGRATION));
      current = await openCurrent(engine, db);
    });

    after(async () => {
      await current?.pipeline.stop();
      await current?.app.close();
      await current?.store.close();
      await current?.fake.stop();
      await db?.cleanup();
    });

    test("the fixture is the old release's, at an older migration", async () => {
      const rows = await db.query<{ name: string }>("select name from kysely_migration order by name");
      assert.equal(rows.at(-1)?.name, LATEST_MIGRATION);
      assert.ok(rows.some((r) => r.name === migration));
      assert.match(KEYS.commit, /^[0-9a-f]{40}$/);
    });

    test("every event reads as the old release answered it, valid per event.schema.json", async () => {
      const found: string[] = [];
      for (const [organizationId, { apiKey }] of orgs) {
        const answers = old[organizationId]!;
        for (const id of answers.eventIds) {
          const record = await ok(apiKey, "GET", `/events/${id}`);
          assertEventRecord(record);
          differences(answers.events[id], record, `GET /events/${id}`, found);
          if (answers.eventDetails[id]) {
            differences(
              answers.eventDetails[id],
              await ok(apiKey, "GET", `/events/detail/${id}`),
              `detail ${id}`,
              found,
            );
            differences(answers.sms[id], await ok(apiKey, "GET", `/events/sms/${id}`), `sms ${id}`, found);
          }
        }
        const listed = await all(apiKey, "/events/all/my", {
          orderBy: [{ field: "createdAt", direction: "asc" }],
        });
        assert.deepEqual(
          listed.map((e) => e.id),
          answers.eventIds,
        );
        const counted = await ok(apiKey, "POST", "/events/all/my", { pageSize: 1, includeCount: true });
        assert.equal(
          counted.totalCount ?? counted.count,
          answers.eventIds.length,
          JSON.stringify(counted).slice(0, 300),
        );
      }
      assert.deepEqual(found, []);
    });

    test("leads, conversations, suppressions, numbers, sources, usage and wallets read as before", async () => {
      const found: string[] = [];
      for (const [organizationId, { apiKey }] of orgs) {
        const answers = old[organizationId]!;
        for (const [id, lead] of Object.entries(answers.leads)) {
          differences(lead, await ok(apiKey, "GET", `/leads/${id}`), `GET /leads/${id}`, found);
        }
        differences(answers.leadList, await all(apiKey, "/leads/all/my"), "leads/all/my", found);
        differences(answers.conversations, await all(apiKey, "/conversations/my"), "conversations/my", found);
        differences(
          answers.suppressions,
          await all(apiKey, "/suppressions/all/my"),
          "suppressions/all/my",
          found,
        );
        differences(
          answers.phoneNumbers,
          await all(apiKey, "/phone-numbers/all/organization"),
          "phone-numbers",
          found,
        );
        for (const [id, warmup] of Object.entries(answers.warmup)) {
          differences(warmup, await ok(apiKey, "GET", `/phone-numbers/${id}/warmup`), `warmup ${id}`, found);
        }
        differences(answers.sources, await all(apiKey, "/sources/all/my"), "sources/all/my", found);
        differences(answers.usage, await all(apiKey, "/usage/all/my"), "usage/all/my", found);
        differences(
          answers.usageSummary,
          await ok(
            apiKey,
            "GET",
            "/usage/summary/my?periodStart=2000-01-01T00:00:00Z&periodEnd=2100-01-01T00:00:00Z",
          ),
          "usage/summary/my",
          found,
        );
        differences(answers.wallet, await ok(apiKey, "GET", "/wallets/me"), "wallets/me", found);
        differences(answers.smsList, await all(apiKey, "/events/sms/all/my"), "events/sms/all/my", found);
        for (const [id, ids] of Object.entries(answers.leadEvents)) {
          const now = (await all(apiKey, `/events/leads/${id}`)).map((e) => e.id);
          differences(ids, now, `events/leads/${id}`, found);
        }
        for (const [id, ids] of Object.entries(answers.conversationEvents)) {
          const now = (await all(apiKey, `/events/conversations/${id}`)).map((e) => e.id);
          differences(ids, now, `events/conversations/${id}`, found);
        }
        const agentKey = KEYS[engine][organizationId]!.agentKey;
        if (answers.agentConversations && agentKey) {
          differences(
            answers.agentConversations,
            await all(agentKey, "/conversations/my"),
            "agent conversations/my",
            found,
          );
        }
      }
      assert.deepEqual(found, []);
      // The stored rows the answers come from, as plain SQL read them before the migration.
      assert.deepEqual(await db.query("select * from wallets order by organization_id"), before_.wallets);
      assert.deepEqual(
        (await db.query("select * from usage_ledger order by organization_id, id")).map((row) =>
          Object.fromEntries(Object.entries(row).filter(([k]) => k in before_.ledger[0]!)),
        ),
        before_.ledger,
      );
      assert.deepEqual(
        await db.query(
          "select id, organization_id, last_snippet, last_event_at from conversations order by id",
        ),
        before_.conversations,
      );
    });

    test("the old keys authenticate, each to its own organization only", async () => {
      const [orgA, a] = orgs[0]!;
      const [orgB, b] = orgs[1]!;
      const eventOfB = old[orgB]!.eventIds[0]!;
      assert.equal((await call(a.apiKey, "GET", `/events/${eventOfB}`)).statusCode, 404);
      assert.equal((await call(b.apiKey, "GET", `/events/${old[orgA]!.eventIds[0]}`)).statusCode, 404);
      assert.equal(
        (await call("sk_not_a_key_of_anyone_at_all_000000000000000", "GET", "/wallets/me")).statusCode,
        401,
      );
    });

    const quietRow = (id: string) => before_.quiet.find((r) => r.id === id);
    const withExtra = (name: Extra) => (extra.has(name) ? test : (_name: string, _fn: () => unknown) => {});

    withExtra("refund")(
      "a refund line the old release wrote reads as it did, and the wallet with it",
      async () => {
        const refunds = before_.ledger.filter((line) => Number(line.amount_micros) < 0);
        assert.ok(refunds.length >= 1, JSON.stringify(before_.ledger));
        for (const refund of refunds) {
          assert.equal(refund.status, "refunded_credited");
          const organizationId = refund.organization_id as string;
          const apiKey = KEYS[engine][organizationId]!.apiKey;
          // The charge and its refund, as the usage API answers them: they add up to nothing.
          const lines = (await all(apiKey, "/usage/all/my")).filter((u) => u.eventId === refund.event_id);
          assert.equal(lines.length, 2, JSON.stringify(lines));
          const amounts = lines.map((u) => Number(u.customerChargeAmount)).sort((a, b) => a - b);
          assert.ok(amounts[0]! < 0 && amounts[0]! === -amounts[1]!, JSON.stringify(lines));
          const record = await ok(apiKey, "GET", `/events/${refund.event_id}`);
          assert.equal(record.status, "Failed");
          // The wallet holds what it held: the refund given back once, not again by the migration.
          assert.equal((await ok(apiKey, "GET", "/wallets/me")).balance, old[organizationId]!.wallet.balance);
          const wallet = before_.wallets.find((w) => w.organization_id === organizationId)!;
          const [after_] = await db.query<Json>("select * from wallets where organization_id = $1", [
            organizationId,
          ]);
          assert.equal(Number(after_!.balance_micros), Number(wallet.balance_micros));
        }
      },
    );

    withExtra("quiet-hours")(
      "a keyed send quiet hours held back keeps its asked-for time apart",
      async () => {
        assert.ok(before_.quiet.length >= 1);
        for (const row of before_.quiet) {
          assert.ok(Number(row.scheduled_for) > Number(row.requested_scheduled_for), JSON.stringify(row));
          const [now] = await db.query<Json>(
            "select scheduled_for, requested_scheduled_for, scheduled_reason from events where id = $1",
            [row.id],
          );
          assert.equal(Number(now!.requested_scheduled_for), Number(row.requested_scheduled_for));
          assert.equal(now!.scheduled_reason, "QuietHours");
          const apiKey = KEYS[engine][row.organization_id]!.apiKey;
          const record = await ok(apiKey, "GET", `/events/${row.id}`);
          assert.equal(record.scheduledFor, old[row.organization_id]!.events[row.id]!.scheduledFor);
          // The same key and body asking for the time it asked for: the same send (the keyed test sends
          // it too; here after that, so twice in all, still one event).
          const again = await ok(apiKey, "POST", "/sms/send", {
            conversationId: row.conversation_id,
            text: row.body,
            outboundIdempotencyKey: row.idempotency_key,
            scheduledFor: new Date(Number(row.requested_scheduled_for)).toISOString(),
          });
          assert.equal(again.id, row.id);
        }
      },
    );

    test("a send the old release took with an outboundIdempotencyKey, sent again, is the same message", async () => {
      assert.ok(before_.keyed.length >= 5);
      assert.ok(before_.keyed.some((r) => r.idempotency_key.startsWith("fixture-past-")));
      for (const row of before_.keyed) {
        const apiKey = KEYS[engine][row.organization_id]!.apiKey;
        const again = await ok(apiKey, "POST", "/sms/send", {
          conversationId: row.conversation_id,
          text: row.body,
          outboundIdempotencyKey: row.idempotency_key,
          // Sent first with a time already past (scripts/make-upgrade-fixture.mjs): the same body again.
          ...(row.idempotency_key.startsWith("fixture-past-")
            ? { scheduledFor: "2020-01-01T00:00:00Z" }
            : {}),
          // Held back by quiet hours: asked again for the time it asked for, not the one it got.
          ...(quietRow(row.id)
            ? { scheduledFor: new Date(Number(quietRow(row.id)!.requested_scheduled_for)).toISOString() }
            : {}),
        });
        assert.equal(again.id, row.id);
      }
      const events = await db.query<{ n: unknown }>("select count(*) as n from events");
      assert.equal(
        Number(events[0]!.n),
        Object.values(old).reduce((n, a) => n + a.eventIds.length, 0),
      );
    });

    test("the old release's due Queued and Scheduled messages are sent once; a new lead and message work", async () => {
      assert.ok(before_.due.length >= 3, JSON.stringify(before_.due));
      const url = `http://127.0.0.1:${current.fake.port}`;
      // Telnyx still knows the messages the old release handed it: delivered since, their receipts lost.
      assert.ok(before_.sentTelnyx.length >= 1);
      for (const row of before_.sentTelnyx) {
        current.fake.sent.push({
          id: row.telnyx_id,
          body: { from: row.from_phone_number, to: row.to_phone_number, text: row.body },
          authorization: "Bearer KEYtest",
          at: Number(row.sent_at),
        });
        current.fake.statuses.set(row.telnyx_id, "delivered");
      }
      current.pipeline.startWorker(
        new TelnyxProvider({
          apiKey: "KEYtest",
          apiBaseUrl: `${url}/v2`,
          publicUrl: "http://127.0.0.1:9",
          webhookUrlSecret: current.store.webhookUrlSecret,
          // Telnyx's own default: a call that times out is left Sending for the reconcile, a loaded
          // machine must not make it one.
          timeoutMs: 10_000,
        }),
        { pollMs: 10 },
      );
      const [organizationId, { apiKey }] = orgs[0]!;
      // A new lead and a message to it, beside the old ones.
      const lead = await ok(apiKey, "POST", "/leads", {
        contact: { firstName: "New", phone: { number: "+14155550166" } },
      });
      const conversation = (
        (await ok(apiKey, "POST", `/conversations/lead/${lead.id}`, {})).items as Json[]
      )[0]!;
      const sms = await ok(apiKey, "POST", "/sms/send", {
        conversationId: conversation.id,
        text: "After the upgrade",
      });
      const expected = [...before_.due.map((r) => r.id), sms.id as string];
      const keyOf = (org: string) => KEYS[engine][org]!.apiKey;
      const deadline = Date.now() + 30_000;
      for (;;) {
        const statuses = await Promise.all(
          expected.map(async (id) => {
            const org = before_.due.find((r) => r.id === id)?.organization_id ?? organizationId;
            return (await ok(keyOf(org), "GET", `/events/${id}`)).status;
          }),
        );
        if (statuses.every((s) => s === "Sent")) break;
        if (Date.now() > deadline) {
          const late = expected.filter((_, i) => statuses[i] !== "Sent");
          const details = await Promise.all(late.map((id) => call(apiKey, "GET", `/events/detail/${id}`)));
          const calls = current.fake.requests.map((r) => [eventIdOf(r), r.status, r.behaviour]);
          assert.fail(
            `not all sent: ${details.map((d) => d.body).join("\n")}\nprovider calls: ${JSON.stringify(calls)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300)); // a second send, if there were one, would show now
      const sends = new Map<string, number>();
      for (const request of current.fake.requests) {
        const id = eventIdOf(request);
        if (id) sends.set(id, (sends.get(id) ?? 0) + 1);
      }
      for (const id of expected)
        assert.equal(sends.get(id), 1, `message ${id} was sent ${sends.get(id) ?? 0} times`);
      // Nothing else of the old release's was handed to the provider again.
      const oldIds = new Set(Object.values(old).flatMap((answers) => answers.eventIds));
      const resent = [...sends.keys()].filter((id) => oldIds.has(id) && !expected.includes(id));
      assert.deepEqual(resent, []);
      // The receipt look-up (migration 0018) asks Telnyx for old messages left Sent 15 minutes or more.
      await current.pipeline.lookUpReceipts();
      for (const row of before_.sentTelnyx) {
        const record = await ok(keyOf(row.organization_id), "GET", `/events/${row.id}`);
        const due = Number(row.sent_at) + RECEIPT_LOOKUP_AFTER_MS <= Date.now();
        assert.equal(record.status, due ? "Delivered" : "Sent", JSON.stringify(record));
      }
      // Those not due yet wait (a schedule months ahead at least); one the old release left Sending is never
      // sent again, and ends Failed / ProviderOutcomeUnknown once its reconcile deadline has passed.
      for (const row of before_.waiting) {
        const record = await ok(keyOf(row.organization_id), "GET", `/events/${row.id}`);
        assert.equal(record.status, row.status, JSON.stringify(record));
      }
      assert.ok(before_.waiting.some((r) => r.status === "Scheduled"));
      assert.ok(before_.sending.length >= 1);
      for (const row of before_.sending) {
        const reconciled = Number(row.next_attempt_at) <= before_.now;
        for (let i = 0; ; i++) {
          const record = await ok(keyOf(row.organization_id), "GET", `/events/${row.id}`);
          if (!reconciled) {
            assert.equal(record.status, "Sending");
            break;
          }
          if (record.status === "Failed") {
            assert.match(JSON.stringify(record), /ProviderOutcomeUnknown/);
            break;
          }
          assert.ok(i < 300, `not reconciled: ${JSON.stringify(record)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(
          sends.get(row.id),
          undefined,
          `message ${row.id}, Sending before the upgrade, was sent again`,
        );
      }
    });

    withExtra("owed-receipt")(
      "a simulator receipt the old release owed is delivered by today's simulator",
      async () => {
        assert.ok(before_.owed.length >= 1);
        // The due test ran the worker on Telnyx: now the simulator's, whose start settles what it owes.
        await current.pipeline.stop();
        for (const row of before_.owed) {
          const apiKey = KEYS[engine][row.organization_id]!.apiKey;
          assert.equal((await ok(apiKey, "GET", `/events/${row.id}`)).status, "Sent");
        }
        current.pipeline.startWorker(new SimulatorProvider(current.pipeline), { pollMs: 10 });
        for (const row of before_.owed) {
          const apiKey = KEYS[engine][row.organization_id]!.apiKey;
          for (let i = 0; ; i++) {
            const record = await ok(apiKey, "GET", `/events/${row.id}`);
            if (record.status === "Delivered") break;
            assert.ok(i < 600, `receipt still owed: ${JSON.stringify(record)}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      },
    );
  });
}
