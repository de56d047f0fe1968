import { leadpingOperationId } from "./leadping-operations.js";
import {
  bodyProblemResponses,
  DOCUMENTED_KEYWORDS,
  JSON_REQUEST_MEDIA_TYPES,
  pathParameterProblemResponses,
  requestProblemResponses,
} from "./schemas/common.js";

// What /openapi.json says about each route beyond its own schema: Leadping's operationId, the
// media types a body is read from, and the answers any request can get before its route runs: too
// slow or headers too large (every operation), a path parameter too long (414), a body too large
// or not JSON (413, 415). Kept here, once, so that a route's schema only describes what is its own.
// A 405 belongs to no operation (it answers a method the path has none for): the document's
// components.responses.MethodNotAllowed and its description say so once (app.ts).

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

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
    if (schema[part] !== undefined) documented[part] = withDocumentedKeywords(schema[part]);
  }
  if (schema.body !== undefined) documented.consumes = JSON_REQUEST_MEDIA_TYPES;
  const responses = schema.response as Record<string, unknown> | undefined;
  if (responses) {
    const shared: Record<string, unknown> = {
      ...requestProblemResponses,
      ...(schema.params !== undefined ? pathParameterProblemResponses : {}),
      // A body is read (and refused when too large or not JSON) for these methods whatever the schema.
      ...(schema.body !== undefined || BODY_METHODS.has(method ?? "") ? bodyProblemResponses : {}),
    };
    // The route's own answers first; its own description of a status (a 400 naming its fields) wins.
    documented.response = { ...responses };
    for (const [status, response] of Object.entries(shared)) {
      if (!Object.hasOwn(responses, status))
        (documented.response as Record<string, unknown>)[status] = response;
    }
  }
  return { schema: documented, url };
}

/** A copy of a request schema whose documented-only keywords (DOCUMENTED_KEYWORDS) are the real ones. */
function withDocumentedKeywords(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withDocumentedKeywords);
  if (schema === null || typeof schema !== "object") return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    copy[Object.hasOwn(DOCUMENTED_KEYWORDS, key) ? DOCUMENTED_KEYWORDS[key]! : key] =
      withDocumentedKeywords(value);
  }
  return copy;
}
