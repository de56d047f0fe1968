import { nullable, nullableDateTime } from "./common.js";

// Suppression shapes (Leadping SuppressionEntryRequest / SuppressionEntryResponse / SuppressionCheckResult).
// Inlined in the routes rather than shared by $id: they are used by this one route plugin only.

const ns = nullable("string");

/** Types and lengths only: phone, email and channel are checked by the route, naming the field. */
export const SuppressionEntryRequestSchema = {
  type: "object",
  required: ["organizationId"],
  properties: {
    organizationId: { type: "string", minLength: 1, maxLength: 200 },
    recipientIdentifier: nullable("string", { maxLength: 254 }),
    phoneNumber: nullable("string", { maxLength: 64 }),
    email: nullable("string", { maxLength: 254 }),
    channel: nullable("string", { maxLength: 32 }),
    reason: nullable("string", { maxLength: 1000 }),
  },
};

const SuppressionEntryAuditSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    status: { type: "string" },
    source: { type: "string" },
    timestamp: { type: "string", format: "date-time" },
    actorId: ns,
    reason: ns,
    safeMetadata: { type: "object", additionalProperties: { type: "string" } },
  },
};

export const SuppressionEntryResponseSchema = {
  type: "object",
  properties: {
    id: ns,
    organizationId: ns,
    recipientIdentifier: ns,
    normalizedPhoneNumber: ns,
    normalizedEmail: ns,
    channel: ns,
    source: ns,
    status: ns,
    reason: ns,
    suppressedAt: nullableDateTime,
    releasedAt: nullableDateTime,
    audit: { type: "array", items: SuppressionEntryAuditSchema },
  },
};

export const SuppressionCheckResultSchema = {
  type: "object",
  properties: {
    allowed: { type: "boolean" },
    organizationId: ns,
    recipientIdentifier: ns,
    normalizedPhoneNumber: ns,
    normalizedEmail: ns,
    channel: ns,
    suppressionEntryId: ns,
    source: ns,
    suppressedAt: nullableDateTime,
    customerReason: ns,
  },
};

export const PagedSuppressionsSchema = {
  type: "object",
  properties: {
    items: { type: "array", items: SuppressionEntryResponseSchema },
    pageSize: { type: "integer" },
    totalCount: { type: ["integer", "null"] },
    continuationToken: ns,
  },
};
