import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { SELECTION_REASONS, type SelectionReason } from "../src/domain/event-vocabulary.js";
import {
  candidateReason,
  canSendTo,
  type HealthStatus,
  healthFromCounts,
  isEligible,
  type SelectionContext,
  type SenderCandidate,
  selectSender,
} from "../src/domain/sender-selection.js";

// The sender-selection precedence as a pure function: every rule, the order inside a rule, what is
// never chosen, and a property over random organizations that no earlier rule was passed over.

const candidate = (id: string, overrides: Partial<SenderCandidate> = {}): SenderCandidate => ({
  id,
  number: "+12125550100",
  enabled: true,
  smsEnabled: true,
  health: "Healthy",
  sourceId: null,
  campaignId: null,
  isPreferred: false,
  isDefault: false,
  lastUsedAt: null,
  areaCode: "212",
  region: "NY",
  hasTenDlcCampaign: true,
  ...overrides,
});

const context = (overrides: Partial<SelectionContext> = {}): SelectionContext => ({
  manualPhoneNumberId: null,
  stickyPhoneNumberId: null,
  leadAssignedPhoneNumberId: null,
  campaignId: null,
  sourceId: null,
  recipientAreaCode: "415",
  recipientRegion: "CA",
  ...overrides,
});

const pick = (candidates: SenderCandidate[], ctx: SelectionContext) => {
  const s = selectSender(candidates, ctx);
  return s ? [s.candidate.id, s.reason] : null;
};

describe("selectSender", () => {
  const all = [
    candidate("a-default", { isDefault: true, lastUsedAt: 50 }),
    candidate("b-preferred", { isPreferred: true, lastUsedAt: 60 }),
    candidate("c-campaign", { campaignId: "camp", lastUsedAt: 70 }),
    candidate("d-source", { sourceId: "src", lastUsedAt: 80 }),
    candidate("e-assigned", { lastUsedAt: 90 }),
    candidate("f-sticky", { lastUsedAt: 100 }),
    candidate("g-manual", { lastUsedAt: 110 }),
    candidate("h-415", { areaCode: "415", region: "CA", lastUsedAt: 120 }),
    candidate("i-650", { areaCode: "650", region: "CA", lastUsedAt: 130 }),
  ];
  const full = context({
    manualPhoneNumberId: "g-manual",
    stickyPhoneNumberId: "f-sticky",
    leadAssignedPhoneNumberId: "e-assigned",
    campaignId: "camp",
    sourceId: "src",
  });
  const without = (...ids: string[]) => all.filter((c) => !ids.includes(c.id));

  test("the rules apply in precedence order", () => {
    assert.deepEqual(pick(all, full), ["g-manual", "ManualOverride"]);
    assert.deepEqual(pick(without("g-manual"), full), ["f-sticky", "StickyConversation"]);
    assert.deepEqual(pick(without("g-manual", "f-sticky"), full), ["e-assigned", "LeadAssigned"]);
    const rest = without("g-manual", "f-sticky", "e-assigned");
    assert.deepEqual(pick(rest, full), ["c-campaign", "CampaignOrSource"]);
    assert.deepEqual(pick(without("g-manual", "f-sticky", "e-assigned", "c-campaign"), full), [
      "d-source",
      "CampaignOrSource",
    ]);
    const auto = context();
    assert.deepEqual(pick(all, auto), ["b-preferred", "Preferred"]);
    assert.deepEqual(pick(without("b-preferred"), auto), ["h-415", "LocalArea"]);
    assert.deepEqual(pick(without("b-preferred", "h-415"), auto), ["i-650", "LocalArea"]);
    // HealthyPool: the least recently used Healthy number.
    assert.deepEqual(pick(without("b-preferred", "h-415", "i-650"), auto), ["a-default", "HealthyPool"]);
    assert.deepEqual(pick(without("a-default", "b-preferred", "h-415", "i-650"), auto), [
      "c-campaign",
      "HealthyPool",
    ]);
  });

  test("a campaign match beats a source match; a match on both beats either", () => {
    const both = candidate("both", { campaignId: "camp", sourceId: "src", lastUsedAt: 999 });
    const campaignOnly = candidate("camp", { campaignId: "camp", lastUsedAt: 1 });
    const sourceOnly = candidate("src", { sourceId: "src", lastUsedAt: 0 });
    const ctx = context({ campaignId: "camp", sourceId: "src" });
    assert.deepEqual(pick([sourceOnly, campaignOnly, both], ctx), ["both", "CampaignOrSource"]);
    assert.deepEqual(pick([sourceOnly, campaignOnly], ctx), ["camp", "CampaignOrSource"]);
    assert.deepEqual(pick([sourceOnly], ctx), ["src", "CampaignOrSource"]);
    // No campaign or source in the request: a number's routing does not match null or "".
    assert.deepEqual(pick([campaignOnly], context({ campaignId: "" }))?.[1], "HealthyPool");
    const blank = candidate("blank", { campaignId: "", sourceId: "" });
    assert.deepEqual(pick([blank], context({ campaignId: "", sourceId: "" }))?.[1], "HealthyPool");
  });

  test("an area code match beats a state match, whatever the usage order", () => {
    const state = candidate("state", { areaCode: "650", region: "CA", lastUsedAt: null });
    const code = candidate("code", { areaCode: "415", region: "CA", lastUsedAt: 5000 });
    assert.deepEqual(pick([state, code], context()), ["code", "LocalArea"]);
    // No recipient location: LocalArea never matches.
    assert.deepEqual(
      pick([state], context({ recipientAreaCode: null, recipientRegion: null }))?.[1],
      "HealthyPool",
    );
  });

  test("within a rule: healthier first, then least recently used, never used first, then id", () => {
    const ctx = context({ recipientAreaCode: null, recipientRegion: null });
    const pref = (id: string, health: HealthStatus, lastUsedAt: number | null) =>
      candidate(id, { isPreferred: true, health, lastUsedAt });
    assert.deepEqual(pick([pref("x", "Needs Attention", null), pref("y", "Healthy", 10)], ctx), [
      "y",
      "Preferred",
    ]);
    assert.deepEqual(pick([pref("x", "Healthy", 10), pref("y", "Healthy", null)], ctx), ["y", "Preferred"]);
    assert.deepEqual(pick([pref("x", "Healthy", 10), pref("y", "Healthy", 5)], ctx), ["y", "Preferred"]);
    assert.deepEqual(pick([pref("y", "Healthy", 5), pref("x", "Healthy", 5)], ctx), ["x", "Preferred"]);
  });

  test("within a rule a number still warming up comes after the others, never used though it is", () => {
    const ctx = context({ recipientAreaCode: null, recipientRegion: null });
    const warming = candidate("new", { lastUsedAt: null, warmingUp: true });
    const used = candidate("old", { lastUsedAt: 10 });
    assert.deepEqual(pick([warming, used], ctx), ["old", "HealthyPool"]);
    // It is still chosen when it is the only match of its rule, or healthier.
    assert.deepEqual(pick([warming, candidate("sick", { health: "Needs Attention" })], ctx), [
      "new",
      "HealthyPool",
    ]);
    assert.deepEqual(
      pick(
        [candidate("local", { warmingUp: true, areaCode: "415" }), used],
        context({ recipientAreaCode: "415" }),
      ),
      ["local", "LocalArea"],
    );
  });

  test("FallbackDefault: the default number when none is Healthy, else the best remaining one", () => {
    const ctx = context({ recipientAreaCode: null, recipientRegion: null });
    const na = (id: string, extra: Partial<SenderCandidate> = {}) =>
      candidate(id, { health: "Needs Attention", ...extra });
    assert.deepEqual(pick([na("a", { lastUsedAt: 1 }), na("b", { isDefault: true, lastUsedAt: 99 })], ctx), [
      "b",
      "FallbackDefault",
    ]);
    assert.deepEqual(pick([na("a", { lastUsedAt: 9 }), na("b", { lastUsedAt: 1 })], ctx), [
      "b",
      "FallbackDefault",
    ]);
    // A Blocked default is skipped.
    assert.deepEqual(pick([na("a"), candidate("b", { isDefault: true, health: "Blocked" })], ctx), [
      "a",
      "FallbackDefault",
    ]);
  });

  test("Blocked, disabled and SMS-disabled numbers are never chosen automatically", () => {
    const ctx = context({ stickyPhoneNumberId: "blocked", leadAssignedPhoneNumberId: "off" });
    const numbers = [
      candidate("blocked", { health: "Blocked", isDefault: true, isPreferred: true }),
      candidate("off", { enabled: false, areaCode: "415" }),
      candidate("nosms", { smsEnabled: false, areaCode: "415" }),
    ];
    assert.equal(selectSender(numbers, ctx), null);
    assert.equal(selectSender([], ctx), null);
    assert.deepEqual(pick([...numbers, candidate("ok")], ctx), ["ok", "HealthyPool"]);
  });

  test("a manual choice may pick a Blocked number but never a disabled one; an unknown one is ignored", () => {
    const numbers = [
      candidate("blocked", { health: "Blocked" }),
      candidate("off", { enabled: false }),
      candidate("nosms", { smsEnabled: false }),
      candidate("ok"),
    ];
    assert.deepEqual(pick(numbers, context({ manualPhoneNumberId: "blocked" })), [
      "blocked",
      "ManualOverride",
    ]);
    assert.deepEqual(pick(numbers, context({ manualPhoneNumberId: "off" })), ["ok", "HealthyPool"]);
    assert.deepEqual(pick(numbers, context({ manualPhoneNumberId: "nosms" })), ["ok", "HealthyPool"]);
    assert.deepEqual(pick(numbers, context({ manualPhoneNumberId: "gone" })), ["ok", "HealthyPool"]);
  });

  test("a US/Canadian recipient: automatic rules pass over numbers without a 10DLC campaign", () => {
    const us = (overrides: Partial<SelectionContext> = {}) =>
      context({ recipientNeedsTenDlc: true, ...overrides });
    const noCampaign = (id: string, extra: Partial<SenderCandidate> = {}) =>
      candidate(id, { hasTenDlcCampaign: false, ...extra });
    // StickyConversation: the conversation last sent from a number without a campaign (by hand).
    const sticky = noCampaign("sticky", { areaCode: "415", isDefault: true });
    const local = candidate("local", { areaCode: "415", lastUsedAt: 500 });
    assert.deepEqual(pick([sticky, local], us({ stickyPhoneNumberId: "sticky" })), ["local", "LocalArea"]);
    // HealthyPool: the least recently used number is passed over when it has no campaign.
    const idle = noCampaign("idle", { lastUsedAt: null });
    const busy = candidate("busy", { lastUsedAt: 900 });
    assert.deepEqual(pick([idle, busy], us()), ["busy", "HealthyPool"]);
    // FallbackDefault: a default without a campaign is passed over too.
    const na = { health: "Needs Attention" as const };
    assert.deepEqual(
      pick([noCampaign("default", { ...na, isDefault: true }), candidate("other", na)], us()),
      ["other", "FallbackDefault"],
    );
    // A manual choice still wins (the compliance gate blocks it).
    assert.deepEqual(pick([sticky, local], us({ manualPhoneNumberId: "sticky" })), [
      "sticky",
      "ManualOverride",
    ]);
    // Outside the US and Canada any number may send: the sticky one stays.
    assert.deepEqual(pick([sticky, local], context({ stickyPhoneNumberId: "sticky" })), [
      "sticky",
      "StickyConversation",
    ]);
    // No number may send there: the rules choose among all, and the gate says what is missing.
    assert.deepEqual(pick([sticky, noCampaign("x")], us({ stickyPhoneNumberId: "sticky" })), [
      "sticky",
      "StickyConversation",
    ]);
  });

  test("a toll-free number needs no 10DLC campaign: never passed over for one, under the same precedence", () => {
    const us = (overrides: Partial<SelectionContext> = {}) =>
      context({ recipientNeedsTenDlc: true, ...overrides });
    const tollFree = (id: string, extra: Partial<SenderCandidate> = {}) =>
      candidate(id, {
        number: "+18885550100",
        areaCode: "888",
        hasTenDlcCampaign: false,
        isTollFree: true,
        ...extra,
      });
    const bare = candidate("bare", { hasTenDlcCampaign: false, lastUsedAt: null });
    // Alone with a local number without a campaign, the toll-free one is the one that can send.
    assert.deepEqual(pick([bare, tollFree("tf", { lastUsedAt: 900 })], us()), ["tf", "HealthyPool"]);
    assert.equal(canSendTo(tollFree("tf"), us()), true);
    assert.equal(canSendTo(bare, us()), false);
    // Beside a local number with a campaign, the precedence decides, as between any two numbers.
    const local = candidate("local", { areaCode: "415", lastUsedAt: 500 });
    assert.deepEqual(pick([local, tollFree("tf", { lastUsedAt: 100 })], us()), ["local", "LocalArea"]);
    assert.deepEqual(pick([local, tollFree("tf", { isPreferred: true })], us()), ["tf", "Preferred"]);
    assert.deepEqual(
      pick(
        [candidate("busy", { lastUsedAt: 900 }), tollFree("tf", { lastUsedAt: 100 })],
        us({ recipientAreaCode: null, recipientRegion: null }),
      ),
      ["tf", "HealthyPool"],
    );
    // Sticky to a toll-free number: it stays.
    assert.deepEqual(pick([local, tollFree("tf")], us({ stickyPhoneNumberId: "tf" })), [
      "tf",
      "StickyConversation",
    ]);
  });
});

describe("candidateReason", () => {
  test("names the highest-precedence rule each number matches", () => {
    const ctx = context({
      manualPhoneNumberId: "m",
      stickyPhoneNumberId: "s",
      leadAssignedPhoneNumberId: "l",
      campaignId: "camp",
    });
    const cases: Array<[SenderCandidate, SelectionReason]> = [
      [candidate("m", { isPreferred: true }), "ManualOverride"],
      [candidate("s", { isPreferred: true }), "StickyConversation"],
      [candidate("l"), "LeadAssigned"],
      [candidate("c", { campaignId: "camp", isPreferred: true }), "CampaignOrSource"],
      [candidate("p", { isPreferred: true, areaCode: "415" }), "Preferred"],
      [candidate("a", { areaCode: "415" }), "LocalArea"],
      [candidate("r", { areaCode: "650", region: "CA" }), "LocalArea"],
      [candidate("h"), "HealthyPool"],
      [candidate("n", { health: "Needs Attention" }), "FallbackDefault"],
      [candidate("b", { health: "Blocked", isDefault: true }), "FallbackDefault"],
    ];
    for (const [c, reason] of cases) assert.equal(candidateReason(c, ctx), reason, c.id);
  });
});

describe("healthFromCounts", () => {
  test("thresholds", () => {
    assert.equal(healthFromCounts(0, 0, 0), "Healthy");
    assert.equal(healthFromCounts(3, 1, 0), "Healthy"); // too few messages to judge the failure rate
    assert.equal(healthFromCounts(9, 1, 0), "Healthy"); // 10% failed
    assert.equal(healthFromCounts(8, 2, 0), "Needs Attention"); // 20% failed
    assert.equal(healthFromCounts(100, 0, 1), "Needs Attention");
    assert.equal(healthFromCounts(100, 0, 2), "Needs Attention");
    assert.equal(healthFromCounts(100, 0, 3), "Blocked");
  });
});

describe("selection properties", () => {
  const HEALTHS: HealthStatus[] = ["Healthy", "Needs Attention", "Blocked"];
  const ids = ["n0", "n1", "n2", "n3", "n4", "n5"];
  const arbCandidate = (id: string) =>
    fc
      .record({
        enabled: fc.boolean(),
        smsEnabled: fc.boolean(),
        health: fc.constantFrom(...HEALTHS),
        sourceId: fc.constantFrom(null, "s1", "s2"),
        campaignId: fc.constantFrom(null, "c1", "c2"),
        isPreferred: fc.boolean(),
        isDefault: fc.boolean(),
        lastUsedAt: fc.option(fc.nat(100)),
        areaCode: fc.constantFrom(null, "415", "650", "212"),
        region: fc.constantFrom(null, "CA", "NY"),
        hasTenDlcCampaign: fc.boolean(),
        isTollFree: fc.boolean(),
      })
      .map((r): SenderCandidate => ({ id, number: `+1000${id}`, ...r }));
  const arbCandidates = fc
    .subarray(ids, { minLength: 0 })
    .chain((chosen) => fc.tuple(...chosen.map(arbCandidate)));
  const arbId = fc.constantFrom(null, ...ids, "unknown");
  const arbContext = fc.record({
    manualPhoneNumberId: arbId,
    stickyPhoneNumberId: arbId,
    leadAssignedPhoneNumberId: arbId,
    campaignId: fc.constantFrom(null, "c1", "c2"),
    sourceId: fc.constantFrom(null, "s1", "s2"),
    recipientAreaCode: fc.constantFrom(null, "415", "650"),
    recipientRegion: fc.constantFrom(null, "CA", "NY"),
    recipientNeedsTenDlc: fc.boolean(),
  });
  const rank = (reason: SelectionReason) =>
    reason === "ManualOverride" ? -1 : SELECTION_REASONS.indexOf(reason);

  test("an automatic choice is eligible, can send when any number can, and no such number matches an earlier rule", () => {
    fc.assert(
      fc.property(arbCandidates, arbContext, (candidates, ctx) => {
        const selection = selectSender(candidates, ctx);
        const usable = candidates.filter(isEligible);
        const lawful = usable.filter((c) => canSendTo(c, ctx));
        // The rules run over the numbers that may send to the recipient, else over all usable ones.
        const eligible = lawful.length > 0 ? lawful : usable;
        if (!selection) {
          // Nothing to choose: no eligible number and no usable manual choice.
          assert.equal(eligible.length, 0);
          return;
        }
        if (selection.reason === "ManualOverride") {
          assert.equal(selection.candidate.id, ctx.manualPhoneNumberId);
          assert.ok(selection.candidate.enabled && selection.candidate.smsEnabled);
          return;
        }
        assert.ok(eligible.includes(selection.candidate));
        assert.equal(
          candidateReason(selection.candidate, { ...ctx, manualPhoneNumberId: null }),
          selection.reason,
        );
        for (const c of eligible) {
          const reason = candidateReason(c, { ...ctx, manualPhoneNumberId: null });
          assert.ok(
            rank(reason) >= rank(selection.reason),
            `${c.id} matches ${reason}, before the chosen ${selection.reason}`,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });

  test("the choice does not depend on the order the numbers are listed in", () => {
    fc.assert(
      fc.property(
        arbCandidates.chain((cs) =>
          fc.tuple(fc.constant(cs), fc.shuffledSubarray(cs, { minLength: cs.length })),
        ),
        arbContext,
        ([candidates, shuffled], ctx) => {
          assert.deepEqual(pick(shuffled, ctx), pick(candidates, ctx));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
