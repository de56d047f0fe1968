import type { OutboundMessage, Provider, SendResult } from "../provider.js";

// Telnyx's v2 Messaging API, spoken with fetch. The official `telnyx` package was passed over: it
// wraps this one call, and the adapter must be pointed at a local Telnyx-speaking server in tests
// (TELNYX_API_BASE_URL), which plain HTTP makes explicit.

export interface TelnyxOptions {
  apiKey: string;
  apiBaseUrl: string;
  /** Our public base URL: each message's webhook_url is `${publicUrl}/webhooks/telnyx?event=…&org=…`. */
  publicUrl: string;
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

  webhookUrl(message: Pick<OutboundMessage, "eventId" | "organizationId">): string {
    const query = new URLSearchParams({ event: message.eventId, org: message.organizationId });
    return `${this.options.publicUrl}/webhooks/telnyx?${query}`;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const body: Record<string, unknown> = {
      from: message.from,
      to: message.to,
      text: message.text,
      webhook_url: this.webhookUrl(message),
      use_profile_webhooks: false,
    };
    if (message.mediaUrls.length > 0) body.media_urls = message.mediaUrls;
    let response: Response;
    try {
      response = await fetch(`${this.options.apiBaseUrl.replace(/\/$/, "")}/messages`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const timeout =
        error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      return {
        kind: "transient",
        errorCode: timeout ? "Timeout" : "NetworkError",
        errorMessage: error instanceof Error ? error.message : String(error),
      };
    }
    const text = await response.text();
    let json: { data?: { id?: string }; errors?: TelnyxError[] } = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = {};
    }
    if (response.ok && json.data?.id) {
      return { kind: "accepted", providerMessageId: json.data.id, telnyxId: json.data.id };
    }
    const first = json.errors?.[0];
    const errorMessage = first?.detail ?? first?.title ?? `HTTP ${response.status}`;
    if (response.status === 429 || response.status >= 500) {
      return { kind: "transient", errorCode: String(response.status), errorMessage };
    }
    if (response.ok) {
      return {
        kind: "transient",
        errorCode: "MalformedResponse",
        errorMessage: "Telnyx answered without a message id.",
      };
    }
    return { kind: "permanent", errorCode: first?.code ?? String(response.status), errorMessage };
  }

  async close(): Promise<void> {}
}
