import { type LookedUpMessage, type LookupAnswer, MAX_SEND_CALL_MS } from "../provider.js";
import { parseTelnyxWebhook } from "./telnyx-webhook.js";

// Telnyx's "Retrieve a message" (GET /v2/messages/{id}): its `data` is the message as a webhook's
// payload carries it (to[].status, errors…). A final status is read exactly as message.finalized
// with that payload would be (parseTelnyxWebhook), so a looked-up outcome and a webhook's agree.
// Telnyx keeps a message retrievable for 10 days; after that (or for an id it never had) it
// answers 404, which says nothing about the message.

export interface TelnyxLookupOptions {
  apiKey: string;
  apiBaseUrl: string;
  timeoutMs?: number;
}

const text = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
const record = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export async function lookUpTelnyxMessage(
  options: TelnyxLookupOptions,
  message: LookedUpMessage,
): Promise<LookupAnswer> {
  const base = options.apiBaseUrl.replace(/\/$/, "");
  let status: number;
  let body: unknown;
  try {
    const response = await fetch(`${base}/messages/${encodeURIComponent(message.providerMessageId)}`, {
      headers: { authorization: `Bearer ${options.apiKey}`, accept: "application/json" },
      signal: AbortSignal.timeout(options.timeoutMs ?? MAX_SEND_CALL_MS),
    });
    status = response.status;
    const raw = await response.text();
    body = response.ok && raw ? JSON.parse(raw) : null;
  } catch (error) {
    return { kind: "no-answer", reason: error instanceof Error ? error.message : String(error) };
  }
  if (status !== 200) return { kind: "no-answer", reason: `HTTP ${status}` };
  const data = record(record(body).data);
  // An answer about another message than the one asked for is no answer.
  if (text(data.id) !== message.providerMessageId) return { kind: "no-answer", reason: "another message" };
  const firstTo = record(Array.isArray(data.to) ? data.to[0] : undefined);
  const toStatus = text(firstTo.status) ?? "?";
  const occurredAt = text(data.completed_at) ?? text(firstTo.updated_at) ?? text(data.updated_at);
  const event = parseTelnyxWebhook(
    { data: { event_type: "message.finalized", occurred_at: occurredAt, payload: data } },
    message.eventId,
    message.organizationId,
  );
  return event.kind === "receipt"
    ? { kind: "final", receipt: event.receipt }
    : { kind: "pending", status: toStatus };
}
