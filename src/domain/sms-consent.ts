import type { KeywordAction } from "./keywords.js";
import { toIso } from "./time.js";

// LeadMetadata's SMS consent fields, as leadtrail records them (services/lead-consent.ts).

/** The metadata fields leadtrail records; an update (PUT) that omits one keeps what is recorded. */
export const SMS_CONSENT_FIELDS = [
  "smsConsentStatus",
  "smsOptedOut",
  "smsOptOutAt",
  "smsOptInAt",
  "smsHelpRequestedAt",
  "smsConsentPhoneNumber",
] as const;

/**
 * `metadata` with the change recorded, or null when it already says so. A repeated STOP keeps the
 * first opt-out's time (the person has been opted out since then), also one the client recorded
 * with smsOptedOut: true; a repeated START keeps the first opt-in's; each HELP is stamped.
 */
export function withSmsConsent(
  metadata: Readonly<Record<string, unknown>>,
  change: KeywordAction,
  phone: string,
  at: number,
): Record<string, unknown> | null {
  const stamp = toIso(at);
  if (change === "help") return { ...metadata, smsHelpRequestedAt: stamp };
  const optedOut = change === "opt-out";
  const status = optedOut ? "OptedOut" : "OptedIn";
  if (metadata.smsConsentStatus === status && (metadata.smsOptedOut === true) === optedOut) return null;
  // A lead the client recorded as opted out (smsOptedOut, with its time) has been opted out since
  // that time: a STOP records the status and keeps it, as a repeated STOP does.
  const since =
    optedOut && metadata.smsOptedOut === true && typeof metadata.smsOptOutAt === "string"
      ? metadata.smsOptOutAt
      : stamp;
  return {
    ...metadata,
    smsConsentStatus: status,
    smsOptedOut: optedOut,
    [optedOut ? "smsOptOutAt" : "smsOptInAt"]: optedOut ? since : stamp,
    smsConsentPhoneNumber: phone,
  };
}
