import { operatorGaveUpReason, operatorWaitReason } from "../domain/status-reason.js";
import type { EventRow } from "../store/schema.js";
import type { BatchItem } from "./batch-transitions.js";
import type { Breaker } from "./provider-breaker.js";

// What the gate writes for a message an open provider breaker holds back (worker.ts holdBack): the
// first deferral, with its log entry, or the failure once it waited LEADTRAIL_OPERATOR_WAIT_HOURS.
// A message already waiting is only moved (no entry), so a long outage does not grow its log.

/** Failed without a call: it waited `waitHours` for the operator problem `shown` describes. */
export function operatorGiveUp(row: EventRow, shown: Breaker, waitHours: number, now: number): BatchItem {
  return {
    event: row,
    changes: {
      status: "Failed",
      failed_at: now,
      error_code: shown.error_code,
      error_message: shown.error_message,
      status_reason: operatorGaveUpReason(shown.error_code, shown.error_message, shown.action, waitHours),
      next_attempt_at: null,
      next_retry_at: null,
      billing_status: "NotBilled",
    },
    log: {
      stage: "provider",
      message: `Gave up: the provider refused our account or settings (${shown.error_code}) for ${waitHours} h; not sent.`,
    },
  };
}

/**
 * Held back without a call until `until` (the breaker's next probe), waiting since `since` (its first
 * refusal, or now) and failing at `failsAt` if the problem lasts.
 */
export function operatorDeferral(
  row: EventRow,
  shown: Breaker,
  since: number,
  until: number,
  failsAt: number,
): BatchItem {
  return {
    event: row,
    changes: {
      status: "Queued",
      operator_wait_since: since,
      next_attempt_at: until,
      next_retry_at: null,
      error_code: shown.error_code,
      error_message: shown.error_message,
      status_reason: operatorWaitReason(shown.error_code, shown.error_message, shown.action, failsAt),
    },
    log: {
      stage: "retry",
      message: `Deferred without a call: the provider refuses our account or settings (${shown.error_code}). ${shown.action} Only a probe goes until it is fixed; next at ${new Date(until).toISOString()}.`,
    },
  };
}
