import { createHmac, timingSafeEqual } from "node:crypto";

// Each message's webhook_url names it (`?event=…&org=…`) so that a receipt finds its message even
// when it comes before we stored Telnyx's id. Telnyx signs the body, not the URL: we sign these
// parameters ourselves (`sig=`, an HMAC with a secret kept in the database, Store.webhookUrlSecret),
// else a captured receipt could be replayed to a URL naming another message and applied to it.

/** 128 bits, as the continuation tokens' (store/cursor.ts): the URL stays short, guessing stays out. */
const SIGNATURE_BYTES = 16;

/** The message a webhook_url names. */
export interface WebhookTarget {
  organizationId: string;
  eventId: string;
}

function signature(secret: Buffer, target: WebhookTarget): string {
  // JSON: no choice of separator lets one pair of values be read as another.
  const signed = JSON.stringify(["telnyx-webhook-url", target.organizationId, target.eventId]);
  return createHmac("sha256", secret)
    .update(signed)
    .digest()
    .subarray(0, SIGNATURE_BYTES)
    .toString("base64url");
}

/** The query string of a message's webhook_url: `event=…&org=…&sig=…`. */
export function webhookUrlQuery(secret: Buffer, target: WebhookTarget): string {
  return new URLSearchParams({
    event: target.eventId,
    org: target.organizationId,
    sig: signature(secret, target),
  }).toString();
}

/**
 * The message a webhook's query names, when its `sig` is ours for that org and event; else null, and
 * the receipt is matched by Telnyx's id alone (a 4xx would only make Telnyx retry it).
 */
export function signedWebhookTarget(
  secret: Buffer,
  query: { event?: string | undefined; org?: string | undefined; sig?: string | undefined },
): WebhookTarget | null {
  const { event, org, sig } = query;
  if (!event || !org || !sig) return null;
  const target = { organizationId: org, eventId: event };
  const expected = Buffer.from(signature(secret, target));
  const given = Buffer.from(sig);
  return given.length === expected.length && timingSafeEqual(given, expected) ? target : null;
}
