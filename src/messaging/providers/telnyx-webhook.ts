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
  url?: unknown;
  content_type?: unknown;
  size?: unknown;
  hash_sha256?: unknown;
}

/** A webhook body as it comes off the wire: every field may be missing, null or of another type. */
interface TelnyxWebhook {
  data?: unknown;
}

// Readers of the untyped body: a field of another type than Telnyx documents counts as not told.
const text = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const record = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
/** Telnyx's error codes are strings ("40300"); one written as a number is the same code. */
const errorCode = (v: unknown): string | null =>
  typeof v === "number" && Number.isSafeInteger(v) ? String(v) : text(v);

/** What Telnyx tells of an attachment; a field of the wrong type counts as not told. */
function inboundMedia(url: string, m: TelnyxMedia): InboundMedia {
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
  // Telnyx got no delivery receipt from the carrier: the message went out and may well have arrived,
  // so it stays Sent (billed, no undeliverableAt, nothing counted against the sender's health).
  delivery_unconfirmed: "sent",
  sending_failed: "failed",
  // Held past its validity period and never sent.
  expired: "failed",
};

export type TelnyxEvent =
  /** `to`: the recipient the signed payload names (checked against the event our URL names). */
  | { kind: "receipt"; receipt: Receipt; to: string | null }
  /**
   * `recipients`: every number the message went to (to[], then cc[]), `message.to` the first. A
   * group MMS names the others too, and ours need not be first.
   */
  | { kind: "inbound"; message: InboundMessage; recipients: string[] }
  | { kind: "ignored"; eventType: string };

/** Maps a verified webhook body; `eventId`/`org` come from our webhook_url's query string. */
export function parseTelnyxWebhook(
  body: TelnyxWebhook,
  eventId: string | null,
  org: string | null,
): TelnyxEvent {
  const data = record(body.data);
  const payload = record(data.payload);
  const eventType = text(data.event_type) ?? "unknown";
  const occurredAt = parseRfc3339(text(data.occurred_at) ?? "") ?? Date.now();
  const providerMessageId = text(payload.id);
  const base = { eventId, organizationId: org, providerMessageId, telnyxId: providerMessageId, occurredAt };
  const firstTo = record(list(payload.to)[0]);
  const to = text(firstTo.phone_number);
  if (eventType === "message.sent") return { kind: "receipt", receipt: { ...base, kind: "sent" }, to };
  if (eventType === "message.finalized") {
    const status = text(firstTo.status);
    const kind = FINALIZED[status ?? ""];
    if (!kind) return { kind: "ignored", eventType: `${eventType}:${status ?? "?"}` };
    const error = record(list(payload.errors)[0]);
    return {
      kind: "receipt",
      receipt: {
        ...base,
        kind,
        errorCode: errorCode(error.code),
        errorMessage: text(error.detail) ?? text(error.title),
        ...(kind !== "delivered" && isTelnyxOptOut(payload.errors) ? { recipientOptedOut: true } : {}),
        ...(status === "delivery_unconfirmed" ? { providerStatus: status } : {}),
      },
      to,
    };
  }
  if (eventType === "message.received") {
    const from = text(record(payload.from).phone_number);
    const recipients = [...list(payload.to), ...list(payload.cc)].flatMap((r) => {
      const number = text(record(r).phone_number);
      return number ? [number] : [];
    });
    const to = recipients[0];
    if (!from || !to) return { kind: "ignored", eventType };
    return {
      kind: "inbound",
      recipients,
      message: {
        from,
        to,
        // An MMS of pictures alone comes with text null.
        text: typeof payload.text === "string" ? payload.text : "",
        media: list(payload.media).flatMap((m) => {
          const url = text(record(m).url);
          return url ? [inboundMedia(url, record(m))] : [];
        }),
        providerMessageId,
        telnyxId: providerMessageId,
        receivedAt: occurredAt,
      },
    };
  }
  return { kind: "ignored", eventType };
}
