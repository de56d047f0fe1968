import {
  type LookedUpMessage,
  type LookupAnswer,
  MAX_SEND_CALL_MS,
  type OutboundMessage,
  type Provider,
  type SendResult,
} from "../provider.js";
import { lookUpTelnyxMessage } from "./telnyx-message-lookup.js";
import { isTelnyxOptOut } from "./telnyx-opt-out.js";
import { classifyTelnyxRefusal } from "./telnyx-refusals.js";
import { telnyxRetryAfterMs } from "./telnyx-retry-after.js";
import { webhookUrlQuery } from "./telnyx-webhook-url.js";

// Telnyx's v2 Messaging API (POST /v2/messages), spoken with Node's own fetch.
//
// The official `telnyx` package (7.24.0, checked on Node 20) would work: it takes a baseURL (so it
// can talk to test/helpers/fake-telnyx.ts), a timeout and maxRetries: 0, and its webhook verifier
// is the same Ed25519-over-`timestamp|body` check as ./telnyx-webhook.ts. It was passed
// over because this adapter needs one endpoint of it: the package is 37 MB of generated clients for
// every Telnyx product, costs ~0.4 s to import on every start (simulator or not), and brings its own
// retry and timeout policy, which would have to be switched off so the worker's (backoff, reconcile
// deadline, never resending a message in Sending) stays the only one. Here the whole contract is
// visible: the request fields, and which answers are worth retrying.

export interface TelnyxOptions {
  apiKey: string;
  apiBaseUrl: string;
  /** Our public base URL: each message's webhook_url is `${publicUrl}/webhooks/telnyx?event=…&org=…&sig=…`. */
  publicUrl: string;
  /**
   * Another way in to us (LEADTRAIL_FAILOVER_PUBLIC_URL): each message's webhook_failover_url, with the
   * same query. Telnyx tries a webhook URL a few times only, then the failover URL, then gives up.
   */
  failoverPublicUrl?: string;
  /** Signs the webhook_url's org and event (./telnyx-webhook-url.ts; Store.webhookUrlSecret). */
  webhookUrlSecret: Buffer;
  /** How long a send call may run (createProvider: sendCallTimeoutMs, within the reconcile deadline). */
  timeoutMs?: number;
}

interface TelnyxError {
  code?: string;
  title?: string;
  detail?: string;
}

export class TelnyxProvider implements Provider {
  readonly name = "telnyx" as const;

  constructor(private readonly options: TelnyxOptions) {}

  webhookUrl(
    message: Pick<OutboundMessage, "eventId" | "organizationId">,
    base = this.options.publicUrl,
  ): string {
    const query = webhookUrlQuery(this.options.webhookUrlSecret, message);
    return `${base}/webhooks/telnyx?${query}`;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const body: Record<string, unknown> = {
      from: message.from,
      to: message.to,
      webhook_url: this.webhookUrl(message),
      use_profile_webhooks: false,
    };
    const failover = this.options.failoverPublicUrl;
    if (failover) body.webhook_failover_url = this.webhookUrl(message, failover);
    // Telnyx takes `text` only as a non-empty string: an MMS of pictures alone goes without it.
    if (message.text.trim() !== "" || message.mediaUrls.length === 0) body.text = message.text;
    if (message.mediaUrls.length > 0) body.media_urls = message.mediaUrls;
    let response: Response;
    let text: string;
    try {
      // One deadline for the whole exchange: the signal also aborts a body that stalls.
      response = await fetch(`${this.options.apiBaseUrl.replace(/\/$/, "")}/messages`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? MAX_SEND_CALL_MS),
      });
      text = await response.text();
    } catch (error) {
      const timeout =
        error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      const errorMessage = error instanceof Error ? error.message : String(error);
      // Only a connection that was never made proves Telnyx did not get the message. After that a
      // timeout or a reset may come after Telnyx took it: a retry could send it twice.
      if (!timeout && neverConnected(error)) {
        return { kind: "transient", errorCode: "ConnectError", errorMessage };
      }
      return { kind: "unknown", errorCode: timeout ? "Timeout" : "NetworkError", errorMessage };
    }
    let json: { data?: { id?: string; parts?: unknown }; errors?: TelnyxError[] } = {};
    try {
      const parsed: unknown = text ? JSON.parse(text) : {};
      // JSON that is not an object (`null`, a string) says nothing, as a body that is not JSON.
      json = parsed !== null && typeof parsed === "object" ? parsed : {};
    } catch {
      json = {};
    }
    if (response.ok && json.data?.id) {
      const parts = json.data.parts;
      return {
        kind: "accepted",
        providerMessageId: json.data.id,
        telnyxId: json.data.id,
        // Told only when it is a count: anything else says nothing of the parts.
        ...(Number.isSafeInteger(parts) && (parts as number) > 0 ? { parts: parts as number } : {}),
      };
    }
    const first = json.errors?.[0];
    const errorMessage = first?.detail ?? first?.title ?? `HTTP ${response.status}`;
    if (response.ok) {
      // Telnyx took the message but we cannot tell which it is: retrying could send it twice.
      return {
        kind: "unknown",
        errorCode: "MalformedResponse",
        errorMessage: `Telnyx answered ${response.status} without a message id.`,
      };
    }
    // Telnyx's own code where it gives one (10011, 20100…), else the HTTP status.
    const telnyxCode = first?.code === undefined || first.code === null ? undefined : String(first.code);
    const errorCode = telnyxCode ?? String(response.status);
    // Which refusals are retried and which fail the message: ./telnyx-refusals.ts.
    const rule = classifyTelnyxRefusal(response.status, telnyxCode, first !== undefined);
    if (rule === "unknown") return { kind: "unknown", errorCode, errorMessage };
    if (rule.class !== "message") {
      const retryAfterMs = telnyxRetryAfterMs(response.headers, response.status, Date.now());
      return {
        kind: "transient",
        errorCode,
        errorMessage,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        ...(rule.action === undefined ? {} : { operatorAction: rule.action }),
        ...(rule.scope === undefined ? {} : { operatorScope: rule.scope }),
      };
    }
    const refusal = { kind: "permanent", errorCode, errorMessage } as const;
    return isTelnyxOptOut(json.errors) ? { ...refusal, recipientOptedOut: true } : refusal;
  }

  /** GET /v2/messages/{id}: what Telnyx says now of a message it took (./telnyx-message-lookup.ts). */
  lookUp(message: LookedUpMessage): Promise<LookupAnswer> {
    return lookUpTelnyxMessage(this.options, message);
  }

  async close(): Promise<void> {}
}

/** Connection errors raised before a request could be sent (undici puts the code on `cause`). */
const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function neverConnected(error: unknown): boolean {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === "string" && CONNECT_ERRORS.has(cause.code);
}
