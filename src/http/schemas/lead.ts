import { dateTime, nullable, nullableDateTime, pagedResultSchema } from "./common.js";

const ns = nullable("string");
const openObject = { type: "object", additionalProperties: true };

export const TagSummary = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    normalizedName: { type: "string" },
    color: ns,
  },
};

/** LeadRequest: lenient where the Leadping schema is strict on presence (documented in README). */
export const LeadRequestSchema = {
  type: "object",
  properties: {
    metadata: { type: ["object", "null"], additionalProperties: true },
    contact: {
      type: ["object", "null"],
      additionalProperties: true,
      properties: {
        firstName: nullable("string", { maxLength: 200 }),
        lastName: nullable("string", { maxLength: 200 }),
        email: nullable("string", { maxLength: 254 }),
        timeZoneId: nullable("string", { maxLength: 64 }),
        phone: {
          type: ["object", "null"],
          additionalProperties: true,
          properties: { number: { type: "string", maxLength: 40 }, type: ns, phoneIdentityId: ns },
        },
        streetAddress: { type: ["object", "null"], additionalProperties: true },
      },
    },
    customer: { type: ["object", "null"], additionalProperties: true },
    enabled: nullable("boolean"),
    tagIds: { type: ["array", "null"], maxItems: 100, items: { type: "string", maxLength: 100 } },
    tagNames: { type: ["array", "null"], maxItems: 100, items: { type: "string", maxLength: 100 } },
    id: ns,
  },
};

export const LeadResponseSchema = {
  $id: "LeadResponse",
  type: "object",
  properties: {
    id: { type: "string" },
    metadata: openObject,
    contact: openObject,
    phoneIdentity: { type: ["object", "null"], additionalProperties: true },
    customer: openObject,
    enabled: { type: "boolean" },
    deletedAt: nullableDateTime,
    deletedByUserId: ns,
    archivedAt: nullableDateTime,
    archivedByUserId: ns,
    archiveReason: nullable("integer"),
    archiveNote: ns,
    isArchived: { type: "boolean" },
    currentLeadStatus: { type: ["object", "null"], additionalProperties: true },
    processingStatus: ns,
    processingStatusReason: ns,
    processingStatusChangedAt: nullableDateTime,
    tags: { type: "array", items: TagSummary },
    createdAt: dateTime,
    modifiedAt: nullableDateTime,
  },
};

export const LeadTableRowSchema = {
  $id: "LeadTableRow",
  type: "object",
  properties: {
    id: { type: "string" },
    firstName: ns,
    lastName: ns,
    phone: { type: "string" },
    email: { type: "string" },
    createdAt: dateTime,
    updatedAt: dateTime,
    status: { type: "string" },
    statusTone: { type: "string" },
    enabled: { type: "boolean" },
    archivedAt: nullableDateTime,
    archivedByUserId: ns,
    archiveReason: nullable("integer"),
    isArchived: { type: "boolean" },
    currentLeadStatus: { type: ["object", "null"], additionalProperties: true },
    processingStatus: ns,
    processingStatusReason: ns,
    processingStatusChangedAt: nullableDateTime,
    price: nullable("number"),
    organization: { type: ["object", "null"], additionalProperties: true },
    source: { type: ["object", "null"], additionalProperties: true },
    tags: { type: "array", items: TagSummary },
  },
};

export const ConversationSchema = {
  $id: "ConversationResponse",
  type: "object",
  properties: {
    id: { type: "string" },
    leadId: { type: "string" },
    firstName: ns,
    lastName: ns,
    email: ns,
    avatarUrl: ns,
    lastSnippet: ns,
    lastEventAt: nullableDateTime,
    lastEventIsInternalNote: { type: "boolean" },
    status: { type: ["string", "null"], enum: ["needs_reply", "waiting", "failed", "open", null] },
    statusReason: ns,
    archivedAt: nullableDateTime,
    archiveReason: nullable("integer"),
    isArchived: { type: "boolean" },
    currentLeadStatus: { type: ["object", "null"], additionalProperties: true },
    nextStep: ns,
    isUnread: {
      type: "boolean",
      description:
        "The lead has sent a message since a page of the lead's timeline, the conversation's or the lead's message thread last showed the requesting user the lead's latest message.",
    },
    phoneNumber: {
      type: ["object", "null"],
      required: ["id", "name"],
      properties: { id: { type: "string" }, name: { type: "string" }, value: ns },
    },
    leadPhoneNumber: ns,
    outboundPhoneNumberOverrideId: ns,
    activeOutboundPhoneNumberId: ns,
  },
};

export const PagedLeadsSchema = pagedResultSchema("PagedResultOfLeadTableRow", "LeadTableRow");
export const PagedConversationsSchema = pagedResultSchema(
  "PagedResultOfConversationResponse",
  "ConversationResponse",
);
