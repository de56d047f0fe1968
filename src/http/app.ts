import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import type { MessagingConfig, TrustProxy } from "../config.js";
import type { Messaging } from "../messaging/messaging.js";
import type { Store } from "../store/store.js";
import { ApiKeyAuthenticator, FailedAuthenticationGuard, sourceKeyNotAllowed } from "./auth.js";
import { assertAcceptableBody, assertAcceptableUrl, invalidJsonProblem, jsonBodyText } from "./body-guard.js";
import { clientErrorHandler, connectionsCheckingInterval, REQUEST_TIMEOUT_MS } from "./client-errors.js";
import type { RouteDeps } from "./deps.js";
import { frameworkErrorHandler, installErrorHandlers } from "./errors.js";
import { documentRoute } from "./openapi-transform.js";
import { ApiRateLimits } from "./rate-limit.js";
import { billingRoutes } from "./routes/billing.js";
import { conversationRoutes } from "./routes/conversations.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";
import { leadRoutes } from "./routes/leads.js";
import { phoneNumbersRoutes } from "./routes/phone-numbers.js";
import { simulatorRoutes, smsRoutes } from "./routes/sms.js";
import { sourceRoutes } from "./routes/sources.js";
import { suppressionsRoutes } from "./routes/suppressions.js";
import { telnyxWebhooksRoutes } from "./routes/telnyx-webhooks.js";
import { warmupRoutes } from "./routes/warmup.js";
import { DOCUMENTED_KEYWORDS, ProblemDetailsSchema, RequestDataOptionsSchema } from "./schemas/common.js";
import { EventDetailSchema, EventRecordSchema, PagedEventsSchema } from "./schemas/event.js";
import {
  ConversationSchema,
  LeadResponseSchema,
  LeadTableRowSchema,
  PagedConversationsSchema,
  PagedLeadsSchema,
} from "./schemas/lead.js";

export interface AppOptions {
  store: Store;
  rateLimitPerMinute: number;
  /** Failed authentications per client address per 60 s before 429s (0 or absent: no limit). */
  authFailuresPerMinute?: number;
  /** Fastify's trustProxy: which proxies' X-Forwarded-For names the client (default: none). */
  trustProxy?: TrustProxy;
  logLevel?: string;
  messaging: MessagingConfig;
  pipeline: Messaging;
  /** A client must send a whole request within this (default REQUEST_TIMEOUT_MS), or gets a 408. */
  requestTimeoutMs?: number;
}

export const BODY_LIMIT_BYTES = 1024 * 1024;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const app = Fastify({
    logger: options.logLevel && options.logLevel !== "silent" ? { level: options.logLevel } : false,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: options.trustProxy ?? false,
    // Fastify's default is no limit: a client dripping a body byte by byte would hold its connection
    // for ever. leadtrail may face clients directly, so a request has REQUEST_TIMEOUT_MS to arrive.
    requestTimeout: requestTimeoutMs,
    // Fastify sets the server's requestTimeout itself; Node's own headers deadline (60 s) must not
    // outlast it.
    http: {
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: connectionsCheckingInterval(requestTimeoutMs),
    },
    clientErrorHandler: clientErrorHandler(requestTimeoutMs),
    // While `serve` shuts down, a request already on its way over an open connection is answered
    // (with Connection: close, so the client reconnects), not refused with Fastify's plain-JSON 503:
    // the database stays open until the server has closed.
    return503OnClosing: false,
    // Ids travel in paths; anything longer than this is not ours.
    // ignoreTrailingSlash: "/leads/all/my/" is "/leads/all/my", as ASP.NET-style servers treat it.
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    // Errors raised before routing (bad percent-encoding, over-long ids) answer problem+json too.
    frameworkErrors: frameworkErrorHandler,
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        allErrors: false,
        allowUnionTypes: true,
        // Documented in /openapi.json, checked by the route itself (schemas/common.ts).
        keywords: Object.keys(DOCUMENTED_KEYWORDS),
      },
    },
  });

  // First, so that every route (Swagger UI's too) gets the problem+json handlers and is known to 405s.
  installErrorHandlers(app);

  // Every JSON body is parsed by Fastify's own parser (prototype-poisoning safe), then checked once.
  const defaultJson = app.getDefaultJsonParser("error", "error");
  const jsonParser = (
    request: FastifyRequest,
    body: Buffer,
    done: (error: Error | null, value?: unknown) => void,
  ) => {
    // Many HTTP clients set Content-Type: application/json on every request, body or not: an empty
    // body is no body (a route that needs one still answers 400 "body must be object").
    if (body.length === 0) return done(null, undefined);
    let text: string;
    try {
      text = jsonBodyText(body, request.headers["content-type"]);
    } catch (problem) {
      return done(problem as Error, undefined);
    }
    return defaultJson(request, text, (error, value) => {
      if (error) {
        // Refused as invalid JSON: either it is not JSON, or it is JSON with a prototype-poisoning
        // key, whose place is named like any other invalid part of a body.
        const invalidJson = (error as { code?: string }).code === "FST_ERR_CTP_INVALID_JSON_BODY";
        return done(invalidJson ? invalidJsonProblem(text) : error, undefined);
      }
      try {
        assertAcceptableBody(value);
      } catch (problem) {
        return done(problem as Error, undefined);
      }
      done(null, value);
    });
  };
  app.removeContentTypeParser("application/json");
  // Fastify reads text/plain bodies as strings by default; no route here takes one, so they are a 415
  // like any other type that is not JSON, rather than a 400 "body must be object".
  app.removeContentTypeParser("text/plain");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, jsonParser);
  // Leadping clients also send application/*+json and text/json bodies. Fastify tests a RegExp
  // against the whole header, parameters included, so "; charset=utf-8" must be allowed after it.
  app.addContentTypeParser("text/json", { parseAs: "buffer" }, jsonParser);
  app.addContentTypeParser(/^application\/[\w.+-]+\+json\s*(?:;.*)?$/, { parseAs: "buffer" }, jsonParser);
  app.addHook("onRequest", async (request) => assertAcceptableUrl(request.url));

  for (const schema of [
    ProblemDetailsSchema,
    RequestDataOptionsSchema,
    EventRecordSchema,
    PagedEventsSchema,
    EventDetailSchema,
    LeadResponseSchema,
    LeadTableRowSchema,
    PagedLeadsSchema,
    ConversationSchema,
    PagedConversationsSchema,
  ]) {
    app.addSchema(schema);
  }

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "leadtrail",
        version: "1.0.0",
        description:
          "Lead activity events and SMS, wire-compatible with the Leadping v1 API. A method a documented path does not answer gets a 405 problem with an Allow header (components.responses.MethodNotAllowed); every error is an RFC 9457 problem.",
      },
      components: {
        // A 405 answers a method the path has no operation for, so no operation can list it.
        responses: {
          MethodNotAllowed: {
            description: "The path does not answer this method; Allow lists the ones it does.",
            headers: {
              Allow: {
                description: "The methods the path answers, e.g. GET, HEAD.",
                schema: { type: "string" },
              },
            },
            content: {
              "application/problem+json": { schema: { $ref: "#/components/schemas/ProblemDetails" } },
            },
          },
        },
        securitySchemes: {
          Bearer: { type: "http", scheme: "bearer", description: "An organization API key, sk_…" },
          SourceKey: {
            type: "http",
            scheme: "bearer",
            description: "A lead source's key, lp_src_…: accepted by POST /leads only.",
          },
        },
      },
      security: [{ Bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transform: ({ schema, url, route }) => documentRoute({ schema: { ...schema }, url, route }),
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    uiConfig: { validatorUrl: null },
    // The plugin's default CSP (staticCSP: true) with no foreign sources (https:, validator.swagger.io)
    // and without upgrade-insecure-requests, which makes browsers fetch the assets over https from any
    // host but localhost: a plain-http server at http://<ip>:3000/docs would render a blank page.
    staticCSP: {
      "default-src": "'self'",
      "base-uri": "'self'",
      "font-src": "'self' data:",
      "frame-ancestors": "'self'",
      "img-src": "'self' data:",
      "object-src": "'none'",
      "script-src": "'self'",
      "script-src-attr": "'none'",
      "style-src": "'self'",
    },
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const authenticator = new ApiKeyAuthenticator({
    organizationKey: (hash) => options.store.findApiKeyOwner(hash),
    sourceKey: (hash) => options.store.findSourceKeyOwner(hash),
  });
  const failedAuthentications = options.authFailuresPerMinute
    ? new FailedAuthenticationGuard(authenticator, options.authFailuresPerMinute)
    : undefined;
  const limits = new ApiRateLimits(options.rateLimitPerMinute);
  const deps: RouteDeps = {
    store: options.store,
    messaging: options.messaging,
    pipeline: options.pipeline,
  };
  await app.register(healthRoutes, deps);
  // Provider webhooks authenticate by the provider's signature, not by an API key.
  await app.register(telnyxWebhooksRoutes, deps);
  // Every API route lives in this scope: authenticated, then counted against its organization's limit
  // (a request made with a source's key, against its source's: see ApiRateLimits).
  await app.register(async (api) => {
    api.addHook("onRequest", async (request) => {
      const { authorization } = request.headers;
      request.auth = await (failedAuthentications
        ? failedAuthentications.authenticate(authorization, request.ip)
        : authenticator.authenticate(authorization));
      const { sourceId } = request.auth;
      limits.hit(request.auth.organizationId, sourceId ?? null);
      if (sourceId) {
        await options.store.noteSourceKeyUse(request.auth.organizationId, sourceId);
        if (!request.routeOptions.config.acceptsSourceKey) throw sourceKeyNotAllowed();
      }
    });
    await api.register(eventRoutes, deps);
    await api.register(leadRoutes, deps);
    await api.register(sourceRoutes, deps);
    await api.register(conversationRoutes, deps);
    await api.register(phoneNumbersRoutes, deps);
    await api.register(suppressionsRoutes, deps);
    await api.register(billingRoutes, deps);
    await api.register(smsRoutes, deps);
    await api.register(simulatorRoutes, deps);
    await api.register(warmupRoutes, deps);
  });
  return app;
}
