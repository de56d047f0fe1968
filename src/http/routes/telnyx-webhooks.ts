import type { FastifyPluginAsync } from "fastify";
import { badRequest, notFound, ProblemError } from "../../domain/problem.js";
import type { Messaging } from "../../messaging/messaging.js";
import type { Receipt } from "../../messaging/provider.js";
import {
  parseTelnyxWebhook,
  telnyxPublicKey,
  verifyTelnyxSignature,
} from "../../messaging/providers/telnyx-webhook.js";
import { signedWebhookTarget } from "../../messaging/providers/telnyx-webhook-url.js";
import { loadEvent } from "../../messaging/transitions.js";
import { findPhoneNumberByNumber } from "../../store/phone-numbers-repo.js";
import type { RouteDeps } from "../deps.js";
import { problem } from "../schemas/common.js";

type WebhookBody = Parameters<typeof parseTelnyxWebhook>[0];

const header = (value: string | string[] | undefined): string | undefined =>
  typeof value === "string" ? value : undefined;

/**
 * Our webhook_url names the event (`?event=…&org=…&sig=…`) so that a receipt finds its message even
 * when we crashed before storing Telnyx's id. Telnyx signs the body only, not the URL: the query is
 * read only when our own `sig` over it checks (the route), and even then the event it names is taken
 * only when the signed payload agrees with it (same Telnyx id once we know it, same recipient, and a
 * Telnyx id no other message holds), since a receipt captured with one genuine URL could be posted
 * with another's. Otherwise it is matched by the Telnyx id alone.
 */
async function checkedTarget(pipeline: Messaging, receipt: Receipt, to: string | null): Promise<Receipt> {
  if (!receipt.eventId || !receipt.organizationId) return receipt;
  const event = await loadEvent(pipeline.db, receipt.organizationId, receipt.eventId);
  const agrees =
    event !== undefined &&
    event.direction === "outbound" &&
    (to === null || event.to_phone_number === to) &&
    (event.provider_message_id === receipt.providerMessageId ||
      (event.provider_message_id === null &&
        receipt.providerMessageId !== null &&
        !(await heldByAnother(pipeline, receipt.providerMessageId, event.id))));
  return agrees ? receipt : { ...receipt, eventId: null, organizationId: null };
}

/** Whether a message other than `eventId` already holds this provider id. */
async function heldByAnother(
  pipeline: Messaging,
  providerMessageId: string,
  eventId: string,
): Promise<boolean> {
  const row = await pipeline.db
    .selectFrom("events")
    .select("id")
    .where("provider_message_id", "=", providerMessageId)
    .where("id", "!=", eventId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The first of a message's recipients that is one of our numbers (else the first: nobody's). A
 * message to one number (nearly all) is not looked up here: handleInbound looks its number up anyway.
 */
async function ourRecipient(pipeline: Messaging, recipients: string[]): Promise<string> {
  if (recipients.length > 1) {
    for (const number of recipients) if (await findPhoneNumberByNumber(pipeline.db, number)) return number;
  }
  return recipients[0]!;
}

/** Telnyx redelivers webhooks it thinks we missed: an inbound message it delivered before is skipped. */
async function alreadyReceived(pipeline: Messaging, providerMessageId: string | null): Promise<boolean> {
  if (!providerMessageId) return false;
  const row = await pipeline.db
    .selectFrom("events")
    .select("id")
    .where("provider_message_id", "=", providerMessageId)
    .where("direction", "=", "inbound")
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * POST /webhooks/telnyx: authenticated by Telnyx's Ed25519 signature over `timestamp|raw body`, not
 * by an API key. The signature covers the exact bytes, so this plugin (and only it: the parser is
 * registered in its encapsulated scope) reads JSON bodies as text and parses them after verifying.
 */
export const telnyxWebhooksRoutes: FastifyPluginAsync<RouteDeps> = async (
  app,
  { messaging, pipeline, store },
) => {
  const publicKey = messaging.telnyx.publicKey ? telnyxPublicKey(messaging.telnyx.publicKey) : null;
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) =>
    done(null, body),
  );

  app.post<{ Querystring: { event?: string; org?: string; sig?: string }; Body: string }>(
    "/webhooks/telnyx",
    {
      schema: {
        tags: ["Provider webhooks"],
        summary: "Telnyx message webhooks (message.sent, message.finalized, message.received)",
        security: [],
        response: {
          200: { type: "object", properties: { received: { type: "boolean" } } },
          400: problem("A body that is not a Telnyx event."),
          401: problem("A missing, forged or stale signature."),
          404: problem("Telnyx is not the configured provider."),
        },
        querystring: {
          type: "object",
          properties: {
            event: { type: "string", maxLength: 200 },
            org: { type: "string", maxLength: 200 },
            sig: { type: "string", maxLength: 200 },
          },
        },
      },
    },
    async (request) => {
      if (messaging.provider !== "telnyx" || !publicKey) throw notFound("The Telnyx webhook");
      const raw = typeof request.body === "string" ? request.body : "";
      const ok = verifyTelnyxSignature(
        publicKey,
        raw,
        header(request.headers["telnyx-signature-ed25519"]),
        header(request.headers["telnyx-timestamp"]),
        Math.floor(Date.now() / 1000),
      );
      if (!ok)
        throw new ProblemError(
          401,
          "invalid-signature",
          "The Telnyx signature is missing, invalid or older than 5 minutes.",
        );
      let body: WebhookBody;
      try {
        // Signed with its byte order mark, if it has one; JSON.parse refuses one.
        body = JSON.parse(raw.replace(/^\uFEFF/, "")) as WebhookBody;
      } catch {
        throw badRequest("The webhook body is not valid JSON.");
      }
      if (typeof body !== "object" || body === null) throw badRequest("The webhook body is not an object.");
      // An unsigned or mis-signed ?event=/&org= (a forged one, or a URL from before they were signed)
      // is ignored, not refused: the receipt is still matched by Telnyx's id.
      const target = signedWebhookTarget(store.webhookUrlSecret, request.query);
      const event = parseTelnyxWebhook(body, target?.eventId ?? null, target?.organizationId ?? null);
      if (event.kind === "receipt") {
        await pipeline.receipt(await checkedTarget(pipeline, event.receipt, event.to));
      } else if (event.kind === "inbound") {
        if (!(await alreadyReceived(pipeline, event.message.providerMessageId)))
          await pipeline.inbound({ ...event.message, to: await ourRecipient(pipeline, event.recipients) });
      } else {
        request.log.info({ eventType: event.eventType }, "Telnyx webhook ignored");
      }
      return { received: true };
    },
  );
};
