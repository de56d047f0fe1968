import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type ProblemBody, ProblemError, problemType, titleFor } from "./problem.js";
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
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
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

/** Every error leaves as RFC 9457 problem+json; nothing a client sends can produce a 500 body with internals. */
export function installErrorHandlers(app: FastifyInstance): void {
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
        const allowed = issue.params?.allowedValues;
        const message = `${field} ${issue.message ?? "is invalid"}${Array.isArray(allowed) ? `: ${allowed.join(", ")}` : ""}`;
        errors[field] = [...(errors[field] ?? []), message];
      }
      const first = Object.values(errors)[0]?.[0] ?? "The request is invalid.";
      return send(reply, request, {
        type: problemType("validation-error"),
        title: "Request validation failed",
        status: 400,
        detail: first,
        errors,
      });
    }
    const status = fastifyError.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const detail =
        fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE"
          ? "The request body is larger than 1 MiB."
          : error instanceof SyntaxError || fastifyError.code === "FST_ERR_CTP_INVALID_JSON_BODY"
            ? "The request body is not valid JSON."
            : fastifyError.message;
      return send(reply, request, {
        type: problemType(slugFor(status)),
        title: titleFor(status),
        status,
        detail,
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

  app.setNotFoundHandler((request, reply) =>
    send(reply, request, {
      type: problemType("not-found"),
      title: titleFor(404),
      status: 404,
      detail: `No route ${request.method} ${request.url.split("?")[0]}.`,
    }),
  );
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
