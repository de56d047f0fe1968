import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { loadMessagingConfig } from "../src/config.js";
import { TelnyxProvider } from "../src/messaging/providers/telnyx.js";
import { Worker } from "../src/messaging/worker.js";
import { createWallet } from "../src/store/billing-repo.js";
import type { Engine } from "../src/store/database.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { type Behaviour, FakeTelnyx } from "./helpers/fake-telnyx.js";
import { addLead, addSenderNumber, type EventJson } from "./helpers/messaging.js";
import { telnyxEnv } from "./helpers/telnyx.js";

// A refusal of our Telnyx account or settings (402 funds, 401 key, 403 permission) during an outage
// of many minutes, on a clock the test moves: the messages wait without spending their retries,
// the workers stop calling Telnyx but for one probe per interval (30 s doubling to 10 min), and
// they go once, when Telnyx takes a probe; past LEADTRAIL_OPERATOR_WAIT_HOURS they fail.

const MINUTE = 60_000;

forEachEngine("Telnyx operator outage", (engine) => {
  let fake: FakeTelnyx;
  let url: string;
  before(async () => {
    fake = new FakeTelnyx();
    url = await fake.start();
  });
  after(() => fake.stop());

  /** An API on the fake, and `workers` workers of its own on its store, on the clock `clock.now`. */
  async function setUp(env: NodeJS.ProcessEnv, workers = 1) {
    const settings = { ...telnyxEnv(fake, url), LEADTRAIL_RETRY_MAX_ATTEMPTS: "2", ...env };
    const api = await startTestApi(engine, { env: settings });
    const sender = await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    const clock = { now: Date.now() };
    const provider = new TelnyxProvider({
      apiKey: "KEYtest",
      apiBaseUrl: `${url}/v2`,
      publicUrl: "http://127.0.0.1:9",
      webhookUrlSecret: api.db.store.webhookUrlSecret,
      timeoutMs: 2_000,
    });
    const config = loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off", ...settings });
    const list = Array.from(
      { length: workers },
      () => new Worker(api.db.store.db, { engine: engine as Engine, config, provider, now: () => clock.now }),
    );
    /** Moves the clock on by `ms` (from now at least) and lets every worker run its rounds until none claims anything. */
    const step = async (ms: number) => {
      // Never behind the real clock, which stamped the messages' due times as they were queued.
      clock.now = Math.max(clock.now, Date.now()) + ms;
      for (let i = 0; i < 10; i++) {
        let claimed = 0;
        for (const w of list) claimed += await w.runOnce();
        if (claimed === 0) return;
      }
    };
    return { api, clock, step, sender };
  }

  async function send(
    api: TestApi,
    phones: string[],
    behaviour: Behaviour,
    fromPhoneNumberId?: string,
  ): Promise<string[]> {
    const ids: string[] = [];
    for (const phone of phones) {
      fake.behaviour.set(phone, behaviour);
      const { conversationId } = await addLead(api, phone);
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        text: "Your quote",
        ...(fromPhoneNumberId ? { fromPhoneNumberId, wasManuallyOverridden: true } : {}),
      });
      assert.equal(res.statusCode, 201, res.body);
      ids.push(res.json().id);
    }
    return ids;
  }

  const eventOf = async (api: TestApi, id: string) =>
    (await api.call("GET", `/events/${id}`)).json() as EventJson;
  const requestsTo = (phones: string[]) => fake.requests.filter((r) => phones.includes(r.body.to)).length;
  const logEntries = async (api: TestApi, ids: string[]) =>
    (
      await api.db.store.db
        .selectFrom("event_transitions")
        .select("seq")
        .where("organization_id", "=", api.org.organizationId)
        .where("event_id", "in", ids)
        .execute()
    ).length;

  test("a 402 outage of 40 minutes: the messages outlive their retries, two workers send a probe per interval only, and each goes once when Telnyx takes it", async () => {
    const phones = ["+12125550301", "+12125550302", "+12125550303", "+12125550304", "+12125550305"];
    const { api, step } = await setUp({}, 2);
    try {
      const ids = await send(api, phones, "insufficient-funds");
      await step(1_000);
      // The first claim went out before anything was known: every message of it is refused once.
      assert.equal(requestsTo(phones), phones.length);
      const waiting = await eventOf(api, ids[0]!);
      assert.equal(waiting.status, "Queued");
      assert.equal(waiting.retryCount, 0, "an operator refusal spends no retry");
      assert.equal(waiting.errorCode, "20100");
      assert.match(
        String(waiting.statusReason),
        /^The provider refused our account or settings \(code 20100\): You do not have enough funds to perform this action\. Top up the Telnyx account's balance\. Waiting for it to be fixed \(no retry spent\); fails at \d{4}-\d\d-\d\dT[\d:.]+Z if it is not\.$/,
      );
      // Ten minutes in, then thirty more: far past two retries on the backoff.
      for (let t = 0; t < 10 * MINUTE; t += 20_000) await step(20_000);
      const calledBy10 = requestsTo(phones);
      const loggedBy10 = await logEntries(api, ids);
      for (let t = 0; t < 30 * MINUTE; t += 20_000) await step(20_000);
      const probes = requestsTo(phones) - phones.length;
      // Probes at 30 s, 1.5, 3.5, 7.5, 15.5, 25.5 and 35.5 min: the interval doubles up to 10 min.
      assert.ok(probes >= 5 && probes <= 8, `${probes} probes in 40 minutes`);
      for (const id of ids) {
        const e = await eventOf(api, id);
        assert.equal(e.status, "Queued", JSON.stringify(e));
        assert.equal(e.retryCount, 0);
        assert.match(
          String(e.statusReason),
          /Top up the Telnyx account's balance\. Waiting for it to be fixed/,
        );
      }
      // The logs grow with the probes only (a probe adds its handing-over and its refusal), not with
      // the rounds that held the messages back.
      const probesSince10 = requestsTo(phones) - calledBy10;
      assert.ok(
        (await logEntries(api, ids)) - loggedBy10 <= 2 * probesSince10,
        `${(await logEntries(api, ids)) - loggedBy10} entries for ${probesSince10} probes`,
      );

      // Funds are back: the next probe gets through, and every message goes, once.
      for (const phone of phones) fake.behaviour.set(phone, "accept");
      for (let t = 0; t < 11 * MINUTE; t += 20_000) await step(20_000);
      for (const id of ids) {
        const e = await eventOf(api, id);
        assert.equal(e.status, "Sent", JSON.stringify(e));
        assert.equal(e.statusReason, null);
      }
      for (const phone of phones) {
        assert.equal(fake.sent.filter((r) => r.body.to === phone).length, 1, `${phone} sent once`);
      }
      const breakers = await api.db.store.db.selectFrom("provider_breakers").selectAll().execute();
      assert.deepEqual(breakers, [], "the probe's acceptance closed the breaker");
    } finally {
      await api.close();
    }
  });

  test("past LEADTRAIL_OPERATOR_WAIT_HOURS the waiting messages fail, saying why and what to check, and are called no more", async () => {
    const phones = ["+12125550311", "+12125550312", "+12125550313"];
    const { api, step } = await setUp({ LEADTRAIL_OPERATOR_WAIT_HOURS: "0.5" });
    try {
      const ids = await send(api, phones, "insufficient-funds");
      await step(1_000);
      for (let t = 0; t < 35 * MINUTE; t += 20_000) await step(20_000);
      for (const id of ids) {
        const e = await eventOf(api, id);
        assert.equal(e.status, "Failed", JSON.stringify(e));
        assert.equal(e.errorCode, "20100");
        assert.match(
          String(e.statusReason),
          /^The provider refused our account or settings \(code 20100\): .* Top up the Telnyx account's balance\. Gave up after waiting 0\.5 h for it to be fixed \(LEADTRAIL_OPERATOR_WAIT_HOURS\)\.$/,
        );
      }
      const called = requestsTo(phones);
      for (let t = 0; t < 20 * MINUTE; t += 20_000) await step(20_000);
      assert.equal(requestsTo(phones), called, "no call for a failed message");
    } finally {
      await api.close();
    }
  });

  test("a message's own refusal still fails at once and a temporary one still spends the retries, neither holding other messages back", async () => {
    const { api, step } = await setUp({});
    try {
      const [invalid] = await send(api, ["+12125550321"], "422");
      const [busy] = await send(api, ["+12125550322"], "500");
      await step(1_000);
      const failed = await eventOf(api, invalid!);
      assert.equal(failed.status, "Failed");
      assert.equal(failed.errorCode, "40310");
      // The backoff's retries (2), then it fails: 3 calls in all.
      for (let t = 0; t < 10 * MINUTE; t += 20_000) await step(20_000);
      const gaveUp = await eventOf(api, busy!);
      assert.equal(gaveUp.status, "Failed", JSON.stringify(gaveUp));
      assert.equal(gaveUp.retryCount, 2);
      assert.match(String(gaveUp.statusReason), /Gave up after 2 retries\.$/);
      assert.equal(requestsTo(["+12125550322"]), 3);
      const [fine] = await send(api, ["+12125550323"], "accept");
      await step(1_000);
      assert.equal((await eventOf(api, fine!)).status, "Sent");
    } finally {
      await api.close();
    }
  });

  test("a permission refusal (403) holds back the messages of its sender number only", async () => {
    const { api, step, sender } = await setUp({});
    try {
      const other = await addSenderNumber(api, { number: "+14155550199", is_default: 0 });
      const [refused] = await send(api, ["+12125550331"], "403", sender.id);
      await step(1_000);
      assert.equal((await eventOf(api, refused!)).status, "Queued");
      // Another message from the refused number: held back without a call.
      const [held] = await send(api, ["+12125550332"], "accept", sender.id);
      await step(1_000);
      assert.equal(requestsTo(["+12125550332"]), 0, "held back without a call");
      const e = await eventOf(api, held!);
      assert.equal(e.status, "Queued");
      assert.match(String(e.statusReason), /code 10010/);
      // Another number of the account still sends.
      const [elsewhere] = await send(api, ["+12125550333"], "accept", other.id);
      await step(1_000);
      const sent = await eventOf(api, elsewhere!);
      assert.equal(sent.status, "Sent", JSON.stringify(sent));
      assert.equal(sent.fromPhoneNumber, "+14155550199");
    } finally {
      await api.close();
    }
  });
  test("messages waiting for the operator that quiet hours held overnight are held back again in the morning beside newer ones, each keeping when it began to wait", async () => {
    // New York's quiet hours 21:00-08:00: the recipients (+1212) are there.
    const { api, clock, step } = await setUp({ LEADTRAIL_QUIET_HOURS: "21:00-08:00" });
    try {
      // A minute of New York's day (0-1439) at `at`.
      const minuteInNewYork = (at: number) => {
        const parts = new Intl.DateTimeFormat("en-US", {
          timeZone: "America/New_York",
          hour: "numeric",
          minute: "numeric",
          hourCycle: "h23",
        }).formatToParts(at);
        const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
        return part("hour") * 60 + part("minute");
      };
      /** The time from the clock to the next `minute` of New York's day. */
      const untilNewYork = (minute: number) => {
        let at = Math.max(clock.now, Date.now()) + MINUTE;
        while (minuteInNewYork(at) !== minute) at += MINUTE;
        return at - Math.max(clock.now, Date.now());
      };
      // Refused at 10:00 in New York: they wait for the operator.
      await step(untilNewYork(10 * 60));
      const older = await send(api, ["+12125550341", "+12125550342"], "insufficient-funds");
      await step(1_000);
      assert.equal((await eventOf(api, older[0]!)).status, "Queued");
      // 21:30: quiet hours hold them until the morning.
      await step(untilNewYork(21 * 60 + 30));
      assert.equal((await eventOf(api, older[0]!)).status, "Scheduled");
      // Newer messages, held by quiet hours before they ever met the breaker.
      const newer = await send(api, ["+12125550343", "+12125550344"], "insufficient-funds");
      await step(1_000);
      // 08:01: all come due in one claim, one goes as the probe, the others are held back: the older
      // waiting since 10:00, the newer from now on.
      await step(untilNewYork(8 * 60 + 1));
      for (const id of [...older, ...newer]) {
        const e = await eventOf(api, id);
        assert.equal(e.status, "Queued", JSON.stringify(e));
        assert.match(String(e.statusReason), /Waiting for it to be fixed/);
      }
      const since = await api.db.store.db
        .selectFrom("events")
        .select(["id", "operator_wait_since"])
        .where("id", "in", [...older, ...newer])
        .execute();
      const of = (id: string) => Number(since.find((r) => r.id === id)!.operator_wait_since);
      assert.equal(of(older[0]!), of(older[1]!));
      assert.ok(of(newer[0]!) > of(older[0]!) + 12 * 3_600_000, "the newer wait from the morning");
    } finally {
      await api.close();
    }
  });
});
