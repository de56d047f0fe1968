import type { ReceiptKind } from "../domain/message-status.js";

// The boundary between the pipeline and an SMS provider (simulator or Telnyx). Adapters translate
// the provider's protocol to these shapes; everything above them is provider-neutral.

export interface OutboundMessage {
  organizationId: string;
  eventId: string;
  from: string;
  to: string;
  text: string;
  mediaUrls: string[];
}

export type SendResult =
  | {
      kind: "accepted";
      providerMessageId: string;
      telnyxId?: string;
      /** How many parts the provider says it split an SMS into (Telnyx's `parts`), when it says. */
      parts?: number;
    }
  /**
   * 429, 5xx, timeouts: worth retrying later. `retryAfterMs`: how long the provider asked us to wait
   * (Retry-After, or its rate limit's reset), which the retry waits at least.
   */
  | {
      kind: "transient";
      errorCode: string;
      errorMessage: string;
      retryAfterMs?: number;
      /**
       * Set when the refusal is the deployment's to fix (the API key, the account's funds, the base
       * URL) rather than the provider's: what to check, for the status reason and the log.
       */
      operatorAction?: string;
      /**
       * With operatorAction: whether the problem is the whole provider account's ("account": key,
       * funds, base URL) or the sending number's ("sender"). Account-wide when unset.
       */
      operatorScope?: "account" | "sender";
    }
  /**
   * Rejected for good (invalid number, bad request…): the message fails now. `recipientOptedOut`
   * when the refusal says the recipient opted out at the provider or carrier (a STOP it holds).
   */
  | { kind: "permanent"; errorCode: string; errorMessage: string; recipientOptedOut?: boolean }
  /**
   * No answer that says whether the provider took the message (a timeout or a reset after the
   * request went out, a gateway's 502): retrying could send it twice, so it stays Sending until a
   * receipt (the webhook URL names the event) or the reconcile deadline settles it.
   */
  | { kind: "unknown"; errorCode: string; errorMessage: string };

/** A delivery receipt: what the provider says happened to a message it accepted. */
export interface Receipt {
  /** Our event id when the provider echoes it back (webhook URL), else found by providerMessageId. */
  eventId: string | null;
  organizationId: string | null;
  providerMessageId: string | null;
  kind: ReceiptKind;
  /** When the provider says it happened (not when we heard of it). */
  occurredAt: number;
  errorCode?: string | null;
  errorMessage?: string | null;
  /** Telnyx's message id when the receipt comes from Telnyx (the seed's telnyxId). */
  telnyxId?: string | null;
  /** A failure because the recipient opted out at the provider or carrier (a STOP it holds). */
  recipientOptedOut?: boolean;
  /** The provider's own word for the outcome when it says more than `kind` (the transition log shows it). */
  providerStatus?: string;
}

/** An attachment of an inbound MMS, with what the provider tells of it (null when nothing). */
export interface InboundMedia {
  url: string;
  contentType: string | null;
  size: number | null;
  sha256: string | null;
}

export interface InboundMessage {
  from: string;
  to: string;
  text: string;
  media: InboundMedia[];
  providerMessageId: string | null;
  /** Telnyx's message id when Telnyx delivered it (the seed's telnyxId). */
  telnyxId?: string | null;
  receivedAt: number;
}

/** Where adapters deliver what arrives asynchronously (receipts and inbound messages). */
export interface ProviderEvents {
  receipt(receipt: Receipt): Promise<void>;
  inbound(message: InboundMessage): Promise<void>;
}

/** The longest a provider's send call may run (Telnyx answers in well under a second). */
export const MAX_SEND_CALL_MS = 10_000;

/**
 * How long a provider's send call may run before its outcome is taken as unknown: 10 s, or half the
 * reconcile deadline when that is shorter. The deadline runs from the worker's claim, and the call
 * must be over before it: else the reconcile ends the message ProviderOutcomeUnknown while the call,
 * which could still answer that the provider took it, runs on. The other half is for the claim's
 * commit before the call and the recording of its answer after.
 */
export function sendCallTimeoutMs(reconcileSeconds: number): number {
  return Math.min(MAX_SEND_CALL_MS, Math.floor((reconcileSeconds * 1000) / 2));
}

/** A message a provider accepted (status Sent) that has no final status yet. */
export interface UnsettledMessage {
  organizationId: string;
  eventId: string;
  providerMessageId: string;
  to: string;
}

/** A message handed to the provider, asked for by its provider id (messaging/receipt-lookup.ts). */
export interface LookedUpMessage {
  organizationId: string;
  eventId: string;
  providerMessageId: string;
}

/**
 * What the provider answers when asked for a message: its final outcome as the receipt its webhook
 * would have carried, not final yet, or no answer (not found, an error, unreachable).
 */
export type LookupAnswer =
  | { kind: "final"; receipt: Receipt }
  | { kind: "pending"; status: string }
  | { kind: "no-answer"; reason: string };

export interface Provider {
  readonly name: "simulator" | "telnyx";
  send(message: OutboundMessage): Promise<SendResult>;
  /**
   * For a provider whose webhooks can be lost for good (Telnyx gives up after a few attempts): asks
   * it for a message it accepted, for the receipt that never came.
   */
  lookUp?(message: LookedUpMessage): Promise<LookupAnswer>;
  /**
   * For a provider whose receipts live only in this process's memory (the simulator): as the worker
   * starts, it is given the Sent messages whose provider ids start with `providerIdPrefix`, whose
   * receipts an earlier process owed when it was killed. A real provider's webhooks come by themselves.
   */
  readonly owedReceipts?: {
    providerIdPrefix: string;
    resume(messages: UnsettledMessage[]): void;
  };
  /** Stops timers and connections (tests, shutdown). */
  close(): Promise<void>;
}
