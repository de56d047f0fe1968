import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Messaging } from "../src/messaging/messaging.js";
import { TelnyxProvider } from "../src/messaging/providers/telnyx.js";
import { addCredit } from "../src/store/billing-repo.js";
import type { EventTransitionsTable } from "../src/store/schema.js";
import { Store } from "../src/store/store.js";
import { assertEventRecord, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { type Behaviour, FakeTelnyx, type MessageRequestBody } from "./helpers/fake-telnyx.js";
import { eventIdOf, postWebhook, queryOf, startTelnyxWorker, telnyxEnv } from "./helpers/telnyx.js";

// A chaos soak: a seeded mixed workload against the app and its worker(s) on the fake Telnyx
// (two workers on PostgreSQL, each on a Store of its own, as two processes), with the fake
// answering 429s, 5xx, timeouts and refusals and the test posting receipts duplicated, out of
// order, late and for unknown ids. Once everything settles, the system's invariants are checked
// through the API and the database (see the checks at the end).
//
// LEADTRAIL_SOAK_OPS (default 300) sets the number of operations and LEADTRAIL_SOAK_SEED the seed
// (default a fixed one); the seed is printed, and a failing run is repeated with it (DEVELOPERS.md).

const OPS = Number(process.env.LEADTRAIL_SOAK_OPS ?? 300);
const SEED = Number(process.env.LEADTRAIL_SOAK_SEED ?? 20261129);

/** Recipients: fixed valid numbers (New York, 212-555-03xx). */
const RECIPIENTS = Array.from({ length: 12 }, (_, i) => `+1212555${String(300 + i).padStart(4, "0")}`);
const TOP_UP = 39_500;
const SENDERS = ["+14155550170", "+14155550171"];

/** mulberry32: a small seeded PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)]!;
    },
    chance: (p: number) => next() < p,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SendRecord {
  id: string;
  conversationId: string;
  key: string | null;
  text: string;
  scheduledFor: string | null;
}
interface Interval {
  on: number;
  off: number | null;
  how: string;
}

const FINAL = new Set(["Delivered", "Undeliverable", "Failed", "Blocked", "Canceled"]);
const RANK: Record<string, number> = {
  Scheduled: 0,
  Queued: 1,
  Sending: 2,
  Sent: 3,
  Failed: 4,
  Undeliverable: 5,
  Delivered: 6,
};
const STATUS_TIME: Record<string, string> = {
  Sent: "sent_at",
  Delivered: "delivered_at",
  Undeliverable: "undeliverable_at",
  Failed: "failed_at",
  Blocked: "blocked_at",
  Canceled: "canceled_at",
};

/** Whether a logged transition moves a message forward (DESIGN.md: Sending → Queued is the one way back). */
function forward(from: string | null, to: string): boolean {
  if (from === null) return to === "Scheduled" || to === "Queued" || to === "Blocked";
  if (from === to) return true; // a note in the log (an unclear answer, a receipt that changed nothing)
  if (from === "Delivered" || from === "Blocked" || from === "Canceled") return false;
  if (to === "Canceled" || to === "Blocked") return from === "Scheduled" || from === "Queued";
  if (from === "Sending" && (to === "Queued" || to === "Scheduled")) return true;
  return (RANK[to] ?? -1) > (RANK[from] ?? 99);
}

forEachEngine("chaos soak", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  let url: string;
  let second: { store: Store; messaging: Messaging } | null = null;
  let receiptPump: NodeJS.Timeout | undefined;
  const failures: string[] = [];

  before(async () => {
    fake = new FakeTelnyx();
    url = await fake.start();
    api = await startTestApi(engine, {
      env: {
        ...telnyxEnv(fake, url),
        LEADTRAIL_RECONCILE_SECONDS: "1",
        LEADTRAIL_RETRY_MAX_ATTEMPTS: "4",
        // Room for about 25 messages; topUp refills what was spent, plus up to 5 more.
        LEADTRAIL_STARTING_CREDIT: "0.2",
      },
    });
    startTelnyxWorker(api, url, 400);
    if (engine === "postgresql") {
      const store = await Store.open(api.db.options);
      const messaging = new Messaging(store.db, store.engine, api.pipeline.config);
      messaging.startWorker(
        new TelnyxProvider({
          apiKey: "KEYtest",
          apiBaseUrl: `${url}/v2`,
          publicUrl: "http://127.0.0.1:9",
          webhookUrlSecret: store.webhookUrlSecret,
          timeoutMs: 400,
        }),
        { pollMs: 10 },
      );
      second = { store, messaging };
    }
  });
  after(async () => {
    clearInterval(receiptPump);
    await second?.messaging.stop(0);
    await second?.store.close();
    await api.close();
    await fake.stop();
  });

  test(`seeded mixed workload keeps every invariant (${OPS} operations)`, { timeout: 240_000 }, async () => {
    console.log(`chaos soak [${engine}]: LEADTRAIL_SOAK_SEED=${SEED} LEADTRAIL_SOAK_OPS=${OPS}`);
    const rng = prng(SEED);
    const call = api.call;
    const org = api.org.organizationId;

    const startBalance = Math.round((await call("GET", "/wallets/me")).json().balance * 1_000_000);
    let toppedUp = 0;
    const senderIds: string[] = [];
    for (const [i, number] of SENDERS.entries()) {
      const res = await call("POST", "/phone-numbers", {
        number,
        name: `Line ${i}`,
        enabled: true,
        isDefault: i === 0,
        routing: { smsEnabled: true, tenDlcCampaignId: "CSOAK" },
      });
      assert.equal(res.statusCode, 200, res.body);
      senderIds.push(res.json().id);
    }

    interface SoakLead {
      id: string;
      phone: string;
      optedOut: boolean;
      conversationId: string;
      /** The lead's PUTs run one at a time, so its phone and opt-out are known between them. */
      chain: Promise<unknown>;
    }
    const leads: SoakLead[] = [];
    /** What a lead surely was from `from` (a write answered) to `until` (the next one asked). */
    interface LeadWindow {
      leadId: string;
      phone: string;
      optedOut: boolean;
      from: number;
      until: number | null;
    }
    const windows: LeadWindow[] = [];
    const openWindow = (lead: SoakLead, from: number) =>
      windows.push({ leadId: lead.id, phone: lead.phone, optedOut: lead.optedOut, from, until: null });
    const closeWindows = (match: (w: LeadWindow) => boolean, at: number) => {
      for (const w of windows) if (w.until === null && match(w)) w.until = at;
    };
    const sends: SendRecord[] = [];
    const repeats: { expected: string; got: string; what: string }[] = [];
    const suppressed = new Map<string, Interval[]>();
    const isOn = (phone: string) => suppressed.get(phone)?.some((i) => i.off === null) ?? false;
    /** When each release or START was answered, by phone. */
    const clearedAt = new Map<string, number[]>();
    /**
     * A suppression asked at `startedAt` and answered at `at`. A release or START answered while it
     * was on its way may have been applied after it (a release picks its phone from the database, so
     * it can release a STOP whose answer the client has not seen yet): then what stands is not known,
     * and no interval is claimed.
     */
    const turnOn = (phone: string, startedAt: number, at: number, how: string) => {
      if (isOn(phone)) return;
      const raced = (clearedAt.get(phone) ?? []).some((t) => t >= startedAt);
      suppressed.set(phone, [...(suppressed.get(phone) ?? []), { on: at, off: raced ? at : null, how }]);
    };
    const turnOff = (phone: string, at: number) => {
      for (const i of suppressed.get(phone) ?? []) if (i.off === null) i.off = at;
      clearedAt.set(phone, [...(clearedAt.get(phone) ?? []), Date.now()]);
    };
    const behaviourUntil = new Map<string, number>();

    // Receipts: every message the fake takes gets its receipts from here, in a way drawn from a PRNG
    // of its own (by the message's place in the fake's log), so the op stream's draws stay the same.
    let receiptsDone = 0;
    const pendingReceipts = new Set<Promise<void>>();
    const receiptKinds: Record<string, number> = {};
    const postReceipt = async (query: string, body: unknown) => {
      const res = await postWebhook(api, fake, body, { query });
      if (res.statusCode !== 200) failures.push(`a receipt was answered ${res.statusCode}: ${res.body}`);
    };
    const receiptsFor = async (index: number) => {
      const taken = fake.sent[index]!;
      const r = prng(SEED * 31 + index);
      const q = queryOf(taken);
      const m: MessageRequestBody = taken.body;
      const sent = () => fake.webhook("message.sent", taken.id, m, "sent");
      const delivered = () => fake.webhook("message.finalized", taken.id, m, "delivered");
      const failed = () =>
        fake.webhook("message.finalized", taken.id, m, "delivery_failed", {
          errors: [{ code: "30003", title: "Unreachable destination handset" }],
        });
      const sendingFailed = () =>
        fake.webhook("message.finalized", taken.id, m, "sending_failed", {
          errors: [{ code: "40001", title: "Not routable" }],
        });
      const way = r.pick(["normal", "normal", "duplicated", "reversed", "late", "failed", "sendingFailed"]);
      receiptKinds[way] = (receiptKinds[way] ?? 0) + 1;
      await sleep(r.int(60));
      const plan: (() => unknown)[] =
        way === "normal"
          ? [sent, delivered]
          : way === "duplicated"
            ? [sent, sent, delivered, delivered]
            : way === "reversed"
              ? [delivered, sent]
              : way === "late"
                ? [sent, delivered, failed, sent]
                : way === "failed"
                  ? [sent, failed, failed]
                  : [sendingFailed, sent];
      for (const body of plan) {
        await postReceipt(q, body());
        if (r.chance(0.5)) await sleep(r.int(30));
      }
    };
    receiptPump = setInterval(() => {
      while (receiptsDone < fake.sent.length) {
        const p = receiptsFor(receiptsDone++).catch((e) => {
          failures.push(`receipt driver: ${String(e)}`);
        });
        pendingReceipts.add(p);
        void p.finally(() => pendingReceipts.delete(p));
      }
    }, 15);

    const newLead = async () => {
      const phone = rng.pick(RECIPIENTS);
      const res = await call("POST", "/leads", {
        contact: { firstName: `Soak${leads.length}`, phone: { number: phone } },
      });
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      const answeredAt = Date.now();
      const conversations = (await call("POST", `/conversations/lead/${id}`, {})).json();
      const lead = {
        id,
        phone,
        optedOut: false,
        conversationId: conversations.items[0].id,
        chain: Promise.resolve(),
      };
      leads.push(lead);
      openWindow(lead, answeredAt);
    };
    for (let i = 0; i < 6; i++) await newLead();

    const send = async (extra: Record<string, unknown> = {}) => {
      const lead = rng.pick(leads);
      const key = rng.chance(0.5) ? `key-${sends.length}-${rng.int(1e6)}` : null;
      const text = `Soak message ${sends.length}`;
      const body = { conversationId: lead.conversationId, text, outboundIdempotencyKey: key, ...extra };
      const res = await call("POST", "/sms/send", body);
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      const record = {
        id,
        conversationId: lead.conversationId,
        key,
        text,
        scheduledFor: (extra.scheduledFor as string | undefined) ?? null,
      };
      sends.push(record);
      return record;
    };

    const ops: Record<string, () => Promise<void>> = {
      lead: newLead,
      update: async () => {
        const lead = rng.pick(leads);
        const change = rng.pick(["name", "name", "phone", "optOut"]);
        const firstName = `Pat${rng.int(1000)}`;
        const newPhone = rng.pick(RECIPIENTS);
        const optOut = rng.chance(0.5);
        const put = async () => {
          if (change === "phone") lead.phone = newPhone;
          if (change === "optOut") lead.optedOut = optOut;
          closeWindows((w) => w.leadId === lead.id, Date.now());
          const res = await call("PUT", `/leads/${lead.id}`, {
            contact: { firstName, phone: { number: lead.phone } },
            metadata: { smsOptedOut: lead.optedOut },
          });
          assert.equal(res.statusCode, 200, res.body);
          openWindow(lead, Date.now());
        };
        const done = lead.chain.then(put);
        lead.chain = done.catch(() => {});
        await done;
      },
      send: async () => {
        await send();
      },
      repeat: async () => {
        const earlier = sends.filter((s) => s.key !== null);
        if (earlier.length === 0) return;
        const s = rng.pick(earlier);
        const res = await call("POST", "/sms/send", {
          conversationId: s.conversationId,
          text: s.text,
          outboundIdempotencyKey: s.key,
          ...(s.scheduledFor ? { scheduledFor: s.scheduledFor } : {}),
        });
        assert.equal(res.statusCode, 201, res.body);
        repeats.push({ expected: s.id, got: res.json().id, what: `key ${s.key}` });
      },
      retryById: async () => {
        if (sends.length === 0) return;
        const s = rng.pick(sends);
        const res = await call("POST", "/sms/send", {
          conversationId: s.conversationId,
          text: s.text,
          smsEventId: s.id,
        });
        assert.equal(res.statusCode, 201, res.body);
        repeats.push({ expected: s.id, got: res.json().id, what: `smsEventId ${s.id}` });
      },
      schedule: async () => {
        const ahead = rng.chance(0.6) ? 300 + rng.int(1500) : 3_600_000;
        await send({ scheduledFor: new Date(Date.now() + ahead).toISOString() });
      },
      cancel: async () => {
        if (sends.length === 0) return;
        const s = rng.pick(sends);
        const res = await call("POST", `/sms/${s.id}/cancel`, { reason: "soak" });
        assert.ok([200, 409].includes(res.statusCode), res.body);
      },
      sendThenCancel: async () => {
        const s = await send();
        await sleep(rng.int(20));
        const res = await call("POST", `/sms/${s.id}/cancel`, {});
        assert.ok([200, 409].includes(res.statusCode), res.body);
      },
      inbound: async () => {
        const lead = rng.pick(leads);
        const text = rng.pick(["STOP", "START", "HELP", "Thanks!", "What time?", "stop", "Unstop"]);
        const to = rng.pick(SENDERS);
        // Most STOPs are followed by a START from the same phone a little later, as people do, so
        // suppressions do not pile up and a long run keeps sending (drawn always: the stream stays).
        const restart = rng.chance(0.7);
        const restartAfter = rng.int(150);
        const phone = lead.phone;
        const post = async (words: string) => {
          const keyword = words.toUpperCase();
          const startedAt = Date.now();
          const body = fake.inbound({ from: phone, to, text: words });
          const res = await postWebhook(api, fake, body);
          assert.equal(res.statusCode, 200, res.body);
          if (keyword === "STOP") turnOn(phone, startedAt, Date.now(), "STOP");
          if (keyword === "START" || keyword === "UNSTOP") {
            turnOff(phone, startedAt);
            // START clears smsOptedOut on the leads at that phone.
            closeWindows((w) => w.phone === phone && w.optedOut, startedAt);
            for (const l of leads) if (l.phone === phone) l.optedOut = false;
          }
        };
        await post(text);
        if (text.toUpperCase() === "STOP" && restart) {
          await sleep(restartAfter);
          await post("START");
        }
      },
      suppress: async () => {
        const phone = rng.pick(RECIPIENTS);
        const startedAt = Date.now();
        const res = await call("POST", "/suppressions", {
          organizationId: org,
          phoneNumber: phone,
          channel: "sms",
          reason: "soak",
        });
        assert.ok([200, 201].includes(res.statusCode), res.body);
        turnOn(phone, startedAt, Date.now(), "api");
      },
      release: async () => {
        // Mostly a phone that is suppressed now (by the API, a STOP or the provider's 40300), so
        // releases keep up with what piles up; now and then any phone (a 404).
        const any = rng.pick(RECIPIENTS);
        const which = rng.next();
        const active = await api.db.store.db
          .selectFrom("suppressions")
          .select("recipient")
          .where("organization_id", "=", org)
          .where("channel", "=", "sms")
          .where("status", "=", "active")
          .orderBy("recipient")
          .execute();
        const phone =
          active.length > 0 && which < 0.85
            ? active[Math.floor((which / 0.85) * active.length)]!.recipient
            : any;
        const startedAt = Date.now();
        const res = await call("POST", "/suppressions/release", {
          organizationId: org,
          phoneNumber: phone,
          channel: "sms",
          reason: "soak",
        });
        assert.ok([200, 404].includes(res.statusCode), res.body);
        turnOff(phone, startedAt);
        // A release that releases something clears smsOptedOut on the leads at that phone (README).
        closeWindows((w) => w.phone === phone && w.optedOut, startedAt);
        for (const l of leads) if (l.phone === phone) l.optedOut = false;
      },
      toggleSender: async () => {
        const enabled = rng.chance(0.5);
        const res = await call("PUT", `/phone-numbers/${senderIds[1]}`, {
          number: SENDERS[1],
          name: "Line 1",
          enabled,
        });
        assert.equal(res.statusCode, 200, res.body);
      },
      chaos: async () => {
        const phone = rng.pick(RECIPIENTS);
        const behaviour = rng.pick<Behaviour>([
          "429",
          "500",
          "502",
          "hang",
          "accept-hang",
          "422",
          "stop-blocked",
          "408",
        ]);
        fake.behaviour.set(phone, behaviour);
        if (behaviour === "429") fake.answerHeaders.set(phone, { "retry-after": "1" });
        behaviourUntil.set(phone, Date.now() + 200 + rng.int(800));
      },
      unknownReceipt: async () => {
        const id = `00000000-0000-4000-8000-${String(rng.int(1e12)).padStart(12, "0")}`;
        const body = fake.webhook(
          "message.finalized",
          id,
          { from: SENDERS[0]!, to: RECIPIENTS[0]! },
          "delivered",
        );
        const res = await postWebhook(api, fake, body);
        assert.equal(res.statusCode, 200, res.body);
      },
      topUp: async () => {
        // In proportion to spend: back to the starting credit plus up to one more TOP_UP, so a long
        // run keeps sending instead of ending Blocked for funds.
        const extra = rng.int(TOP_UP);
        const balance = Math.round((await call("GET", "/wallets/me")).json().balance * 1_000_000);
        const amount = Math.max(0, startBalance - balance) + extra;
        if (amount === 0) return;
        await addCredit(api.db.store.db, org, amount);
        toppedUp += amount;
      },
      pause: async () => {
        await sleep(rng.int(80));
      },
    };
    const weights: [string, number][] = [
      ["lead", 4],
      ["update", 4],
      ["send", 22],
      ["repeat", 6],
      ["retryById", 4],
      ["schedule", 8],
      ["cancel", 6],
      ["sendThenCancel", 6],
      ["inbound", 8],
      ["suppress", 2],
      ["release", 4],
      ["toggleSender", 3],
      ["chaos", 8],
      ["unknownReceipt", 2],
      ["pause", 5],
      ["topUp", 2],
    ];
    const total = weights.reduce((n, [, w]) => n + w, 0);
    const draw = () => {
      let x = rng.int(total);
      for (const [name, w] of weights) {
        if (x < w) return name;
        x -= w;
      }
      throw new Error("unreachable");
    };
    const counts: Record<string, number> = {};
    for (let done = 0; done < OPS; ) {
      // A few operations at once: they race each other and the workers.
      const batch = Array.from({ length: Math.min(OPS - done, 1 + rng.int(4)) }, draw);
      done += batch.length;
      for (const name of batch) counts[name] = (counts[name] ?? 0) + 1;
      await Promise.all(batch.map((name) => ops[name]!()));
      for (const [phone, until] of behaviourUntil) {
        if (Date.now() > until) {
          fake.behaviour.delete(phone);
          fake.answerHeaders.delete(phone);
          behaviourUntil.delete(phone);
        }
      }
    }
    console.log(`chaos soak [${engine}]: operations ${JSON.stringify(counts)}`);

    // Settle: the fake answers as usual again; wait until no message is on its way.
    fake.behaviour.clear();
    fake.answerHeaders.clear();
    const unsettled = async () =>
      api.db.store.db
        .selectFrom("events")
        .select(["id", "status", "scheduled_for"])
        .where("organization_id", "=", org)
        .where("direction", "=", "outbound")
        .where((eb) =>
          eb.or([
            eb("status", "in", ["Queued", "Sending", "Sent"]),
            eb.and([eb("status", "=", "Scheduled"), eb("scheduled_for", "<", Date.now() + 60_000)]),
          ]),
        )
        .execute();
    const deadline = Date.now() + 45_000;
    let left = await unsettled();
    while ((left.length > 0 || pendingReceipts.size > 0) && Date.now() < deadline) {
      await sleep(100);
      left = await unsettled();
    }
    clearInterval(receiptPump);
    await Promise.all(pendingReceipts);
    assert.deepEqual(left, [], "every message settles: final, or Scheduled far ahead");
    console.log(`chaos soak [${engine}]: receipts ${JSON.stringify(receiptKinds)}`);

    // --- Invariants ---
    const db = api.db.store.db;
    const events = await db.selectFrom("events").selectAll().where("organization_id", "=", org).execute();
    const byId = new Map(events.map((e) => [e.id, e]));
    const outbound = events.filter((e) => e.direction === "outbound");
    // Each message's log as GET /events/detail answers it (a message never moved has only its
    // creation entry, which the detail makes up from the row).
    type LogEntry = Omit<EventTransitionsTable, "organization_id" | "event_id" | "seq">;
    const logOf = new Map<string, LogEntry[]>();
    for (const e of outbound) {
      const res = await call("GET", `/events/detail/${e.id}`);
      assert.equal(res.statusCode, 200, res.body);
      const detail = res.json();
      if (detail.eventStatus !== e.status) failures.push(`detail of ${e.id} says ${detail.eventStatus}`);
      logOf.set(
        e.id,
        (
          detail.transitions as {
            occurredAt: string;
            fromStatus: string | null;
            toStatus: string | null;
            applied: boolean;
            stage: string;
            message: string;
          }[]
        ).map((t) => ({
          at: Date.parse(t.occurredAt),
          from_status: t.fromStatus,
          to_status: t.toStatus,
          applied: t.applied ? 1 : 0,
          stage: t.stage,
          message: t.message,
        })),
      );
    }

    // 1. Each message the fake took, taken once; each accepted POST /sms/send accounted for.
    const takenPer = new Map<string, number>();
    for (const s of fake.sent) {
      const id = eventIdOf(s);
      if (id) takenPer.set(id, (takenPer.get(id) ?? 0) + 1);
    }
    for (const [id, n] of takenPer)
      if (n > 1) failures.push(`event ${id} was taken by the provider ${n} times`);
    for (const s of sends) {
      const row = byId.get(s.id);
      if (!row) failures.push(`sent ${s.id} has no event`);
      else if (!FINAL.has(row.status ?? "") && row.status !== "Scheduled")
        failures.push(`${s.id} ended ${row.status}`);
    }
    const keyed = new Map<string, Set<string>>();
    for (const s of sends) if (s.key) keyed.set(s.key, new Set([...(keyed.get(s.key) ?? []), s.id]));
    for (const [key, ids] of keyed) if (ids.size > 1) failures.push(`key ${key} made ${ids.size} messages`);

    // 6. Idempotent repeats answered the same event.
    for (const r of repeats) if (r.got !== r.expected) failures.push(`${r.what} answered ${r.got}`);

    // 2. Nothing went to a number suppressed when the gate let it through (quiet hours are off).
    // Suppressions are taken as the client saw them: from the answer of an API add or a STOP's
    // webhook to the start of a release or START (one the provider's 40300 made is not counted: its
    // time is the worker's, not an answer's).
    for (const request of fake.requests) {
      const id = eventIdOf(request);
      if (!id) continue;
      const log = logOf.get(id) ?? [];
      const gate = log
        .filter((t) => t.to_status === "Sending" && t.applied === 1 && t.at <= request.at)
        .pop();
      if (!gate) {
        failures.push(`event ${id} reached the provider with no Sending in its log`);
        continue;
      }
      const event = byId.get(id);
      const to = request.body.to;
      const optedOut = windows.find(
        (w) => w.phone === to && w.optedOut && gate.at >= w.from && (w.until === null || gate.at < w.until),
      );
      if (optedOut)
        failures.push(
          `event ${id} to ${to} was gated at ${gate.at} while lead ${optedOut.leadId} there was opted out (${JSON.stringify(optedOut)}; windows ${JSON.stringify(windows.filter((w) => w.phone === to || w.leadId === optedOut.leadId))}; log ${JSON.stringify(log)}; lead now ${JSON.stringify((await call("GET", `/leads/${optedOut.leadId}`)).json().metadata)}; event lead ${event?.lead_id})`,
        );
      const moved = windows.find(
        (w) =>
          w.leadId === event?.lead_id &&
          w.phone !== to &&
          gate.at >= w.from &&
          (w.until === null || gate.at < w.until),
      );
      if (moved)
        failures.push(
          `event ${id} to ${to} was gated at ${gate.at} while its lead's phone was ${moved.phone}`,
        );
      const during = (suppressed.get(request.body.to) ?? []).find(
        (i) => gate.at >= i.on && (i.off === null || gate.at < i.off),
      );
      if (during)
        failures.push(
          `event ${id} to ${request.body.to} was gated at ${gate.at} while suppressed (${during.how} from ${during.on} to ${during.off}); intervals ${JSON.stringify(suppressed.get(request.body.to))}; cleared ${JSON.stringify(clearedAt.get(request.body.to))}; log ${JSON.stringify(log)}`,
        );
    }

    // 3. Billing: one charge per message taken (refunds their own lines), the wallet adds up.
    const ledger = await db
      .selectFrom("usage_ledger")
      .selectAll()
      .where("organization_id", "=", org)
      .orderBy("event_id")
      .orderBy("event_entry")
      .execute();
    const linesOf = new Map<string, typeof ledger>();
    let net = 0;
    for (const line of ledger) {
      net += Number(line.amount_micros);
      if (line.event_id) linesOf.set(line.event_id, [...(linesOf.get(line.event_id) ?? []), line]);
    }
    for (const [id, lines] of linesOf) {
      const event = byId.get(id);
      const statuses = lines.map((l) => l.status).join(",");
      if (!/^charged(,refunded_credited,charged)*(,refunded_credited)?$/.test(statuses))
        failures.push(`event ${id} ledger lines ${statuses}`);
      if (!takenPer.has(id) && event?.is_warmup === 0) failures.push(`event ${id} billed but never taken`);
      const sum = lines.reduce((n, l) => n + Number(l.amount_micros), 0);
      const expected = event?.billing_status === "Billed" ? Number(event.billable_micros) : 0;
      if (sum !== expected)
        failures.push(`event ${id} nets ${sum} on the ledger, billing ${event?.billing_status} ${expected}`);
    }
    for (const e of outbound) {
      if (["Delivered", "Undeliverable"].includes(e.status ?? "") && e.traffic_type === "RealLead") {
        if (e.billing_status !== "Billed") failures.push(`event ${e.id} ${e.status} but ${e.billing_status}`);
      }
      if (e.billing_status === "Billed" && !linesOf.has(e.id))
        failures.push(`event ${e.id} Billed, no ledger line`);
    }
    const wallet = (await call("GET", "/wallets/me")).json();
    const balanceMicros = Math.round(wallet.balance * 1_000_000);
    if (balanceMicros !== startBalance + toppedUp - net)
      failures.push(`wallet ${balanceMicros} != ${startBalance} + ${toppedUp} - ledger ${net}`);
    // The gate never spends more than the wallet holds; the exceptions (README) are billed even past
    // zero: a message the reconcile gave up on that a receipt then shows was sent, and one a failure
    // receipt refunded that a late "sent" receipt then charges again (the refund was spendable
    // meanwhile).
    const lateBilled = outbound.filter(
      (e) =>
        e.billing_status === "Billed" &&
        ((logOf.get(e.id) ?? []).some((t) => t.stage === "reconcile") ||
          (linesOf.get(e.id)?.length ?? 0) > 2),
    ).length;
    if (balanceMicros < -lateBilled * 7900)
      failures.push(`wallet ${balanceMicros} below zero by more than ${lateBilled} late-billed messages`);

    // 4. Status and times agree with the log; statuses only moved forward; records fit the schema.
    for (const e of outbound) {
      const log = (logOf.get(e.id) ?? []).filter((t) => t.applied === 1 && t.to_status !== null);
      const last = log.at(-1);
      if (last?.to_status !== e.status)
        failures.push(`event ${e.id} is ${e.status}, its log ends ${last?.to_status}`);
      let from: string | null = null;
      let reconciled = false;
      for (const t of log) {
        if (t.from_status !== from) failures.push(`event ${e.id} log: ${t.from_status} after ${from}`);
        // README: a message the reconcile gave up on (Failed, ProviderOutcomeUnknown) is still moved
        // by the send call's late answer (a retry queues it again) and by any receipt.
        const late =
          reconciled && t.from_status === "Failed" && t.to_status !== "Blocked" && t.to_status !== "Canceled";
        reconciled = t.stage === "reconcile" || (reconciled && t.to_status === "Failed");
        if (!late && !forward(t.from_status, t.to_status!))
          failures.push(
            `event ${e.id} went ${t.from_status} → ${t.to_status} (${t.stage}: ${t.message}); its log: ${(logOf.get(e.id) ?? []).map((l) => `${l.at} ${l.from_status}→${l.to_status}${l.applied ? "" : " (not applied)"} ${l.stage}: ${l.message}`).join(" | ")}`,
          );
        from = t.to_status;
      }
      for (const [status, column] of Object.entries(STATUS_TIME)) {
        const at = e[column as keyof typeof e];
        const reached = log.some((t) => t.to_status === status);
        if (e.status === status && at === null) failures.push(`event ${e.id} is ${status} with no ${column}`);
        if (at !== null && !reached && status !== "Sent")
          failures.push(`event ${e.id} has ${column} but never went ${status}`);
      }
    }
    for (const e of events) {
      const res = await call("GET", `/events/${e.id}`);
      assert.equal(res.statusCode, 200, res.body);
      try {
        assertEventRecord(res.json());
      } catch (error) {
        failures.push(String(error));
      }
    }

    // 5. Conversation previews show the newest event; list counts equal the rows paged through.
    for (const lead of leads) {
      const conversation = (await call("POST", `/conversations/lead/${lead.id}`, {})).json().items[0];
      const mine = events
        .filter((e) => e.conversation_id === lead.conversationId)
        .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
      const newest = mine[0];
      if (newest && conversation.lastEventAt !== new Date(newest.created_at).toISOString())
        failures.push(
          `conversation ${lead.conversationId} lastEventAt ${conversation.lastEventAt}, newest ${new Date(newest.created_at).toISOString()}`,
        );
      const shown = mine.find((e) => e.status !== "Canceled");
      const snippet = shown ? (shown.summary ?? shown.description).slice(0, 160) : null;
      if (conversation.lastSnippet !== snippet)
        failures.push(
          `conversation ${lead.conversationId} lastSnippet ${JSON.stringify(conversation.lastSnippet)}, newest ${JSON.stringify(snippet)}`,
        );
    }
    for (const path of [
      "/events/sms/all/my",
      "/events/all/my",
      "/conversations/my",
      "/suppressions/all/my",
    ]) {
      let token: string | null = null;
      let rows = 0;
      let counted: number | null = null;
      do {
        const page: { totalCount: number; items: unknown[]; continuationToken?: string | null } = (
          await call("POST", path, { includeCount: true, pageSize: 7, continuationToken: token })
        ).json();
        counted ??= page.totalCount;
        if (page.totalCount !== counted) failures.push(`${path} totalCount moved: ${page.totalCount}`);
        rows += page.items.length;
        token = page.continuationToken ?? null;
      } while (token);
      if (rows !== counted) failures.push(`${path}: ${rows} rows paged through, totalCount ${counted}`);
    }

    const outcomes: Record<string, number> = {};
    for (const e of outbound) {
      const k = `${e.status}${e.billing_status === "InsufficientFunds" ? "/funds" : e.compliance_action ? `/${e.compliance_action}` : ""}`;
      outcomes[k] = (outcomes[k] ?? 0) + 1;
    }
    console.log(`chaos soak [${engine}]: outcomes ${JSON.stringify(outcomes)}`);
    console.log(
      `chaos soak [${engine}]: ${sends.length} sends, ${fake.requests.length} provider calls, ${fake.sent.length} taken, ${events.length} events, ${ledger.length} ledger lines`,
    );
    assert.deepEqual(failures, [], `seed ${SEED}`);
  });
});
