import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import {
  dailyTarget,
  WARMUP_DAYS,
  warmupDay,
  warmupDayStart,
  warmupMessageDue,
} from "../src/domain/warmup.js";
import { createWallet } from "../src/store/billing-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import {
  addSenderNumber,
  clockedWorker,
  isFinal,
  startSimulator,
  waitForEvent,
} from "./helpers/messaging.js";

test("the warmup ramp doubles daily to a ceiling and spreads sends over the day", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 13].map(dailyTarget), [4, 8, 16, 32, 64, 100, 100]);
  assert.equal(warmupMessageDue(0, null, 0, 0, 0), true);
  assert.equal(warmupMessageDue(4, 0, 0, 0, 10), false, "day 1 target reached");
  assert.equal(warmupMessageDue(1, 0, 0, 0, 21_599_999), false, "4 a day: one every 6 hours");
  assert.equal(warmupMessageDue(1, 0, 0, 0, 21_600_000), true);
  assert.equal(warmupMessageDue(0, null, 0, WARMUP_DAYS, 0), false, "Ready: no more");
});

const DAY = 86_400_000;

/** Runs a scheduler ticking every minute from `from` to `to`, as messaging/warmup.ts keeps its counters. */
function simulate(
  startedAt: number,
  from: number,
  to: number,
  state = { dayStart: -1, sentToday: 0, last: null as number | null },
) {
  const sends: number[] = [];
  for (let now = from; now < to; now += 60_000) {
    const today = warmupDayStart(startedAt, now);
    if (today !== state.dayStart) [state.dayStart, state.sentToday] = [today, 0];
    if (warmupMessageDue(state.sentToday, state.last, today, warmupDay(startedAt, now), now)) {
      state.sentToday++;
      state.last = now;
      sends.push(now);
    }
  }
  return { sends, state };
}

test("a scheduler ticking every minute sends each day's target, spread over the day, and stops after 14 days", () => {
  const startedAt = Date.parse("2026-03-01T17:23:00Z");
  const { sends } = simulate(startedAt, startedAt, startedAt + 20 * DAY);
  const perDay: number[] = [];
  for (const at of sends) perDay[warmupDay(startedAt, at)] = (perDay[warmupDay(startedAt, at)] ?? 0) + 1;
  assert.deepEqual(
    perDay,
    Array.from({ length: WARMUP_DAYS }, (_, day) => dailyTarget(day)),
  );
  // Never a burst: sends are at least a slot apart (less the minute a tick may lag).
  const gaps = sends.slice(1).map((at, i) => at - sends[i]!);
  assert.ok(Math.min(...gaps) >= DAY / 100 - 60_000, `shortest gap ${Math.min(...gaps)}`);
});

test("slots missed while the scheduler was down are not made up in a burst", () => {
  const startedAt = Date.parse("2026-03-01T17:23:00Z");
  const before = simulate(startedAt, startedAt, startedAt + 10 * DAY);
  // Twelve hours down on day 10 (100 a day: a slot every 14.4 minutes), then an hour back up.
  const back = startedAt + 10 * DAY + 12 * 3_600_000;
  const { sends } = simulate(startedAt, back, back + 3_600_000, before.state);
  assert.ok(sends.length <= 5, `${sends.length} sends in the hour after the outage`);
  // An upgrade from a version that counted by UTC day is the same: its day start never matches, and
  // the slot rule, by the last send, still allows one send a slot.
  const upgraded = simulate(startedAt, back, back + 3_600_000, {
    dayStart: Date.parse("2026-03-11T00:00:00Z"),
    sentToday: 83,
    last: back - 300_000,
  });
  assert.ok(upgraded.sends.length <= 5, `${upgraded.sends.length} sends in the hour after an upgrade`);
});

forEachEngine("warmup", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, {
      // Quiet hours off: these tests tick on the real clock (the next suite holds warmup to them).
      env: { LEADTRAIL_QUIET_HOURS: "off", LEADTRAIL_WARMUP_TICK_SECONDS: "0" },
    });
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    startSimulator(api);
  });
  after(() => api.close());

  test("a warmup number exchanges messages with the organization's other numbers, never billed", async () => {
    const walletBefore = await api.db.store.db
      .selectFrom("wallets")
      .select("balance_micros")
      .executeTakeFirstOrThrow();
    const fresh = await addSenderNumber(api, { number: "+14155550111", warmup_enabled: 1, is_default: 0 });
    const partner = await addSenderNumber(api, { number: "+14155550112" });
    const off = await api.call("GET", `/phone-numbers/${partner.id}/warmup`);
    assert.equal(off.json().state, "Not Started");

    const now = Date.now();
    const queued = await api.pipeline.warmupTick(now);
    assert.equal(queued.length, 2, "one message and its answer");
    assert.deepEqual(await api.pipeline.warmupTick(now + 1000), [], "not again before the spacing");
    for (const event of queued) {
      const done = await waitForEvent(api, event.id, isFinal);
      assert.equal(done.status, "Delivered");
      assert.equal(done.isWarmup, true);
      assert.equal(done.trafficType, "Warmup");
      assert.equal(done.activityType, "Warmup");
      assert.equal(done.billingStatus, "NotBilled");
      assert.equal(done.billableAmount, null);
      assert.equal(done.leadId, null);
      // No selection rule chose the pair, and nobody overrode one.
      assert.equal(done.selectionReason, null);
      assert.equal(done.wasManuallyOverridden, false);
    }
    const [out, back] = queued;
    assert.equal(out!.from_phone_number, fresh.number);
    assert.equal(out!.to_phone_number, partner.number);
    assert.equal(back!.from_phone_number, partner.number);
    assert.equal(back!.to_phone_number, fresh.number);

    const walletAfter = await api.db.store.db
      .selectFrom("wallets")
      .select("balance_micros")
      .executeTakeFirstOrThrow();
    assert.equal(walletAfter.balance_micros, walletBefore.balance_micros);
    const lines = await api.db.store.db
      .selectFrom("usage_ledger")
      .selectAll()
      .where(
        "event_id",
        "in",
        queued.map((e) => e.id),
      )
      .execute();
    assert.ok(
      lines.every(
        (l) => l.amount_micros === 0 && l.status === "non_billable_internal" && l.channel === "warmup",
      ),
    );

    const progress = (await api.call("GET", `/phone-numbers/${fresh.id}/warmup`)).json();
    assert.equal(progress.enabled, true);
    assert.equal(progress.state, "In Progress");
    assert.equal(progress.day, 0);
    assert.equal(progress.dailyTarget, 4);
    assert.equal(progress.sentToday, 1);
    assert.equal(progress.totalSent, 1);
    assert.equal(progress.healthStatus, "Healthy");

    const later = await api.pipeline.warmupTick(now + 6 * 3600_000);
    assert.equal(later.length, 2, "the next exchange is due after a quarter day");
    assert.equal(
      (await api.call("GET", "/phone-numbers/pn_01HZZZZZZZZZZZZZZZZZZZZZZZ/warmup")).statusCode,
      404,
    );
  });

  test("after the 14 days the number is Ready, with no daily target and nothing more sent", async () => {
    const ready = await addSenderNumber(api, {
      number: "+14155550124",
      warmup_enabled: 1,
      is_default: 0,
      warmup_started_at: Date.now() - 15 * 86_400_000,
    });
    const progress = (await api.call("GET", `/phone-numbers/${ready.id}/warmup`)).json();
    assert.equal(progress.state, "Ready");
    assert.equal(progress.day, 15);
    assert.equal(progress.dailyTarget, 0);
    // It may still answer another number's warmup; it starts none of its own.
    const queued = await api.pipeline.warmupTick(Date.now());
    assert.ok(
      !queued.some(
        (e) => e.from_phone_number === ready.number && e.summary?.startsWith("Warmup: Checking in"),
      ),
    );
  });

  test("a number that opted out is no warmup partner: a registered number may be a person's", async () => {
    // Only these three numbers take part (the first test's numbers are disabled).
    await api.db.store.db.updateTable("phone_numbers").set({ enabled: 0 }).execute();
    await addSenderNumber(api, { number: "+14155550121", warmup_enabled: 1, is_default: 0 });
    const person = await addSenderNumber(api, { number: "+14155550122", is_default: 0 });
    const partner = await addSenderNumber(api, { number: "+14155550123", is_default: 0 });
    const res = await api.call("POST", "/suppressions", {
      organizationId: api.org.organizationId,
      phoneNumber: person.number,
      channel: "sms",
      reason: "said STOP",
    });
    assert.equal(res.statusCode, 201, res.body);
    const start = Date.now();
    const recipients = new Set<string>();
    // Two exchanges, a slot apart (day 0: four a day), would alternate between two partners.
    for (const now of [start, start + 6 * 3_600_000]) {
      for (const event of await api.pipeline.warmupTick(now)) recipients.add(event.to_phone_number!);
    }
    assert.ok(recipients.has(partner.number));
    assert.ok(!recipients.has(person.number), [...recipients].join(", "));
  });

  test("warmup turned off while a tick is about to send: nothing is sent and the ramp stays ended", async () => {
    // Only these two numbers take part.
    await api.db.store.db.updateTable("phone_numbers").set({ enabled: 0 }).execute();
    const warming = await addSenderNumber(api, { number: "+14155550131", warmup_enabled: 1, is_default: 0 });
    await addSenderNumber(api, { number: "+14155550132", is_default: 0 });
    const db = api.db.store.db;
    // As PUT /phone-numbers/{id} with warmup.enabled false writes it.
    const turnOff = { warmup_enabled: 0, warmup_started_at: null };
    let queued: Awaited<ReturnType<typeof api.pipeline.warmupTick>>;
    if (engine === "postgresql") {
      // The change is made but not committed while the tick runs: the tick read the number before it.
      let settled = false;
      let tick!: ReturnType<typeof api.pipeline.warmupTick>;
      await db.transaction().execute(async (trx) => {
        await trx.updateTable("phone_numbers").set(turnOff).where("id", "=", warming.id).execute();
        tick = api.pipeline.warmupTick(Date.now()).finally(() => {
          settled = true;
        });
        // Until the tick is done, or waits for this transaction's row lock.
        while (!settled && !(await someoneWaitsForALock())) await new Promise((r) => setImmediate(r));
      });
      queued = await tick;
    } else {
      // SQLite runs one transaction at a time: the tick comes after the change.
      await db.updateTable("phone_numbers").set(turnOff).where("id", "=", warming.id).execute();
      queued = await api.pipeline.warmupTick(Date.now());
    }
    assert.deepEqual(
      queued.map((e) => e.summary),
      [],
    );
    const row = await db
      .selectFrom("phone_numbers")
      .selectAll()
      .where("id", "=", warming.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.warmup_started_at, null, "turning warmup off ends the ramp");
    assert.equal(row.warmup_total_sent, 0);
  });

  /** PostgreSQL: whether a session of this database waits for a lock another one holds. */
  const someoneWaitsForALock = async () => {
    const { rows } = await sql<{ n: number | string }>`
      select count(*) as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(api.db.store.db);
    return Number(rows[0]?.n) > 0;
  };
  test("a number disabled for two weeks resumes its ramp where it paused, not at full volume", async () => {
    // Only these two numbers take part.
    const db = api.db.store.db;
    await db.updateTable("phone_numbers").set({ enabled: 0 }).execute();
    const DAY = 86_400_000;
    const warming = await addSenderNumber(api, {
      number: "+14155550141",
      warmup_enabled: 1,
      is_default: 0,
      warmup_started_at: Date.now() - 3 * DAY - 3_600_000,
    });
    await addSenderNumber(api, { number: "+14155550142", is_default: 0 });
    const put = async (enabled: boolean) => {
      const res = await api.call("PUT", `/phone-numbers/${warming.id}`, {
        number: warming.number,
        name: warming.name,
        enabled,
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };
    const progress = async () => {
      const p = (await api.call("GET", `/phone-numbers/${warming.id}/warmup`)).json();
      return { state: p.state, day: p.day, dailyTarget: p.dailyTarget, progressPercent: p.progressPercent };
    };
    const dayThree = { state: "In Progress", day: 3, dailyTarget: 32, progressPercent: 21 };
    assert.deepEqual(await progress(), dayThree);

    await put(false);
    // Two weeks go by while it is disabled: its pause, and its start, are moved 14 days back.
    const row = await db
      .selectFrom("phone_numbers")
      .select(["warmup_started_at", "warmup_paused_at"])
      .where("id", "=", warming.id)
      .executeTakeFirstOrThrow();
    assert.notEqual(row.warmup_paused_at, null, "disabling pauses the ramp");
    await db
      .updateTable("phone_numbers")
      .set({
        warmup_started_at: row.warmup_started_at! - 14 * DAY,
        warmup_paused_at: row.warmup_paused_at! - 14 * DAY,
      })
      .where("id", "=", warming.id)
      .execute();
    assert.deepEqual(await progress(), dayThree, "a paused ramp stands where it paused");
    assert.deepEqual(await api.pipeline.warmupTick(Date.now()), [], "nothing is sent while disabled");

    const back = await put(true);
    assert.equal(back.warmup.state, "In Progress");
    assert.deepEqual(await progress(), dayThree, "enabled again: on day 3 of the ramp, not Ready");
    assert.equal((await api.pipeline.warmupTick(Date.now())).length, 2, "and the ramp goes on");
  });
});

forEachEngine("warmup and quiet hours", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, {
      env: { LEADTRAIL_QUIET_HOURS: "21:00-08:00", LEADTRAIL_WARMUP_TICK_SECONDS: "0" },
    });
  });
  after(() => api.close());

  test("an exchange starts only while both numbers are outside quiet hours: a number registered as a partner may be a person's", async () => {
    const warmed = await addSenderNumber(api, { number: "+14155550161", warmup_enabled: 1, is_default: 0 });
    const newYork = await addSenderNumber(api, { number: "+12125550162", is_default: 0 });
    const california = await addSenderNumber(api, { number: "+14155550163", is_default: 0 });
    const recipients = async (iso: string) =>
      (await api.pipeline.warmupTick(Date.parse(iso))).map((event) => event.to_phone_number);
    // 06:00 in California: the number being warmed (it receives the partner's answer) is asleep.
    assert.deepEqual(await recipients("2026-07-01T13:00:00Z"), []);
    // 09:00 in California, 12:00 in New York: the first exchange of the day.
    assert.equal((await recipients("2026-07-01T16:00:00Z")).length, 2);
    // The next slot, at 18:30 in California and 21:30 in New York: the partner awake is taken,
    // whichever the rotation's turn, and nothing goes to New York.
    const evening = await recipients("2026-07-02T01:30:00Z");
    assert.deepEqual(evening.sort(), [california.number, warmed.number].sort());
    assert.ok(!evening.includes(newYork.number));
    // The slot after, at 00:30 in California: skipped, not made up in the morning (one exchange at 08:00).
    assert.deepEqual(await recipients("2026-07-02T07:30:00Z"), []);
    assert.equal((await recipients("2026-07-02T15:00:00Z")).length, 2);
    assert.deepEqual(await recipients("2026-07-02T15:01:00Z"), []);
  });
});

forEachEngine("warmup claimed late", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, {
      env: { LEADTRAIL_QUIET_HOURS: "21:00-08:00", LEADTRAIL_WARMUP_TICK_SECONDS: "0" },
    });
  });
  after(() => api.close());

  /** A worker whose clock reads `iso`, claiming on its own (the API starts none). */
  const workerAt = (iso: string) => clockedWorker(api, engine, () => Date.parse(iso)).worker;

  test("a warmup message queued in the day and claimed in the recipient's night is canceled, not sent nor deferred", async () => {
    await addSenderNumber(api, { number: "+14155550171", warmup_enabled: 1, is_default: 0 });
    await addSenderNumber(api, { number: "+14155550173", is_default: 0 });
    // 09:00 in California: an exchange is queued; the worker was down until 00:30 the next night.
    const queued = await api.pipeline.warmupTick(Date.parse("2026-07-01T16:00:00Z"));
    assert.equal(queued.length, 2);
    assert.equal(await workerAt("2026-07-02T07:30:00Z").runOnce(), 2);
    for (const { id } of queued) {
      const event = (await api.call("GET", `/events/${id}`)).json();
      assert.equal(event.status, "Canceled");
      assert.equal(
        event.cancelReason,
        "Warmup slot missed: quiet hours at the recipient by the time it was claimed; a missed slot is not made up",
      );
      assert.equal(event.canceledAt, "2026-07-02T07:30:00.000Z");
      assert.equal(event.sendingStartedAt, null);
      assert.equal(event.providerMessageId, null);
      assert.equal(event.billingStatus, "NotBilled");
      const detail = (await api.call("GET", `/events/detail/${id}`)).json();
      assert.deepEqual(
        detail.transitions.at(-1).message,
        "Canceled: warmup slot missed: quiet hours at the recipient by the time it was claimed; a missed slot is not made up.",
      );
    }
    // Claimed while the recipient is awake, the next exchange goes out as before.
    const next = await api.pipeline.warmupTick(Date.parse("2026-07-02T16:00:00Z"));
    assert.equal(next.length, 2);
    assert.equal(await workerAt("2026-07-02T16:05:00Z").runOnce(), 2);
    for (const { id } of next) {
      const event = await waitForEvent(api, id, isFinal);
      assert.equal(event.status, "Delivered");
    }
  });
});
