import type { FastifyPluginAsync } from "fastify";
import {
  parseTelnyxWebhook,
  telnyxPublicKey,
  verifyTelnyxSignature,
} from "../../messaging/providers/telnyx-webhook.js";
import type { RouteDeps } from "../deps.js";
import { badRequest, notFound, ProblemError } from "../problem.js";

/**
 * POST /webhooks/telnyx: authenticated by Telnyx's Ed25519 signature, not by an API key. The
 * signature covers the raw body, so this plugin (and only it) reads JSON bodies as text.
 */
export const telnyxWebhooksRoutes: FastifyPluginAsync<RouteDeps> = async (app, { messaging, pipeline }) => {
  const publicKey = messaging.telnyx.publicKey ? telnyxPublicKey(messaging.telnyx.publicKey) : null;
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) =>
    done(null, body),
  );

  app.post<{ Querystring: { event?: string; org?: string }; Body: string }>(
    "/webhooks/telnyx",
    {
      schema: {
        tags: ["Provider webhooks"],
        summary: "Telnyx message webhooks (message.sent, message.finalized, message.received)",
        security: [],
        response: {
          200: { type: "object", properties: { received: { type: "boolean" } } },
          401: { $ref: "ProblemDetails#" },
          404: { $ref: "ProblemDetails#" },
        },
        querystring: {
          type: "object",
          properties: { event: { type: "string", maxLength: 200 }, org: { type: "string", maxLength: 200 } },
        },
      },
    },
    async (request) => {
      if (messaging.provider !== "telnyx" || !publicKey) throw notFound("The Telnyx webhook");
      const raw = typeof request.body === "string" ? request.body : "";
      const ok = verifyTelnyxSignature(
        publicKey,
        raw,
        request.headers["telnyx-signature-ed25519"] as string | undefined,
        request.headers["telnyx-timestamp"] as string | undefined,
        Math.floor(Date.now() / 1000),
      );
      if (!ok)
        throw new ProblemError(
          401,
          "invalid-signature",
          "The Telnyx signature is missing, invalid or older than 5 minutes.",
        );
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        throw badRequest("The webhook body is not valid JSON.");
      }
      const event = parseTelnyxWebhook(
        body as Parameters<typeof parseTelnyxWebhook>[0],
        request.query.event ?? null,
        request.query.org ?? null,
      );
      if (event.kind === "receipt") await pipeline.receipt(event.receipt);
      else if (event.kind === "inbound") await pipeline.inbound(event.message);
      return { received: true };
    },
  );
};
