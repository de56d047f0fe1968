import type { SelectionReason } from "./event-vocabulary.js";

// Choosing the sender number for an outbound message (issue 3, item 2), as a pure function over the
// organization's numbers. Precedence: ManualOverride → StickyConversation → LeadAssigned →
// CampaignOrSource (campaign and source both, then campaign, then source) → Preferred → LocalArea
// (area code, then state) → HealthyPool (least recently used Healthy number) → FallbackDefault (the
// default number, else the best remaining one). Within a rule, the healthier number, then one not
// warming up, then the least recently used wins. A Blocked, disabled or SMS-disabled number is never chosen
// automatically; only a manual choice may pick a Blocked one. Nor does an automatic rule pick a
// number that cannot legally send to the recipient (a US/Canadian recipient and no 10DLC campaign)
// while one that can is left: the rule is passed over, and the compliance gate would only block it.
// A toll-free number is never passed over for that: it sends under toll-free verification, not
// 10DLC (./ten-dlc.ts), and competes under the same precedence as any other number.

export type HealthStatus = "Healthy" | "Needs Attention" | "Blocked";

export interface SenderCandidate {
  id: string;
  number: string;
  enabled: boolean;
  smsEnabled: boolean;
  health: HealthStatus;
  sourceId: string | null;
  campaignId: string | null;
  isPreferred: boolean;
  isDefault: boolean;
  lastUsedAt: number | null;
  areaCode: string | null;
  region: string | null;
  /** Has a registered 10DLC campaign (routing.tenDlcCampaignId). */
  hasTenDlcCampaign: boolean;
  /** A NANP toll-free number: the 10DLC rule does not apply to it. */
  isTollFree?: boolean;
  /** Flagged for warmup and not Ready yet: it should not carry lead traffic at volume. */
  warmingUp?: boolean;
}

export interface SelectionContext {
  /** A number the user chose: per message (wasManuallyOverridden) or set on the conversation. */
  manualPhoneNumberId: string | null;
  stickyPhoneNumberId: string | null;
  leadAssignedPhoneNumberId: string | null;
  campaignId: string | null;
  sourceId: string | null;
  recipientAreaCode: string | null;
  recipientRegion: string | null;
  /** The recipient is in the US or Canada, where only a number with a 10DLC campaign may send. */
  recipientNeedsTenDlc?: boolean;
}

export interface Selection {
  candidate: SenderCandidate;
  reason: SelectionReason;
}

/** A number automatic selection may use: enabled for SMS and not Blocked by carriers. */
export function isEligible(c: SenderCandidate): boolean {
  return c.enabled && c.smsEnabled && c.health !== "Blocked";
}

/** Whether the number may legally send to this context's recipient. */
export function canSendTo(c: SenderCandidate, ctx: SelectionContext): boolean {
  return !ctx.recipientNeedsTenDlc || c.hasTenDlcCampaign || c.isTollFree === true;
}

/** A number a user may choose by hand: enabled for SMS, whatever its health. */
export function isManuallySelectable(c: SenderCandidate): boolean {
  return c.enabled && c.smsEnabled;
}

const HEALTH_ORDER: Record<HealthStatus, number> = { Healthy: 0, "Needs Attention": 1, Blocked: 2 };

/**
 * Healthier first, then a number not warming up (a new number in warmup has never been used, and
 * would otherwise win every tie with the numbers it is meant to stay behind), then least recently
 * used (never used first), then id for a stable order.
 */
function byPreference(a: SenderCandidate, b: SenderCandidate): number {
  return (
    HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] ||
    Number(a.warmingUp ?? false) - Number(b.warmingUp ?? false) ||
    (a.lastUsedAt ?? -1) - (b.lastUsedAt ?? -1) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

const given = (value: string | null): value is string => value !== null && value !== "";

/** The automatic rules, in precedence order; a rule may have several steps (most specific first). */
const STEPS: ReadonlyArray<
  readonly [SelectionReason, (c: SenderCandidate, ctx: SelectionContext) => boolean]
> = [
  ["StickyConversation", (c, ctx) => given(ctx.stickyPhoneNumberId) && c.id === ctx.stickyPhoneNumberId],
  [
    "LeadAssigned",
    (c, ctx) => given(ctx.leadAssignedPhoneNumberId) && c.id === ctx.leadAssignedPhoneNumberId,
  ],
  [
    "CampaignOrSource",
    (c, ctx) =>
      given(ctx.campaignId) &&
      given(ctx.sourceId) &&
      c.campaignId === ctx.campaignId &&
      c.sourceId === ctx.sourceId,
  ],
  ["CampaignOrSource", (c, ctx) => given(ctx.campaignId) && c.campaignId === ctx.campaignId],
  ["CampaignOrSource", (c, ctx) => given(ctx.sourceId) && c.sourceId === ctx.sourceId],
  ["Preferred", (c) => c.isPreferred],
  ["LocalArea", (c, ctx) => given(ctx.recipientAreaCode) && c.areaCode === ctx.recipientAreaCode],
  ["LocalArea", (c, ctx) => given(ctx.recipientRegion) && c.region === ctx.recipientRegion],
  ["HealthyPool", (c) => c.health === "Healthy"],
  ["FallbackDefault", (c) => c.isDefault],
  ["FallbackDefault", () => true],
];

export function selectSender(candidates: SenderCandidate[], ctx: SelectionContext): Selection | null {
  if (given(ctx.manualPhoneNumberId)) {
    const manual = candidates.find((c) => c.id === ctx.manualPhoneNumberId);
    // A user's explicit choice wins even over a poor health state; a disabled number cannot send.
    if (manual && isManuallySelectable(manual)) return { candidate: manual, reason: "ManualOverride" };
  }
  const eligible = candidates.filter(isEligible).sort(byPreference);
  const lawful = eligible.filter((c) => canSendTo(c, ctx));
  // With no number that may send there, still choose one: the message is then recorded and blocked
  // with MissingTenDlcCampaign, which tells the user what to set up (rather than refusing the send).
  const pool = lawful.length > 0 ? lawful : eligible;
  for (const [reason, matches] of STEPS) {
    const candidate = pool.find((c) => matches(c, ctx));
    if (candidate) return { candidate, reason };
  }
  return null;
}

/**
 * The highest-precedence rule a number satisfies in this context, whether or not it was selected:
 * why it is a candidate at all (shown beside each number in a selection response). A number that
 * cannot be chosen automatically still gets the rule it would match.
 */
export function candidateReason(c: SenderCandidate, ctx: SelectionContext): SelectionReason {
  if (given(ctx.manualPhoneNumberId) && c.id === ctx.manualPhoneNumberId) return "ManualOverride";
  for (const [reason, matches] of STEPS) if (matches(c, ctx)) return reason;
  return "FallbackDefault";
}

/** Health from the last seven days of outcomes (see phone_number_health_days). */
export function healthFromCounts(sent: number, failed: number, carrierBlocked: number): HealthStatus {
  if (carrierBlocked >= 3) return "Blocked";
  if (carrierBlocked > 0) return "Needs Attention";
  if (sent + failed >= 5 && failed / (sent + failed) >= 0.2) return "Needs Attention";
  return "Healthy";
}
