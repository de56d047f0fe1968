// JSON Schemas shared by routes: they validate requests, document /openapi.json and drive the fast
// response serializer. Registered once with app.addSchema and referenced by $id.

export const nullable = (type: string, extra: Record<string, unknown> = {}) => ({
  type: [type, "null"],
  ...extra,
});
export const dateTime = { type: "string", format: "date-time" };
export const nullableDateTime = { type: ["string", "null"], format: "date-time" };

/**
 * A format /openapi.json documents but request validation does not check: openapi-transform.ts
 * turns it into `format`, and ajv knows it as a keyword that checks nothing (app.ts).
 */
export const DOCUMENTED_FORMAT = "x-documented-format";

/**
 * A request date-time the route reads itself, as it always has: an empty value is none and a bad
 * one is a 400 worded for that field (ajv's date-time would refuse "" and accept "+0500"). The
 * subset documents it as a date-time, and so does /openapi.json.
 */
export const requestDateTime = { [DOCUMENTED_FORMAT]: "date-time" };

/**
 * Limits /openapi.json documents as maxLength and maxProperties but request validation leaves to the
 * route (a lead's text: domain/lead-text-limits.ts, where a value already stored passes an update).
 */
export const DOCUMENTED_MAX_LENGTH = "x-documented-max-length";
export const DOCUMENTED_MAX_PROPERTIES = "x-documented-max-properties";
/** A pattern documented, checked by the route (a source's own key sent back may predate it). */
export const DOCUMENTED_PATTERN = "x-documented-pattern";

/** What openapi-transform.ts writes each documented-only keyword as. */
export const DOCUMENTED_KEYWORDS: Readonly<Record<string, string>> = {
  [DOCUMENTED_FORMAT]: "format",
  [DOCUMENTED_MAX_LENGTH]: "maxLength",
  [DOCUMENTED_MAX_PROPERTIES]: "maxProperties",
  [DOCUMENTED_PATTERN]: "pattern",
};

/** Leadping's IdNamePair, where the reference may be null. */
export const nullableIdNamePair = {
  type: ["object", "null"],
  required: ["id", "name"],
  properties: { id: { type: "string" }, name: { type: "string" } },
};

export const ProblemDetailsSchema = {
  $id: "ProblemDetails",
  type: "object",
  description: "RFC 9457 problem details.",
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    instance: { type: "string" },
    errors: { type: "object", additionalProperties: { type: "array", items: { type: "string" } } },
  },
};

export const RequestDataOptionsSchema = {
  $id: "RequestDataOptions",
  type: "object",
  description:
    "Cursor pagination, sorting, search, exact-match filters and range filters. Field names are checked per resource; an unsupported one is a 400 that lists the supported names.",
  properties: {
    pageSize: { type: ["integer", "string", "null"], description: "1–500, default 50." },
    continuationToken: { type: ["string", "null"] },
    orderBy: {
      type: ["array", "null"],
      items: {
        type: "object",
        properties: {
          field: { type: "string" },
          direction: { type: ["string", "null"], enum: ["asc", "desc", null] },
        },
      },
    },
    includeCount: { type: ["boolean", "null"] },
    search: { type: ["string", "null"] },
    searchFields: { type: ["array", "null"], items: { type: "string" } },
    filters: {
      type: ["array", "null"],
      items: { type: "object", properties: { field: { type: "string" }, value: {} } },
    },
    rangeFilters: {
      type: ["array", "null"],
      items: {
        type: "object",
        properties: {
          field: { type: "string" },
          greaterThan: {},
          greaterThanOrEqual: {},
          lessThan: {},
          lessThanOrEqual: {},
        },
      },
    },
  },
};

export function pagedResultSchema(id: string, itemRef: string) {
  return {
    $id: id,
    type: "object",
    properties: {
      items: { type: "array", items: { $ref: `${itemRef}#` } },
      pageSize: { type: "integer" },
      totalCount: { type: ["integer", "null"] },
      continuationToken: { type: ["string", "null"] },
    },
  };
}

/** A response header as /openapi.json documents it. */
interface HeaderDoc {
  description: string;
  type: string;
  minimum?: number;
}

/** A problem response as /openapi.json documents it: RFC 9457's own media type, not application/json. */
export const problem = (description: string, headers?: Record<string, HeaderDoc>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/problem+json": { schema: { $ref: "ProblemDetails#" } } },
});

const retryAfter: Record<string, HeaderDoc> = {
  "Retry-After": {
    description: "Seconds to wait before sending the request again.",
    type: "integer",
    minimum: 1,
  },
};

export const problemResponses = {
  400: problem("Bad request: the detail names the offending field."),
  401: problem("Missing or unknown API key.", {
    "WWW-Authenticate": { description: 'Bearer realm="leadtrail"', type: "string" },
  }),
  403: problem("A lead source's key (lp_src_…) on a route other than POST /leads."),
  404: problem("Not found (or another organization's)."),
  429: problem("Rate limited: retry after Retry-After seconds.", retryAfter),
  503: problem("The database is unavailable: retry after Retry-After seconds.", retryAfter),
};

/**
 * The media types every JSON body is read from (app.ts registers one parser for all three), as the
 * Leadping subset lists them.
 */
export const JSON_REQUEST_MEDIA_TYPES = ["application/json", "text/json", "application/*+json"];

/**
 * What any request can be answered before it reaches its route (client-errors.ts): Node's HTTP
 * server refuses it on the connection. A route's own 400 description comes first where it has one.
 */
export const requestProblemResponses = {
  400: problem("The request is not valid HTTP/1.1, or its path is not valid percent-encoding."),
  408: problem("The request was not received in full within 30 seconds."),
  431: problem("The request headers are larger than the server accepts."),
};

/** What an operation with a path parameter can answer besides its own errors (errors.ts). */
export const pathParameterProblemResponses = {
  414: problem("A path parameter is longer than any id this API issues."),
};

/** What an operation that takes a body can answer besides its own errors. */
export const bodyProblemResponses = {
  413: problem("The body is larger than 1 MiB."),
  415: problem("The Content-Type is not JSON, or names a charset other than UTF-8."),
};

export const listBody = {
  $ref: "RequestDataOptions#",
};
