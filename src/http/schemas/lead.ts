import {
  CONTACT_TEXT_LIMITS,
  MAX_PROPERTY_NAME_LENGTH,
  METADATA_TEXT_LIMITS,
  PHONE_TEXT_LIMITS,
  STREET_ADDRESS_TEXT_LIMITS,
  type TextLimits,
} from "../../domain/lead-text-limits.js";
import {
  DOCUMENTED_MAX_LENGTH,
  DOCUMENTED_MAX_PROPERTIES,
  dateTime,
  nullable,
  nullableDateTime,
  pagedResultSchema,
} from "./common.js";

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

const nullableEnum = (values: string[]) => ({ type: ["string", "null"], enum: [...values, null] });
const int32 = nullable("integer", { minimum: -2147483648, maximum: 2147483647 });
/**
 * Nullable strings for `limits`' fields of a length (the subset gives no limits: README's), which
 * the route checks (domain/lead-text-limits.ts: a value the lead already holds passes an update) and
 * /openapi.json documents as maxLength.
 */
const limited = (limits: TextLimits) =>
  Object.fromEntries(
    Object.entries(limits.fields ?? {}).flatMap(([name, limit]) =>
      typeof limit === "number" ? [[name, nullable("string", { [DOCUMENTED_MAX_LENGTH]: limit })]] : [],
    ),
  );
const { sourceMetadata } = METADATA_TEXT_LIMITS.fields;
/** LeadMetadata's typed fields; unknown ones are kept as sent. */
const LeadMetadataSchema = {
  type: ["object", "null"],
  additionalProperties: true,
  properties: {
    // trustedFormUrl (http(s) or "") is checked in domain/lead.ts.
    ...limited(METADATA_TEXT_LIMITS),
    createdAt: nullableDateTime,
    smsOptOutAt: nullableDateTime,
    smsOptInAt: nullableDateTime,
    smsHelpRequestedAt: nullableDateTime,
    trustedFormCheckedAt: nullableDateTime,
    price: nullable("number"),
    directPostPrice: nullable("number"),
    sourceMetadata: {
      type: ["object", "null"],
      [DOCUMENTED_MAX_PROPERTIES]: sourceMetadata.maxEntries,
      propertyNames: { [DOCUMENTED_MAX_LENGTH]: MAX_PROPERTY_NAME_LENGTH },
      additionalProperties: { type: "string", [DOCUMENTED_MAX_LENGTH]: sourceMetadata.other },
    },
    // The subset's only non-null booleans here (LeadResponse answers them as stored).
    isImported: { type: "boolean" },
    smsOptedOut: { type: "boolean" },
  },
};

/** LeadProfile: the subset's enums and integers. */
const LeadProfileSchema = {
  type: ["object", "null"],
  additionalProperties: true,
  properties: {
    gender: nullableEnum(["M", "F", "NonBinary", "PreferNotToSay", "Other"]),
    maritalStatus: nullableEnum(["Married", "Single", "Widow", "Separated", "Divorced"]),
    employmentType: nullableEnum([
      "Employed",
      "PartTime",
      "SelfEmployed",
      "Contractor",
      "Unemployed",
      "Retired",
      "Student",
      "Military",
      "Homemaker",
      "Disabled",
      "Other",
    ]),
    height: int32,
    weight: int32,
    income: int32,
    monthsAtResidence: int32,
    creditScore: int32,
    numberOfDependents: int32,
    birthDate: { type: ["string", "null"], format: "date" },
    isHomeowner: nullable("boolean"),
    hasBankruptcy: nullable("boolean"),
    hasMedicalCondition: nullable("boolean"),
  },
};

/**
 * LeadRequest: lenient where the Leadping schema is strict on presence (documented in README), but
 * every field the subset types must have its type: a lead is answered as it was stored, and a value
 * of the wrong type would make the answer break LeadResponse.
 */
export const LeadRequestSchema = {
  type: "object",
  properties: {
    metadata: LeadMetadataSchema,
    contact: {
      type: ["object", "null"],
      additionalProperties: true,
      properties: {
        ...limited(CONTACT_TEXT_LIMITS),
        // Checked as an email and as a zone too: a stored one is never longer (no pass on update).
        email: nullable("string", { maxLength: 254 }),
        timeZoneId: nullable("string", { maxLength: 64 }),
        phone: {
          type: ["object", "null"],
          additionalProperties: true,
          properties: {
            // Stored in E.164, so never longer than this either.
            number: { type: "string", maxLength: 40 },
            ...limited(PHONE_TEXT_LIMITS),
          },
        },
        streetAddress: {
          type: ["object", "null"],
          additionalProperties: true,
          properties: limited(STREET_ADDRESS_TEXT_LIMITS),
        },
        coordinate: {
          type: ["object", "null"],
          additionalProperties: true,
          required: ["latitude", "longitude"],
          properties: {
            latitude: { type: "number", minimum: -90, maximum: 90 },
            longitude: { type: "number", minimum: -180, maximum: 180 },
          },
        },
        // "" is taken as "no picture" (forms send an empty field) and stored as null (domain/lead.ts).
        // The URI branch first: a bad value's 400 then says "must match format uri".
        avatarUrl: nullable("string", {
          [DOCUMENTED_MAX_LENGTH]: CONTACT_TEXT_LIMITS.fields.avatarUrl,
          anyOf: [{ format: "uri" }, { maxLength: 0 }],
        }),
      },
    },
    customer: LeadProfileSchema,
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
