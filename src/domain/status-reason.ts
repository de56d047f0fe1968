// statusReason: the sentence a person reads beside a message's status. For provider outcomes it
// carries the provider's own words (stored in error_message) and its code, so the timeline says why
// without a lookup in the provider's console.

/**
 * "Lead (code 503): What the provider said." — or without the code or the words when it gave none.
 */
function reason(lead: string, code: string | null | undefined, message: string | null | undefined): string {
  const head = code ? `${lead} (code ${code})` : lead;
  const text = message?.trim() ?? "";
  if (text === "") return `${head}.`;
  return `${head}: ${/[.!?]$/.test(text) ? text : `${text}.`}`;
}

/** A transient provider error; the message is queued again for retry `attempt` of `maxAttempts`. */
export function retryingReason(
  code: string,
  message: string | null,
  attempt: number,
  maxAttempts: number,
): string {
  return `${reason("Temporary provider error", code, message)} Retrying (${attempt} of ${maxAttempts}).`;
}

/**
 * A refusal that is the deployment's to fix (API key, funds, base URL): the message waits, without
 * spending a retry, until `until` (LEADTRAIL_OPERATOR_WAIT_HOURS after the first such refusal), and
 * the reason says what to check.
 */
export function operatorWaitReason(
  code: string,
  message: string | null,
  action: string,
  until: number,
): string {
  return `${reason("The provider refused our account or settings", code, message)} ${action} Waiting for it to be fixed (no retry spent); fails at ${new Date(until).toISOString()} if it is not.`;
}

/** The same refusal, still there after the message waited `hours` for it. */
export function operatorGaveUpReason(
  code: string,
  message: string | null,
  action: string,
  hours: number,
): string {
  return `${reason("The provider refused our account or settings", code, message)} ${action} Gave up after waiting ${hours} h for it to be fixed (LEADTRAIL_OPERATOR_WAIT_HOURS).`;
}

/** Transient errors until the retries ran out. */
export function gaveUpReason(code: string, message: string | null, retries: number): string {
  return `${reason("The provider kept failing", code, message)} Gave up after ${retries} ${retries === 1 ? "retry" : "retries"}.`;
}

/** The provider refused the message outright. */
export function rejectedReason(code: string, message: string | null): string {
  return reason("Rejected by the provider", code, message);
}

/** A receipt's failure: the carrier could not deliver it, or the provider could not send it. */
export function receiptFailureReason(
  kind: "undeliverable" | "failed",
  code: string | null | undefined,
  message: string | null | undefined,
): string {
  const lead =
    kind === "undeliverable" ? "The carrier could not deliver it" : "The provider could not send it";
  return reason(lead, code, message);
}

/** The provider's answer did not say whether it took the message; it stays Sending, never resent. */
export function unknownOutcomeReason(code: string, message: string | null): string {
  return `${reason("No clear answer from the provider", code, message)} Not resent, as it may have gone out: waiting for its receipts.`;
}

/** Sending past the reconcile deadline with no outcome (worker.ts: never resent blindly). */
export const OUTCOME_UNKNOWN_REASON =
  "No answer from the provider before the reconcile deadline; not resent, as it may have gone out.";
