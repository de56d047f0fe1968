// What a refusal of Telnyx's send call (POST /v2/messages, not 2xx) means for the message: try it
// again later, or fail it now. Telnyx's own error code decides when this table knows it; else the
// HTTP status does. Three classes:
//   temporary — Telnyx could not take it now: retried on the backoff (and its Retry-After).
//   operator  — our account or settings are wrong (key, funds, permissions, base URL): every
//               message would be refused alike until someone fixes it, so they wait, without
//               spending retries, with a status reason that says what to check, rather than all
//               fail; the worker stops calling for the refusal's scope meanwhile, but for a probe
//               now and then (messaging/provider-breaker.ts).
//   message   — this message is refused for good (invalid number, opt-out): it fails at once.
// Codes from Telnyx's API error list (developers.telnyx.com, "API error codes") and its messaging
// error list; a code missing here falls back on its HTTP status.

export type RefusalClass = "temporary" | "operator" | "message";

/**
 * What an operator problem concerns: "account" — the API key, the base URL (one of each for the
 * whole deployment) and the funds (Telnyx's balance is its account's): every message of every
 * organization alike; "sender" — the sending number (its messaging profile, its registration).
 */
export type OperatorScope = "account" | "sender";

export interface RefusalRule {
  class: RefusalClass;
  /** For an operator problem: what to check, in words an operator can act on. */
  action?: string;
  /** For an operator problem: what it concerns (account-wide unless said). */
  scope?: OperatorScope;
}

const CHECK_KEY = "Check TELNYX_API_KEY (revoked or rotated?) in the Telnyx portal.";
const CHECK_FUNDS = "Top up the Telnyx account's balance.";
const CHECK_PERMISSION =
  "Check that TELNYX_API_KEY's account may send from this number (the number's messaging profile, the account's verification).";
const CHECK_URL =
  "Check TELNYX_API_BASE_URL (it should end in /v2) and the sending number's messaging profile.";

const CHECK_SENDER =
  "Check that the sending number is active and enabled for messaging at Telnyx (its messaging profile).";

/** Telnyx's error code → class. Only codes whose meaning Telnyx documents. */
export const TELNYX_CODE_RULES: Readonly<Record<string, RefusalRule>> = {
  // Telnyx-side and temporary (HTTP 500, 408, 429).
  "10007": { class: "temporary" }, // Unexpected error
  "10008": { class: "temporary" }, // Request timeout
  "10011": { class: "temporary" }, // Too many requests
  // Our account or settings.
  "10009": { class: "operator", action: CHECK_KEY }, // Authentication failed (401)
  // Authorization failed (403). It may concern the whole account (its verification) or only this
  // number (its messaging profile): taken as the number's, so that one number refused does not stop
  // the others; were it the account's, each number would find it out with one refusal of its own.
  "10010": { class: "operator", action: CHECK_PERMISSION, scope: "sender" },
  "10005": { class: "operator", action: CHECK_URL }, // Resource not found (404): the URL is not Telnyx's endpoint
  "20100": { class: "operator", action: CHECK_FUNDS }, // Insufficient funds (402)
  // Invalid source number: the carrier rejected the sending number ("check that your number is
  // active and messaging-enabled"; developers.telnyx.com/docs/messaging/messages/error-codes).
  "40013": { class: "operator", action: CHECK_SENDER, scope: "sender" },
  // Message queue full (HTTP 429): the account's or the number's rate; "wait before resending"
  // (developers.telnyx.com/api/errors/40318).
  "40318": { class: "temporary" },
  // This message, for good: whatever the HTTP status it comes with.
  "10001": { class: "message" }, // Inactive phone number
  "10002": { class: "message" }, // Invalid phone number
  "10016": { class: "message" }, // Phone number must be in +E.164 format
  "40300": { class: "message" }, // Blocked due to STOP message (the recipient opted out)
  "40310": { class: "message" }, // Invalid 'to' address
  // Invalid destination number: the carrier rejected it (Telnyx's messaging error code reference,
  // developers.telnyx.com/docs/messaging/messages/error-codes).
  "40012": { class: "message" },
  // 40010, 40151 and 40320 are left to their HTTP status: no Telnyx page found says what they mean.
};

/** The HTTP status's class when Telnyx gives no code this table knows. */
function statusRule(status: number, telnyxFormat: boolean): RefusalRule | "unknown" {
  if (status === 408 || status === 429) return { class: "temporary" };
  if (status === 401) return { class: "operator", action: CHECK_KEY };
  if (status === 402) return { class: "operator", action: CHECK_FUNDS };
  if (status === 403) return { class: "operator", action: CHECK_PERMISSION, scope: "sender" };
  // A 404 to POST /messages: the base URL does not lead to Telnyx's messages endpoint.
  if (status === 404) return { class: "operator", action: CHECK_URL };
  // A 5xx in Telnyx's own error format: Telnyx says it failed. Without it (a gateway in front of
  // Telnyx) nothing is said about whether Telnyx took the message: a retry could send it twice.
  if (status >= 500) return telnyxFormat ? { class: "temporary" } : "unknown";
  return { class: "message" };
}

/**
 * The class of a refusal with HTTP `status` and Telnyx's first error `code` (if any); "unknown"
 * when the answer does not say whether Telnyx took the message.
 */
export function classifyTelnyxRefusal(
  status: number,
  code: string | undefined,
  telnyxFormat: boolean,
): RefusalRule | "unknown" {
  // A gateway's 5xx says nothing, whatever code-like field it carries.
  if (status >= 500 && !telnyxFormat) return "unknown";
  const byCode =
    code !== undefined && Object.hasOwn(TELNYX_CODE_RULES, code) ? TELNYX_CODE_RULES[code] : undefined;
  return byCode ?? statusRule(status, telnyxFormat);
}
