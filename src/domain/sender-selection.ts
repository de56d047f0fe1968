import type { SelectionReason } from "./event-vocabulary.js";

// Choosing the sender number for an outbound message (issue 3, item 2), as a pure function over the
// organization's numbers. Precedence: ManualOverride → StickyConversation → LeadAssigned →
// CampaignOrSource → Preferred → LocalArea (area code, then state) → HealthyPool (least recently
// used Healthy number) → FallbackDefault.

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
}

export interface Selection {
  candidate: SenderCandidate;
  reason: SelectionReason;
}

/** A number automatic selection may use: enabled for SMS and not Blocked by carriers. */
export function isEligible(c: SenderCandidate): boolean {
  return c.enabled && c.smsEnabled && c.health !== "Blocked";
}

const HEALTH_ORDER: Record<HealthStatus, number> = { Healthy: 0, "Needs Attention": 1, Blocked: 2 };

/** Healthier first, then least recently used (never used first), then id for a stable order. */
function byPreference(a: SenderCandidate, b: SenderCandidate): number {
  return (
    HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] ||
    (a.lastUsedAt ?? -1) - (b.lastUsedAt ?? -1) ||
    a.id.localeCompare(b.id)
  );
}

export function selectSender(candidates: SenderCandidate[], ctx: SelectionContext): Selection | null {
  const byId = new Map(candidates.map((c) => [c.id, c]));
  if (ctx.manualPhoneNumberId) {
    const manual = byId.get(ctx.manualPhoneNumberId);
    // A user's explicit choice wins even over a poor health state; a disabled number cannot send.
    if (manual?.enabled && manual.smsEnabled) return { candidate: manual, reason: "ManualOverride" };
  }
  const eligible = candidates.filter(isEligible).sort(byPreference);
  const pick = (id: string | null) => (id ? eligible.find((c) => c.id === id) : undefined);

  const sticky = pick(ctx.stickyPhoneNumberId);
  if (sticky) return { candidate: sticky, reason: "StickyConversation" };
  const assigned = pick(ctx.leadAssignedPhoneNumberId);
  if (assigned) return { candidate: assigned, reason: "LeadAssigned" };
  const routed = eligible.find(
    (c) =>
      (ctx.campaignId !== null && c.campaignId === ctx.campaignId) ||
      (ctx.sourceId !== null && c.sourceId === ctx.sourceId),
  );
  if (routed) return { candidate: routed, reason: "CampaignOrSource" };
  const preferred = eligible.find((c) => c.isPreferred);
  if (preferred) return { candidate: preferred, reason: "Preferred" };
  const local =
    (ctx.recipientAreaCode ? eligible.find((c) => c.areaCode === ctx.recipientAreaCode) : undefined) ??
    (ctx.recipientRegion ? eligible.find((c) => c.region === ctx.recipientRegion) : undefined);
  if (local) return { candidate: local, reason: "LocalArea" };
  const healthy = eligible.find((c) => c.health === "Healthy");
  if (healthy) return { candidate: healthy, reason: "HealthyPool" };
  const fallback = eligible.find((c) => c.isDefault) ?? eligible[0];
  return fallback ? { candidate: fallback, reason: "FallbackDefault" } : null;
}

/** Health from the last seven days of outcomes (see phone_number_health_days). */
export function healthFromCounts(sent: number, failed: number, carrierBlocked: number): HealthStatus {
  if (carrierBlocked >= 3) return "Blocked";
  if (carrierBlocked > 0) return "Needs Attention";
  if (sent + failed >= 5 && failed / (sent + failed) >= 0.2) return "Needs Attention";
  return "Healthy";
}
