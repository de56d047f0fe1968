import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sql } from "kysely";
import { loadMessagingConfig } from "../src/config.js";
import { newId } from "../src/domain/ids.js";
import { MAX_WALLET_MICROS, microsToUsd } from "../src/domain/money.js";
import { ProblemError } from "../src/domain/problem.js";
import { summaryPeriod } from "../src/http/routes/billing.js";
import {
  addCredit,
  chargeOnce,
  chargeOnceMany,
  getWallet,
  refundCharge,
  type UsageEntry,
} from "../src/store/billing-repo.js";
import { insertEvents, newEventRow } from "../src/store/events-repo.js";
import { type CreatedOrganization, createOrganization } from "../src/store/orgs-repo.js";
import { assertLeadpingShape, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

const PROBLEM = /^application\/problem\+json\b/;

function usage(organizationId: string, fields: Partial<UsageEntry> = {}): UsageEntry {
  return {
    organization_id: organizationId,
    event_id: newId("evt"),
    channel: "sms",
    billable_unit: "sms_segment",
    status: "charged",
    quantity: 2,
    unit_price_micros: 7900,
    amount_micros: 15800,
    lead_id: null,
    phone_number_id: "pn_1",
    phone_number: "+14155550100",
    created_at: Date.now(),
    ...fields,
  };
}

describe("summaryPeriod", () => {
  const now = Date.parse("2024-03-15T10:00:00Z");
  const iso = (p: { start: number; end: number }) => [
    new Date(p.start).toISOString(),
    new Date(p.end).toISOString(),
  ];
  test("defaults to the current calendar month in UTC", () => {
    assert.deepEqual(iso(summaryPeriod({}, now)), ["2024-03-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z"]);
    assert.deepEqual(iso(summaryPeriod({}, Date.parse("2024-12-31T23:59:59Z"))), [
      "2024-12-01T00:00:00.000Z",
      "2025-01-01T00:00:00.000Z",
    ]);
  });
  test("one bound: the calendar month it starts or ends; both: as given", () => {
    assert.deepEqual(iso(summaryPeriod({ periodStart: "2024-01-10T00:00:00Z" }, now)), [
      "2024-01-10T00:00:00.000Z",
      "2024-02-01T00:00:00.000Z",
    ]);
    assert.deepEqual(iso(summaryPeriod({ periodEnd: "2024-02-01T00:00:00Z" }, now)), [
      "2024-01-01T00:00:00.000Z",
      "2024-02-01T00:00:00.000Z",
    ]);
    assert.deepEqual(
      iso(
        summaryPeriod({ periodStart: "2024-01-01T00:00:00+02:00", periodEnd: "2024-01-02T00:00:00Z" }, now),
      ),
      ["2023-12-31T22:00:00.000Z", "2024-01-02T00:00:00.000Z"],
    );
  });
  test("bounds finer than the millisecond are compared as written: both round up (>= and <)", () => {
    assert.deepEqual(
      iso(
        summaryPeriod(
          { periodStart: "2026-01-01T00:00:00.0005Z", periodEnd: "2026-01-02T00:00:00.0005Z" },
          now,
        ),
      ),
      ["2026-01-01T00:00:00.001Z", "2026-01-02T00:00:00.001Z"],
    );
  });
  test("a month in the years 0000 to 0099 stays in its year (Date.UTC would read it as 19xx)", () => {
    assert.deepEqual(iso(summaryPeriod({ periodStart: "0050-01-15T00:00:00Z" }, now)), [
      "0050-01-15T00:00:00.000Z",
      "0050-02-01T00:00:00.000Z",
    ]);
    assert.deepEqual(iso(summaryPeriod({ periodEnd: "0001-03-01T00:00:00Z" }, now)), [
      "0001-02-01T00:00:00.000Z",
      "0001-03-01T00:00:00.000Z",
    ]);
  });
  test("one bound's calendar month is taken in the offset the bound is written with", () => {
    // New York's January and February: consecutive months that meet, with no hours between them.
    assert.deepEqual(iso(summaryPeriod({ periodStart: "2024-01-01T00:00:00-05:00" }, now)), [
      "2024-01-01T05:00:00.000Z",
      "2024-02-01T05:00:00.000Z",
    ]);
    assert.deepEqual(iso(summaryPeriod({ periodStart: "2024-02-01T00:00:00-05:00" }, now)), [
      "2024-02-01T05:00:00.000Z",
      "2024-03-01T05:00:00.000Z",
    ]);
    // 23:00 on January 31st in New York is in January there (February in UTC).
    assert.deepEqual(iso(summaryPeriod({ periodStart: "2024-01-31T23:00:00-05:00" }, now)), [
      "2024-02-01T04:00:00.000Z",
      "2024-02-01T05:00:00.000Z",
    ]);
    assert.deepEqual(iso(summaryPeriod({ periodEnd: "2024-03-01T00:00:00+01:00" }, now)), [
      "2024-01-31T23:00:00.000Z",
      "2024-02-29T23:00:00.000Z",
    ]);
    assert.deepEqual(iso(summaryPeriod({ periodEnd: "2024-03-01T00:00:00+05:30" }, now)), [
      "2024-01-31T18:30:00.000Z",
      "2024-02-29T18:30:00.000Z",
    ]);
    // Past the end of 9999 in UTC: still a 400 naming the bound.
    assert.throws(
      () => summaryPeriod({ periodStart: "9999-12-15T00:00:00-05:00" }, now),
      (error: unknown) => error instanceof ProblemError && error.detail.startsWith("periodStart"),
    );
  });
  test("a month implied past the years RFC 3339 can write is a 400 naming the bound", () => {
    for (const [query, param] of [
      [{ periodStart: "9999-12-15T00:00:00Z" }, "periodStart"],
      [{ periodEnd: "0000-01-01T00:00:00Z" }, "periodEnd"],
    ] as const) {
      assert.throws(
        () => summaryPeriod(query, now),
        (error: unknown) =>
          error instanceof ProblemError && error.status === 400 && error.detail.startsWith(param),
        param,
      );
    }
    assert.deepEqual(iso(summaryPeriod({ periodStart: "9999-11-15T00:00:00Z" }, now)), [
      "9999-11-15T00:00:00.000Z",
      "9999-12-01T00:00:00.000Z",
    ]);
  });
});

forEachEngine("wallets and usage", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  test("a new organization's wallet starts with 10.00 USD", async () => {
    const res = await api.call("GET", "/wallets/me");
    assert.equal(res.statusCode, 200, res.body);
    const wallet = res.json();
    assert.equal(wallet.balance, 10);
    assert.equal(wallet.amountPurchased, 10);
    assert.equal(wallet.amountRemaining, 10);
    assert.equal(wallet.currency, "USD");
    assert.equal(wallet.organizationId, api.org.organizationId);
    assert.match(wallet.id, /^wal_/);
    assert.equal(wallet.name, "Test Org wallet");
    assert.match(wallet.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(wallet.modifiedAt, null);
    assert.match(wallet.balanceCalculatedAt, /Z$/);
    const row = await getWallet(api.db.store.db, api.org.organizationId);
    assert.equal(row?.balance_micros, 10_000_000);
    assert.equal(row?.id, wallet.id);
  });

  test("createOrganization takes the starting credit (LEADTRAIL_STARTING_CREDIT through the config)", async () => {
    const config = loadMessagingConfig({ LEADTRAIL_STARTING_CREDIT: "2.5" });
    assert.equal(config.startingCreditMicros, 2_500_000);
    const org = await createOrganization(api.db.store.db, "Configured", {
      startingCreditMicros: config.startingCreditMicros,
    });
    const wallet = (await api.call("GET", "/wallets/me", undefined, org.apiKey)).json();
    assert.equal(wallet.balance, 2.5);
    assert.equal(wallet.amountPurchased, 2.5);
    const free = await createOrganization(api.db.store.db, "Free", { startingCreditMicros: 0 });
    assert.equal((await api.call("GET", "/wallets/me", undefined, free.apiKey)).json().balance, 0);
    await assert.rejects(createOrganization(api.db.store.db, "Bad", { startingCreditMicros: -1 }));
    await assert.rejects(createOrganization(api.db.store.db, "Bad", { startingCreditMicros: 0.5 }));
  });

  test("an organization from before wallets (no row) answers balance 0, with a wallet created lazily", async () => {
    const org = await createOrganization(api.db.store.db, "Legacy");
    await api.db.store.db.deleteFrom("wallets").where("organization_id", "=", org.organizationId).execute();
    const first = await api.call("GET", "/wallets/me", undefined, org.apiKey);
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.json().balance, 0);
    assert.equal(first.json().amountPurchased, 0);
    const second = (await api.call("GET", "/wallets/me", undefined, org.apiKey)).json();
    assert.equal(second.id, first.json().id);
    // Credit then lands on that wallet.
    const credited = await addCredit(api.db.store.db, org.organizationId, 1_250_000);
    assert.equal(credited?.balance_micros, 1_250_000);
    assert.equal((await api.call("GET", "/wallets/me", undefined, org.apiKey)).json().balance, 1.25);
    assert.equal(await addCredit(api.db.store.db, "org_unknown", 1), undefined);
  });

  test("addCredit creates a missing wallet and adds to balance and amount purchased", async () => {
    const org = await createOrganization(api.db.store.db, "Credit", { startingCreditMicros: 3_000_000 });
    await api.db.store.db.deleteFrom("wallets").where("organization_id", "=", org.organizationId).execute();
    const w = await addCredit(api.db.store.db, org.organizationId, 500_000);
    assert.equal(w?.balance_micros, 500_000);
    const again = await addCredit(api.db.store.db, org.organizationId, 250_000);
    assert.equal(again?.balance_micros, 750_000);
    assert.equal(again?.purchased_micros, 750_000);
    const res = (await api.call("GET", "/wallets/me", undefined, org.apiKey)).json();
    assert.equal(res.balance, 0.75);
  });

  test("a wallet changed in its creation's millisecond, or by an older event, shows modifiedAt rightly", async () => {
    const org = await createOrganization(api.db.store.db, "Stamps");
    const db = api.db.store.db;
    await db.deleteFrom("wallets").where("organization_id", "=", org.organizationId).execute();
    const now = Date.now();
    // The wallet is created and credited by one call, in one millisecond.
    const credited = await addCredit(db, org.organizationId, 5_000_000, now);
    assert.equal(credited?.created_at, now);
    assert.equal(credited?.updated_at, now + 1);
    const shown = (await api.call("GET", "/wallets/me", undefined, org.apiKey)).json();
    assert.equal(shown.modifiedAt, new Date(now + 1).toISOString());
    // A later credit, then a charge stamped with an older event's time: updated_at stays the latest.
    await addCredit(db, org.organizationId, 1_000_000, now + 5_000);
    assert.equal(await chargeOnce(db, usage(org.organizationId, { created_at: now + 1_000 })), true);
    const wallet = await getWallet(db, org.organizationId);
    assert.equal(wallet?.updated_at, now + 5_000);
    assert.equal(wallet?.balance_micros, 6_000_000 - 15_800);
  });

  test("concurrent credits together never pass a wallet's cap", async () => {
    const org = await createOrganization(api.db.store.db, "Cap", { startingCreditMicros: 0 });
    const db = api.db.store.db;
    // Open several connections first (PostgreSQL), so the credits below run at once rather than
    // one after another while the pool connects.
    await Promise.all(Array.from({ length: 6 }, () => sql`select 1`.execute(db)));
    // Each credit fits alone; any two together pass the cap.
    const credit = (MAX_WALLET_MICROS * 3) / 5;
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => addCredit(db, org.organizationId, credit)),
    );
    const fulfilled = results.filter((r) => r.status === "fulfilled");
    assert.equal(fulfilled.length, 1, JSON.stringify(results.map((r) => r.status)));
    for (const r of results) {
      if (r.status === "rejected") assert.match(String(r.reason), /a wallet holds at most 1000000000 USD/);
    }
    const wallet = await getWallet(db, org.organizationId);
    assert.equal(wallet?.balance_micros, credit);
    assert.equal(wallet?.purchased_micros, credit);
  });

  test("chargeOnce debits exactly once, called twice in a row or many times at once", async () => {
    const org = await createOrganization(api.db.store.db, "Charges", { startingCreditMicros: 1_000_000 });
    const db = api.db.store.db;
    const line = usage(org.organizationId, { amount_micros: 15_800 });
    assert.equal(await chargeOnce(db, line), true);
    assert.equal(await chargeOnce(db, line), false);
    assert.equal((await getWallet(db, org.organizationId))?.balance_micros, 1_000_000 - 15_800);

    const concurrent = usage(org.organizationId, { amount_micros: 20_000 });
    const results = await Promise.all(Array.from({ length: 10 }, () => chargeOnce(db, { ...concurrent })));
    assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
    // And inside callers' own transactions, concurrently too.
    const inTrx = usage(org.organizationId, { amount_micros: 30_000 });
    const trxResults = await Promise.all(
      Array.from({ length: 5 }, () => db.transaction().execute((trx) => chargeOnce(trx, { ...inTrx }))),
    );
    assert.equal(trxResults.filter(Boolean).length, 1, JSON.stringify(trxResults));

    assert.equal(
      (await getWallet(db, org.organizationId))?.balance_micros,
      1_000_000 - 15_800 - 20_000 - 30_000,
    );
    const lines = await db
      .selectFrom("usage_ledger")
      .select(["event_id", "amount_micros"])
      .where("organization_id", "=", org.organizationId)
      .execute();
    assert.equal(lines.length, 3);
    assert.deepEqual(
      new Set(lines.map((l) => l.event_id)),
      new Set([line.event_id, concurrent.event_id, inTrx.event_id]),
    );
  });

  test("many charges, refunds and charges again, at once, move the wallet by exactly the ledger's sum", async () => {
    const start = 1_000_000;
    const org = await createOrganization(api.db.store.db, "Ledger sum", { startingCreditMicros: start });
    const db = api.db.store.db;
    const at = Date.parse("2024-05-10T12:00:00Z");
    // Amounts whose USD values are no binary fractions (0.0079, 0.333333, 0.000001…): summed as
    // floats they would drift; in micro-dollars they cannot.
    const amounts = [7_900, 15_800, 23_700, 20_000, 333_333, 1, 100_001];
    const lines = Array.from({ length: 70 }, (_, i) => {
      const amount = amounts[i % amounts.length]!;
      return usage(org.organizationId, {
        created_at: at + i,
        quantity: 1,
        unit_price_micros: amount,
        amount_micros: amount,
      });
    });
    const refunded = lines.filter((_, i) => i % 2 === 0);
    const chargedAgain = refunded.filter((_, i) => i % 2 === 0);
    // Each twice at once: the second of each pair changes nothing.
    const twice = <T>(items: T[], run: (item: T) => Promise<unknown>) =>
      Promise.all(items.flatMap((item) => [run(item), run(item)]));
    await twice(lines, (line) => chargeOnce(db, line));
    await twice(refunded, (line) =>
      db.transaction().execute((trx) => refundCharge(trx, org.organizationId, line.event_id!, at + 100)),
    );
    await twice(chargedAgain, (line) => chargeOnce(db, { ...line, created_at: at + 200 }));
    const batch = Array.from({ length: 10 }, (_, i) =>
      usage(org.organizationId, { created_at: at + 300 + i, amount_micros: 7_900 * (i + 1) }),
    );
    await twice([batch], (entries) =>
      db.transaction().execute((trx) => chargeOnceMany(trx, org.organizationId, entries, at + 300)),
    );

    const ledger = await db
      .selectFrom("usage_ledger")
      .select(["event_id", "amount_micros"])
      .where("organization_id", "=", org.organizationId)
      .execute();
    const sum = ledger.reduce((total, line) => total + Number(line.amount_micros), 0);
    const expected =
      lines.reduce((t, l) => t + l.amount_micros, 0) -
      refunded.reduce((t, l) => t + l.amount_micros, 0) +
      chargedAgain.reduce((t, l) => t + l.amount_micros, 0) +
      batch.reduce((t, l) => t + l.amount_micros, 0);
    assert.equal(ledger.length, lines.length + refunded.length + chargedAgain.length + batch.length);
    assert.equal(sum, expected);
    const balance = Number((await getWallet(db, org.organizationId))?.balance_micros);
    assert.equal(start - balance, sum, "the wallet moved by exactly the ledger's sum");
    // The wire agrees to the micro-dollar: the wallet, and the month's summary of the same lines.
    const wallet = (await api.call("GET", "/wallets/me", undefined, org.apiKey)).json();
    assert.equal(wallet.balance, microsToUsd(balance));
    const summary = (
      await api.call("GET", "/usage/summary/my?periodStart=2024-05-01T00:00:00Z", undefined, org.apiKey)
    ).json();
    assert.equal(summary.customerChargeTotal, microsToUsd(sum));
  });

  test("chargeOnce on an organization without a wallet records the debt (negative balance)", async () => {
    const org = await createOrganization(api.db.store.db, "No wallet");
    const db = api.db.store.db;
    await db.deleteFrom("wallets").where("organization_id", "=", org.organizationId).execute();
    assert.equal(await chargeOnce(db, usage(org.organizationId, { amount_micros: 7_900 })), true);
    assert.equal((await getWallet(db, org.organizationId))?.balance_micros, -7_900);
    const wallet = (await api.call("GET", "/wallets/me", undefined, org.apiKey)).json();
    assert.equal(wallet.balance, -0.0079);
    assert.equal(wallet.amountRemaining, 0);
  });

  describe("usage summary and list", () => {
    let org: CreatedOrganization;
    const t = (iso: string) => Date.parse(iso);
    before(async () => {
      org = await createOrganization(api.db.store.db, "Usage Co");
      const db = api.db.store.db;
      const lead = (
        await api.call(
          "POST",
          "/leads",
          { contact: { firstName: "Ada", lastName: "Lovelace", phone: { number: "+14155550142" } } },
          org.apiKey,
        )
      ).json();
      const lines: UsageEntry[] = [
        usage(org.organizationId, { created_at: t("2024-01-05T10:00:00Z"), lead_id: lead.id }),
        usage(org.organizationId, {
          created_at: t("2024-01-06T10:00:00Z"),
          quantity: 1,
          amount_micros: 7_900,
        }),
        usage(org.organizationId, {
          created_at: t("2024-01-07T10:00:00Z"),
          channel: "mms",
          billable_unit: "mms_message",
          quantity: 1,
          unit_price_micros: 20_000,
          amount_micros: 20_000,
        }),
        usage(org.organizationId, {
          created_at: t("2024-01-08T10:00:00Z"),
          status: "non_billable_internal",
          quantity: 1,
          unit_price_micros: 0,
          amount_micros: 0,
        }),
        usage(org.organizationId, {
          created_at: t("2024-01-09T10:00:00Z"),
          channel: "warmup",
          billable_unit: "warmup_sms_segment",
          status: "non_billable_internal",
          quantity: 1,
          unit_price_micros: 0,
          amount_micros: 0,
          phone_number_id: "pn_2",
        }),
        // Outside January.
        usage(org.organizationId, { created_at: t("2024-02-01T00:00:00Z"), amount_micros: 99_000 }),
        usage(org.organizationId, { created_at: t("2023-12-31T23:59:59.999Z"), amount_micros: 99_000 }),
      ];
      for (const line of lines) assert.equal(await chargeOnce(db, line), true);
      // Another organization's usage never shows.
      await chargeOnce(db, usage(api.org.organizationId, { created_at: t("2024-01-05T11:00:00Z") }));
    });

    test("GET /usage/summary/my totals and groups a period's lines", async () => {
      const res = await api.call(
        "GET",
        "/usage/summary/my?periodStart=2024-01-01T00:00:00Z&periodEnd=2024-02-01T00:00:00Z",
        undefined,
        org.apiKey,
      );
      assert.equal(res.statusCode, 200, res.body);
      const summary = res.json();
      assert.equal(summary.periodStart, "2024-01-01T00:00:00.000Z");
      assert.equal(summary.periodEnd, "2024-02-01T00:00:00.000Z");
      assert.equal(summary.customerChargeTotal, 0.0437); // 15800 + 7900 + 20000 micros
      assert.equal(summary.billableQuantityTotal, 4);
      assert.equal(summary.transactionCount, 5);
      assert.equal(summary.pendingInvoiceCount, 0);
      assert.equal(summary.failedCount, 0);
      assert.deepEqual(summary.lines, [
        {
          channel: "mms",
          billableUnit: "mms_message",
          status: "charged",
          quantity: 1,
          customerChargeAmount: 0.02,
          recordCount: 1,
        },
        {
          channel: "sms",
          billableUnit: "sms_segment",
          status: "charged",
          quantity: 3,
          customerChargeAmount: 0.0237,
          recordCount: 2,
        },
        {
          channel: "sms",
          billableUnit: "sms_segment",
          status: "non_billable_internal",
          quantity: 1,
          customerChargeAmount: 0,
          recordCount: 1,
        },
        {
          channel: "warmup",
          billableUnit: "warmup_sms_segment",
          status: "non_billable_internal",
          quantity: 1,
          customerChargeAmount: 0,
          recordCount: 1,
        },
      ]);
      const counters = Object.fromEntries(
        summary.counters.map((c: { key: string; value: number }) => [c.key, c.value]),
      );
      assert.deepEqual(counters, {
        sms_segments: 4,
        mms_messages: 1,
        warmup_sms_segments: 1,
        customer_charge_total: 0.0437,
      });

      // Only periodStart: the rest of that calendar month.
      const onlyStart = (
        await api.call("GET", "/usage/summary/my?periodStart=2024-01-07T00:00:00Z", undefined, org.apiKey)
      ).json();
      assert.equal(onlyStart.periodEnd, "2024-02-01T00:00:00.000Z");
      assert.equal(onlyStart.transactionCount, 3);
    });

    test("the default period is the current month; bad periods are 400s naming the parameter", async () => {
      const res = await api.call("GET", "/usage/summary/my", undefined, org.apiKey);
      assert.equal(res.statusCode, 200, res.body);
      const now = new Date();
      const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
      assert.equal(res.json().periodStart, start);
      assert.equal(res.json().transactionCount, 0);
      assert.deepEqual(res.json().lines, []);
      assert.equal(res.json().customerChargeTotal, 0);

      for (const [query, field] of [
        ["periodStart=yesterday", "periodStart"],
        ["periodEnd=2024-13-01", "periodEnd"],
        ["periodStart=2024-02-01T00:00:00Z&periodEnd=2024-01-01T00:00:00Z", "periodEnd"],
        // A nanosecond before the start, written at another offset (as a list's range is compared).
        [
          `periodStart=2024-01-08T10:00:00Z&periodEnd=${encodeURIComponent("2024-01-08T11:59:59.999999999+02:00")}`,
          "periodEnd",
        ],
      ] as const) {
        const bad = await api.call("GET", `/usage/summary/my?${query}`, undefined, org.apiKey);
        assert.equal(bad.statusCode, 400, `${query}: ${bad.body}`);
        assert.match(String(bad.headers["content-type"]), PROBLEM);
        assert.ok(bad.json().detail.includes(field), bad.body);
      }
      // An end equal to the start is an empty period, as startAt = endAt is an empty list: the
      // line at 11:00 (above) is not in it.
      for (const end of ["2024-01-08T10:00:00Z", "2024-01-08T12:00:00%2B02:00"]) {
        const empty = await api.call(
          "GET",
          `/usage/summary/my?periodStart=2024-01-08T10:00:00Z&periodEnd=${end}`,
          undefined,
          org.apiKey,
        );
        assert.equal(empty.statusCode, 200, empty.body);
        assert.equal(empty.json().transactionCount, 0);
        assert.equal(empty.json().periodEnd, "2024-01-08T10:00:00.000Z");
      }
    });

    test("a summary of a month in the years 0000 to 0099 answers that month, not one in the 1900s", async () => {
      for (const [query, period] of [
        ["periodStart=0050-01-15T00:00:00Z", ["0050-01-15T00:00:00.000Z", "0050-02-01T00:00:00.000Z"]],
        ["periodEnd=0001-03-01T00:00:00Z", ["0001-02-01T00:00:00.000Z", "0001-03-01T00:00:00.000Z"]],
      ] as const) {
        const res = await api.call("GET", `/usage/summary/my?${query}`, undefined, org.apiKey);
        assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
        assert.deepEqual([res.json().periodStart, res.json().periodEnd], period, query);
        // The 2024 lines are far outside either period.
        assert.equal(res.json().transactionCount, 0, query);
      }
    });

    test("months asked for in a local offset, one after another, count every line once", async () => {
      const local = await createOrganization(api.db.store.db, "New York Co");
      // 22:00 on January 31st in New York: 03:00 on February 1st in UTC.
      const line = usage(local.organizationId, {
        created_at: t("2024-02-01T03:00:00Z"),
        amount_micros: 7_900,
      });
      assert.equal(await chargeOnce(api.db.store.db, line), true);
      const month = async (start: string) => {
        const res = await api.call(
          "GET",
          `/usage/summary/my?periodStart=${encodeURIComponent(start)}`,
          undefined,
          local.apiKey,
        );
        assert.equal(res.statusCode, 200, res.body);
        return res.json();
      };
      const january = await month("2024-01-01T00:00:00-05:00");
      const february = await month("2024-02-01T00:00:00-05:00");
      assert.deepEqual(
        [january.periodStart, january.periodEnd, february.periodStart],
        ["2024-01-01T05:00:00.000Z", "2024-02-01T05:00:00.000Z", "2024-02-01T05:00:00.000Z"],
      );
      assert.equal(january.transactionCount, 1);
      assert.equal(january.customerChargeTotal, 0.0079);
      assert.equal(february.transactionCount, 0);
    });

    test("POST /usage/all/my pages the ledger newest first, with filters and a createdAt range", async () => {
      const all: Array<Record<string, unknown>> = [];
      let continuationToken: string | null = null;
      do {
        const res = await api.call("POST", "/usage/all/my", { pageSize: 3, continuationToken }, org.apiKey);
        assert.equal(res.statusCode, 200, res.body);
        all.push(...res.json().items);
        continuationToken = res.json().continuationToken;
      } while (continuationToken);
      assert.equal(all.length, 7);
      const times = all.map((r) => r.createdAt as string);
      assert.deepEqual(times, [...times].sort().reverse());

      const first = all.find((r) => r.createdAt === "2024-01-05T10:00:00.000Z")!;
      assert.deepEqual(
        { ...first, id: undefined, eventId: undefined, lead: undefined },
        {
          id: undefined,
          eventId: undefined,
          lead: undefined,
          organization: { id: org.organizationId, name: "Usage Co" },
          user: null,
          phoneNumberId: "pn_1",
          phoneNumber: "+14155550100",
          channel: "sms",
          billableUnit: "sms_segment",
          status: "charged",
          quantity: 2,
          durationSeconds: null,
          billableSeconds: null,
          smsSegments: 2,
          unitPrice: 0.0079,
          customerChargeAmount: 0.0158,
          isBillable: true,
          // Its event_id names no stored message: what was billed, without a recipient.
          description: "SMS, 2 segments",
          createdAt: "2024-01-05T10:00:00.000Z",
        },
      );
      assert.equal((first.lead as { name: string }).name, "Ada Lovelace");
      assert.match(first.id as string, /^use_/);
      const mms = all.find((r) => r.channel === "mms")!;
      assert.equal(mms.smsSegments, null);
      assert.equal(mms.description, "MMS");
      assert.equal(all.find((r) => r.channel === "warmup")!.description, "Warmup SMS, 1 segment");
      assert.equal(mms.lead, null);
      assert.equal(all.find((r) => r.status === "non_billable_internal")!.isBillable, false);

      const filtered = await api.call(
        "POST",
        "/usage/all/my",
        {
          filters: [
            { field: "channel", value: "sms" },
            { field: "status", value: "charged" },
            { field: "billableUnit", value: "sms_segment" },
            { field: "phoneNumberId", value: "pn_1" },
          ],
          rangeFilters: [
            {
              field: "createdAt",
              greaterThanOrEqual: "2024-01-01T00:00:00Z",
              lessThan: "2024-02-01T00:00:00Z",
            },
          ],
          orderBy: [{ field: "createdAt", direction: "asc" }],
          includeCount: true,
        },
        org.apiKey,
      );
      assert.equal(filtered.statusCode, 200, filtered.body);
      assert.equal(filtered.json().totalCount, 2);
      assert.deepEqual(
        filtered.json().items.map((r: { createdAt: string }) => r.createdAt),
        ["2024-01-05T10:00:00.000Z", "2024-01-06T10:00:00.000Z"],
      );
      const warmup = await api.call(
        "POST",
        "/usage/all/my",
        { filters: [{ field: "phoneNumberId", value: "pn_2" }] },
        org.apiKey,
      );
      assert.deepEqual(
        warmup.json().items.map((r: { channel: string }) => r.channel),
        ["warmup"],
      );

      for (const body of [
        { filters: [{ field: "amount", value: 1 }] },
        { filters: [{ field: "channel", value: "fax" }] },
        { orderBy: [{ field: "status" }] },
      ]) {
        const bad = await api.call("POST", "/usage/all/my", body, org.apiKey);
        assert.equal(bad.statusCode, 400, bad.body);
        assert.match(String(bad.headers["content-type"]), PROBLEM);
      }
    });

    test("a line's description names the billed message's recipient, read from its event", async () => {
      const other = await createOrganization(api.db.store.db, "Described Co");
      const db = api.db.store.db;
      const message = (activity: "Sms" | "Mms", to: string) =>
        newEventRow({
          organization_id: other.organizationId,
          event_type: "SmsSent",
          activity_type: activity,
          activity_category: "Messaging",
          description: "",
          created_by: other.userId,
          to_phone_number: to,
        });
      const sms = message("Sms", "+12125550142");
      const mms = message("Mms", "+12125550143");
      await insertEvents(db, [sms, mms]);
      await chargeOnce(db, usage(other.organizationId, { event_id: sms.id, quantity: 3 }));
      await chargeOnce(
        db,
        usage(other.organizationId, {
          event_id: mms.id,
          channel: "mms",
          billable_unit: "mms_message",
          quantity: 1,
        }),
      );
      const res = await api.call("POST", "/usage/all/my", {}, other.apiKey);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        res
          .json()
          .items.map((r: { eventId: string; description: string }) => [r.eventId, r.description])
          .sort(),
        [
          [sms.id, "SMS to +12125550142, 3 segments"],
          [mms.id, "MMS to +12125550143"],
        ].sort(),
      );
    });

    test("a refund is a line of its own, the charge negated; the charge line stays as it was", async () => {
      const refunds = await createOrganization(api.db.store.db, "Refund Co");
      const db = api.db.store.db;
      const sms = newEventRow({
        organization_id: refunds.organizationId,
        event_type: "SmsSent",
        activity_type: "Sms",
        activity_category: "Messaging",
        description: "",
        created_by: refunds.userId,
        to_phone_number: "+12125550144",
      });
      await insertEvents(db, [sms]);
      const [charged, refunded, chargedAgain] = [
        t("2024-03-05T10:00:00Z"),
        t("2024-03-05T10:01:00Z"),
        t("2024-03-05T10:02:00Z"),
      ];
      const before = (await getWallet(db, refunds.organizationId))!.balance_micros;
      const line = usage(refunds.organizationId, { event_id: sms.id, created_at: charged });
      assert.equal(await chargeOnce(db, line), true);
      const refund = () =>
        db.transaction().execute((trx) => refundCharge(trx, refunds.organizationId, sms.id, refunded));
      assert.equal(await refund(), true);
      assert.equal(await refund(), false, "refunded once");
      assert.equal((await getWallet(db, refunds.organizationId))!.balance_micros, before);

      const lines = async () =>
        (
          await api.call(
            "POST",
            "/usage/all/my",
            {
              filters: [{ field: "eventId", value: sms.id }],
              orderBy: [{ field: "createdAt", direction: "asc" }],
            },
            refunds.apiKey,
          )
        ).json().items as Array<Record<string, unknown>>;
      const [charge, credit, ...rest] = await lines();
      assert.deepEqual(rest, []);
      for (const row of [charge, credit]) assertLeadpingShape(row, "UsageLedgerTableRow");
      assert.deepEqual(
        [
          charge!.status,
          charge!.quantity,
          charge!.customerChargeAmount,
          charge!.isBillable,
          charge!.createdAt,
        ],
        ["charged", 2, 0.0158, true, "2024-03-05T10:00:00.000Z"],
        "the charge line as it was written",
      );
      assert.deepEqual(
        { ...credit, id: undefined },
        {
          ...charge,
          id: undefined,
          status: "refunded_credited",
          quantity: -2,
          smsSegments: -2,
          customerChargeAmount: -0.0158,
          isBillable: false,
          description: "Refund: SMS to +12125550144, 2 segments",
          createdAt: "2024-03-05T10:01:00.000Z",
        },
      );
      const summary = async () =>
        (
          await api.call(
            "GET",
            "/usage/summary/my?periodStart=2024-03-01T00:00:00Z",
            undefined,
            refunds.apiKey,
          )
        ).json();
      const net = await summary();
      assert.equal(net.customerChargeTotal, 0);
      assert.equal(net.billableQuantityTotal, 0);
      assert.equal(net.transactionCount, 2);
      assert.deepEqual(
        net.lines.map((l: { status: string; quantity: number; customerChargeAmount: number }) => [
          l.status,
          l.quantity,
          l.customerChargeAmount,
        ]),
        [
          ["charged", 2, 0.0158],
          ["refunded_credited", -2, -0.0158],
        ],
      );
      assert.equal(net.counters.find((c: { key: string }) => c.key === "sms_segments").value, 0);

      // Shown sent after all: charged again, on a third line; the two before stay.
      assert.equal(await chargeOnce(db, { ...line, created_at: chargedAgain }), true);
      assert.equal(await chargeOnce(db, { ...line, created_at: chargedAgain }), false, "charged again once");
      assert.equal((await getWallet(db, refunds.organizationId))!.balance_micros, before - 15_800);
      const after = await lines();
      assert.deepEqual(after.slice(0, 2), [charge, credit]);
      assert.deepEqual(
        [after[2]!.status, after[2]!.quantity, after[2]!.customerChargeAmount, after[2]!.createdAt],
        ["charged", 2, 0.0158, "2024-03-05T10:02:00.000Z"],
      );
      const billed = await summary();
      assert.equal(billed.customerChargeTotal, 0.0158);
      assert.equal(billed.billableQuantityTotal, 2);
      assert.equal(billed.counters.find((c: { key: string }) => c.key === "sms_segments").value, 2);
    });

    test("another organization sees only its own usage", async () => {
      const res = await api.call("POST", "/usage/all/my", { includeCount: true });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().totalCount, 1);
      assert.ok(
        res
          .json()
          .items.every((r: { organization: { id: string } }) => r.organization.id === api.org.organizationId),
      );
      const summary = (await api.call("GET", "/usage/summary/my?periodStart=2024-01-01T00:00:00Z")).json();
      assert.equal(summary.transactionCount, 1);
    });
  });
});

forEachEngine("wallet starting credit from LEADTRAIL_STARTING_CREDIT", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_STARTING_CREDIT: "25" } });
  });
  after(() => api.close());

  test("the configured credit reaches organizations created with the app's config", async () => {
    const config = loadMessagingConfig({ LEADTRAIL_STARTING_CREDIT: "25" });
    const org = await createOrganization(api.db.store.db, "Configured", {
      startingCreditMicros: config.startingCreditMicros,
    });
    const wallet = (await api.call("GET", "/wallets/me", undefined, org.apiKey)).json();
    assert.equal(wallet.balance, 25);
    assert.equal(wallet.amountPurchased, 25);
  });
});
