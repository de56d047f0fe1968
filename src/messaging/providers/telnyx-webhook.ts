import { createPublicKey, type KeyObject, verify } from "node:crypto";
import type { ReceiptKind } from "../../domain/message-status.js";
import { parseRfc3339 } from "../../domain/time.js";
import type { InboundMedia, InboundMessage, Receipt } from "../provider.js";
import { isTelnyxOptOut } from "./telnyx-opt-out.js";

// Telnyx webhooks: Ed25519 signature over `${telnyx-timestamp}|${raw body}`, and the mapping of
// message.sent / message.finalized / message.received onto receipts and inbound messages.

export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** The public key as Telnyx's portal shows it: base64 of the raw 32-byte Ed25519 key. */
export function telnyxPublicKey(base64: string): KeyObject {
  const raw = Buffer.from(base64.trim(), "base64");
  if (raw.length !== 32)
    throw new Error("TELNYX_PUBLIC_KEY must be the base64 of a 32-byte Ed25519 public key");
  return createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
    format: "jwk",
  });
}

/**
 * Telnyx's signature header: the base64 of the 64-byte signature, one value, nothing around it.
 * Node's base64 decoder skips what it cannot read and stops at padding, so without this a header
 * given twice (Node joins the values with ", ") or a valid signature with anything appended would
 * decode to the valid signature and pass.
 */
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{86}(?:==)?$/;

export function verifyTelnyxSignature(
  key: KeyObject,
  rawBody: string,
  signature: string | undefined,
  timestamp: string | undefined,
  nowSeconds: number,
): boolean {
  if (!signature || !SIGNATURE_BASE64.test(signature)) return false;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS) return false;
  const sig = Buffer.from(signature, "base64");
  // The canonical encoding only: unused low bits of the last character set are another spelling.
  if (sig.length !== 64 || sig.toString("base64").slice(0, 86) !== signature.slice(0, 86)) return false;
  return verify(null, Buffer.from(`${timestamp}|${rawBody}`), key, sig);
}

/** An attachment of message.received: Telnyx's InboundMessagePayload calls the hash hash_sha256. */
interface TelnyxMedia {
  url?: string;
  content_type?: string | null;
  size?: number | null;
  hash_sha256?: string | null;
}

interface TelnyxWebhook {
  data?: {
    event_type?: string;
    occurred_at?: string;
    payload?: {
      id?: string;
      text?: string;
      from?: { phone_number?: string };
      to?: Array<{ phone_number?: string; status?: string }>;
      media?: TelnyxMedia[];
      errors?: Array<{ code?: string; title?: string; detail?: string }>;
      received_at?: string;
    };
  };
}

/** What Telnyx tells of an attachment; a field of the wrong type counts as not told. */
function inboundMedia(url: string, m: TelnyxMedia): InboundMedia {
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  const size = m.size;
  return {
    url,
    contentType: text(m.content_type),
    size: typeof size === "number" && Number.isSafeInteger(size) && size >= 0 ? size : null,
    sha256: text(m.hash_sha256),
  };
}

const FINALIZED: Record<string, ReceiptKind> = {
  delivered: "delivered",
  delivery_failed: "undeliverable",
  delivery_unconfirmed: "undeliverable",
  sending_failed: "failed",
  // Held past its validity period and never sent.
  expired: "failed",
};

export type TelnyxEvent =
  | { kind: "receipt"; receipt: Receipt }
  | { kind: "inbound"; message: InboundMessage }
  | { kind: "ignored"; eventType: string };

/** Maps a verified webhook body; `eventId`/`org` come from our webhook_url's query string. */
export function parseTelnyxWebhook(
  body: TelnyxWebhook,
  eventId: string | null,
  org: string | null,
): TelnyxEvent {
  const data = body.data ?? {};
  const payload = data.payload ?? {};
  const eventType = data.event_type ?? "unknown";
  const occurredAt = parseRfc3339(data.occurred_at ?? "") ?? Date.now();
  const providerMessageId = payload.id ?? null;
  const base = { eventId, organizationId: org, providerMessageId, telnyxId: providerMessageId, occurredAt };
  if (eventType === "message.sent") return { kind: "receipt", receipt: { ...base, kind: "sent" } };
  if (eventType === "message.finalized") {
    const kind = FINALIZED[payload.to?.[0]?.status ?? ""];
    if (!kind) return { kind: "ignored", eventType: `${eventType}:${payload.to?.[0]?.status ?? "?"}` };
    const error = payload.errors?.[0];
    return {
      kind: "receipt",
      receipt: {
        ...base,
        kind,
        errorCode: error?.code ?? null,
        errorMessage: error?.detail ?? error?.title ?? null,
        ...(kind !== "delivered" && isTelnyxOptOut(payload.errors) ? { recipientOptedOut: true } : {}),
      },
    };
  }
  if (eventType === "message.received") {
    const from = payload.from?.phone_number;
    const to = payload.to?.[0]?.phone_number;
    if (!from || !to) return { kind: "ignored", eventType };
    return {
      kind: "inbound",
      message: {
        from,
        to,
        text: payload.text ?? "",
        media: (payload.media ?? []).flatMap((m) => (m.url ? [inboundMedia(m.url, m)] : [])),
        providerMessageId: payload.id ?? null,
        telnyxId: payload.id ?? null,
        receivedAt: occurredAt,
      },
    };
  }
  return { kind: "ignored", eventType };
}
