import { leadpingOperationId } from "./leadping-operations.js";
import { bodyProblemResponses, DOCUMENTED_FORMAT, JSON_REQUEST_MEDIA_TYPES } from "./schemas/common.js";

// What /openapi.json says about each route beyond its own schema: Leadping's operationId, the
// media types a body is read from, and the answers any body can get (too large, not JSON). Kept
// here, once, so that a route's schema only describes what is its own.

interface RouteDoc {
  schema: Record<string, unknown>;
  url: string;
  route: { method: string | string[] };
}

export function documentRoute({ schema, url, route }: RouteDoc): {
  schema: Record<string, unknown>;
  url: string;
} {
  const method = Array.isArray(route.method) ? route.method[0] : route.method;
  const operationId = method ? leadpingOperationId(method, url) : undefined;
  const documented: Record<string, unknown> = { ...schema };
  if (operationId) documented.operationId = operationId;
  for (const part of ["querystring", "body"] as const) {
    if (schema[part] !== undefined) documented[part] = withDocumentedFormats(schema[part]);
  }
  if (schema.body !== undefined) {
    documented.consumes = JSON_REQUEST_MEDIA_TYPES;
    const responses = schema.response as Record<string, unknown> | undefined;
    if (responses) documented.response = { ...responses, ...bodyProblemResponses };
  }
  return { schema: documented, url };
}

/** A copy of a request schema whose documented-only formats (DOCUMENTED_FORMAT) are `format`s. */
function withDocumentedFormats(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withDocumentedFormats);
  if (schema === null || typeof schema !== "object") return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    copy[key === DOCUMENTED_FORMAT ? "format" : key] = withDocumentedFormats(value);
  }
  return copy;
}
