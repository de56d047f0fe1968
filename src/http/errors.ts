import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type ProblemBody, ProblemError, problemType, titleFor } from "../domain/problem.js";
import { isDatabaseUnavailable } from "../store/errors.js";
import { AllowedMethods } from "./allowed-methods.js";
import { RateLimitedError } from "./rate-limit.js";

function send(
  reply: FastifyReply,
  request: FastifyRequest,
  body: Omit<ProblemBody, "instance">,
): FastifyReply {
  const problem: ProblemBody = { ...body, instance: request.url.split("?")[0] ?? request.url };
  return reply.code(problem.status).type("application/problem+json").send(problem);
}

interface ValidationIssue {
  keyword?: string;
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** One Ajv issue as a sentence that starts with the field the client wrote. */
function validationMessage(field: string, issue: ValidationIssue): string {
  // Ajv's "must have required property 'x'" after the field's own name would name it twice.
  if (typeof issue.params?.missingProperty === "string") return `${field} is required.`;
  // Ajv writes a list of types as "must be array,null".
  const types = issue.keyword === "type" ? String(issue.params?.type ?? "").split(",") : [];
  if (types.length > 1) return `${field} must be ${types.join(" or ")}.`;
  const allowed = issue.params?.allowedValues;
  const values = Array.isArray(allowed) ? `: ${allowed.map((v) => JSON.stringify(v)).join(", ")}` : "";
  return `${field} ${issue.message ?? "is invalid"}${values}.`;
}

/** "body/filters/0/field" style paths from Ajv, turned into the field names clients wrote. */
function fieldOf(issue: ValidationIssue): string {
  const parts = issue.instancePath
    .split("/")
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`));
  const missing = issue.params?.missingProperty;
  if (typeof missing === "string") parts.push(`.${missing}`);
  return parts.join("").replace(/^\./, "") || "body";
}

/** How long a client is asked to wait before sending again a request the database could not serve. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * Every error leaves as RFC 9457 problem+json; nothing a client sends can produce a 500 body with
 * internals. Call it before any route is registered: it records each route's methods for 405s.
 */
export function installErrorHandlers(app: FastifyInstance): void {
  const allowedMethods = new AllowedMethods();
  allowedMethods.track(app);
  app.setErrorHandler((error: FastifyError | ProblemError | Error, request, reply) => {
    if (error instanceof ProblemError) {
      if (error.status === 401) reply.header("WWW-Authenticate", 'Bearer realm="leadtrail"');
      if (error instanceof RateLimitedError) reply.header("Retry-After", String(error.retryAfterSeconds));
      return send(reply, request, {
        type: problemType(error.slug),
        title: error.title,
        status: error.status,
        detail: error.detail,
        ...(error.errors ? { errors: error.errors } : {}),
      });
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      const issues = fastifyError.validation as ValidationIssue[];
      const errors: Record<string, string[]> = {};
      for (const issue of issues) {
        const field = fieldOf(issue);
        errors[field] = [...(errors[field] ?? []), validationMessage(field, issue)];
      }
      const first = Object.values(errors)[0]?.[0] ?? "The request is invalid.";
      return send(reply, request, {
        type: problemType("validation-error"),
        // The same title as every other validation-error problem (RFC 9457: a type has one title).
        title: titleFor(400),
        status: 400,
        detail: first,
        errors,
      });
    }
    if (isUnstorableTextError(error)) {
      // A last line of defence: list values are checked in list-query.ts, but a NUL in a path id or
      // a request body is still the client's input, never a server fault. The transaction that hit
      // it has rolled back, so nothing changed.
      return send(reply, request, {
        type: problemType("validation-error"),
        title: titleFor(400),
        status: 400,
        detail: "The request contains the NUL character (U+0000), which cannot be stored or matched.",
      });
    }
    const status = fastifyError.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const detail =
        fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE"
          ? "The request body is larger than 1 MiB."
          : error instanceof SyntaxError || fastifyError.code === "FST_ERR_CTP_INVALID_JSON_BODY"
            ? "The request body is not valid JSON."
            : fastifyError.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
              ? unsupportedMediaTypeDetail(request.headers["content-type"])
              : fastifyError.message;
      return send(reply, request, {
        type: problemType(slugFor(status)),
        title: titleFor(status),
        status,
        detail,
      });
    }
    if (isDatabaseUnavailable(error)) {
      // Not the request's fault, nor a bug: an outage (/healthz reports it with its own 503). A write
      // whose transaction failed did not happen; one whose commit's answer was lost may have.
      request.log.warn({ err: error }, "database unavailable");
      reply.header("Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
      return send(reply, request, {
        type: problemType("database-unavailable"),
        title: titleFor(503),
        status: 503,
        detail: "The database is unavailable; retry after Retry-After seconds.",
      });
    }
    request.log.error({ err: error }, "unhandled error");
    return send(reply, request, {
      type: problemType("internal"),
      title: titleFor(500),
      status: 500,
      detail: "The server failed to process the request; it has been logged.",
    });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? request.url;
    const allowed = allowedMethods.for(path);
    if (allowed.length > 0) {
      reply.header("Allow", allowed.join(", "));
      return send(reply, request, {
        type: problemType("method-not-allowed"),
        title: titleFor(405),
        status: 405,
        detail: `${path} does not answer ${request.method}; it answers ${allowed.join(", ")}.`,
      });
    }
    return send(reply, request, {
      type: problemType("not-found"),
      title: titleFor(404),
      status: 404,
      // A new user's first guess is often GET / in a browser: say where the routes are listed.
      detail: `No route ${request.method} ${path}. The API reference is at /docs (and /openapi.json).`,
    });
  });
}

/**
 * Errors Fastify raises before routing (a path that is not valid percent-encoding, a path parameter
 * longer than routerOptions.maxParamLength) bypass setErrorHandler and answer plain JSON unless the
 * app is built with `frameworkErrors: frameworkErrorHandler`.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  if (error.code === "FST_ERR_BAD_URL") {
    send(reply, request, {
      type: problemType("bad-request"),
      title: titleFor(400),
      status: 400,
      detail: "The request path is not valid percent-encoding.",
    });
  } else if (error.code === "FST_ERR_MAX_PARAM_LENGTH") {
    send(reply, request, {
      type: problemType("uri-too-long"),
      title: "URI Too Long",
      status: 414,
      detail: "A path parameter is longer than any id this API issues.",
    });
  } else {
    request.log.error({ err: error }, "framework error");
    send(reply, request, {
      type: problemType("internal"),
      title: titleFor(500),
      status: 500,
      detail: "The server failed to process the request; it has been logged.",
    });
  }
}

/** Every body this API takes is JSON; say so, and name what was sent instead. */
function unsupportedMediaTypeDetail(contentType: string | undefined): string {
  // Echoed back, so cut to a sane length: a header can be kilobytes long.
  const sent = contentType?.split(";")[0]?.trim().slice(0, 100);
  return sent
    ? `Content-Type ${sent} is not supported; send the body as application/json.`
    : "The request has a body but no Content-Type; send it as application/json.";
}

/** PostgreSQL SQLSTATE 22021 / 22P05: text it cannot store, i.e. a NUL character from the client. */
function isUnstorableTextError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "22021" || code === "22P05";
}

function slugFor(status: number): string {
  switch (status) {
    case 400:
      return "bad-request";
    case 413:
      return "body-too-large";
    case 415:
      return "unsupported-media-type";
    default:
      return `http-${status}`;
  }
}
