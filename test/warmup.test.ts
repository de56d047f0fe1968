import assert from "node:assert/strict";
import { after, before, test } from "node:test";
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
import { addSenderNumber, isFinal, startSimulator, waitForEvent } from "./helpers/messaging.js";

test("the warmup ramp doubles daily to a ceiling and spreads sends over the day", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 13].map(dailyTarget), [4, 8, 16, 32, 64, 100, 100]);
  assert.equal(warmupMessageDue(0, 0, 0, 0), true);
  assert.equal(warmupMessageDue(4, 0, 0, 10), false, "day 1 target reached");
  assert.equal(warmupMessageDue(1, 0, 0, 21_599_999), false, "4 a day: one every 6 hours");
  assert.equal(warmupMessageDue(1, 0, 0, 21_600_000), true);
});

test("a scheduler ticking every minute sends each day's target, spread over the day, and stops after 14 days", () => {
  const DAY = 86_400_000;
  const startedAt = Date.parse("2026-03-01T17:23:00Z");
  const perDay: number[] = [];
  let dayStart = -1;
  let sentToday = 0;
  let lastSent = startedAt;
  let shortestGap = DAY;
  for (let now = startedAt; now < startedAt + 20 * DAY; now += 60_000) {
    const today = warmupDayStart(startedAt, now);
    if (today !== dayStart) [dayStart, sentToday] = [today, 0];
    const day = warmupDay(startedAt, now);
    if (warmupMessageDue(sentToday, today, day, now)) {
      sentToday++;
      perDay[day] = (perDay[day] ?? 0) + 1;
      if (sentToday > 1) shortestGap = Math.min(shortestGap, now - lastSent);
      lastSent = now;
    }
  }
  assert.deepEqual(
    perDay,
    Array.from({ length: WARMUP_DAYS }, (_, day) => dailyTarget(day)),
  );
  // Never a burst: within a day, sends are at least a slot apart (less the minute a tick may lag).
  assert.ok(shortestGap >= DAY / 100 - 60_000, `shortest gap ${shortestGap}`);
});

forEachEngine("warmup", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, {
      env: { LEADTRAIL_QUIET_HOURS: "21:00-08:00", LEADTRAIL_WARMUP_TICK_SECONDS: "0" },
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
      assert.equal(done.status, "Delivered", "quiet hours do not apply between our own numbers");
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

  test("a suppressed partner gets no warmup message: a registered number may be a person's", async () => {
    // Only these two numbers warm each other (the first test's numbers are disabled).
    await api.db.store.db.updateTable("phone_numbers").set({ enabled: 0 }).execute();
    const fresh = await addSenderNumber(api, { number: "+14155550121", warmup_enabled: 1, is_default: 0 });
    const partner = await addSenderNumber(api, { number: "+14155550122", is_default: 0 });
    const res = await api.call("POST", "/suppressions", {
      organizationId: api.org.organizationId,
      phoneNumber: partner.number,
      channel: "sms",
      reason: "said STOP",
    });
    assert.equal(res.statusCode, 201, res.body);
    const [out, back] = await api.pipeline.warmupTick(Date.now());
    assert.ok(out && back);
    assert.equal(out.to_phone_number, partner.number);
    const blocked = await waitForEvent(api, out.id, isFinal);
    assert.equal(blocked.status, "Blocked");
    assert.equal(blocked.complianceAction, "Suppressed");
    assert.equal(blocked.billingStatus, "NotBilled");
    // The answer from the partner goes to our own number, which is not suppressed.
    assert.equal((await waitForEvent(api, back.id, isFinal)).status, "Delivered");
    assert.equal(fresh.number, back.to_phone_number);
  });
});
