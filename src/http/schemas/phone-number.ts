import { SELECTION_REASONS } from "../../domain/event-vocabulary.js";
import { dateTime, nullable, nullableDateTime, nullableIdNamePair } from "./common.js";

// Phone-number shapes (Leadping PhoneNumberRequest / PhoneNumberResponse / PhoneNumberTableRow and the
// outgoing-number selection). Inlined in the routes rather than shared by $id: only the phone-number
// route plugin uses them. Our extensions (routing.tenDlcCampaignId, isPreferred, isDefault,
// warmupEnabled / warmup.enabled on requests) are documented here; everything else is the
// contract's. On PUT an extension left out keeps its value (see parseChanges in the route).

const ns = nullable("string");
const id = { type: "string", maxLength: 200 };
const nullableId = nullable("string", { maxLength: 200 });

const HEALTH_STATUSES = ["Not Evaluated", "Evaluating", "Healthy", "Needs Attention", "Blocked"];
const WARMUP_STATES = ["Not Started", "In Progress", "Paused", "Blocked", "Ready"];

const RoutingRequestSchema = {
  type: ["object", "null"],
  additionalProperties: true,
  description:
    "leadtrail extension. On PUT a field left out (or the whole object, or a null smsEnabled) keeps its current value; null clears sourceId, campaignId and tenDlcCampaignId.",
  properties: {
    smsEnabled: nullable("boolean", { description: "Default true on create." }),
    voiceEnabled: nullable("boolean", { description: "Accepted and ignored: leadtrail sends SMS only." }),
    teamId: nullableId,
    sourceId: nullableId,
    campaignId: nullableId,
    tenDlcCampaignId: nullable("string", {
      maxLength: 200,
      description:
        "leadtrail extension: the 10DLC campaign the number is registered under; US/Canada recipients need one.",
    }),
    tenDlcApplicationId: nullable("string", { maxLength: 200, description: "Alias of tenDlcCampaignId." }),
  },
};

/** PhoneNumberRequest plus routing, isPreferred, isDefault and warmup. Values are checked by the route. */
export const PhoneNumberRequestSchema = {
  type: "object",
  description:
    "Leadping PhoneNumberRequest plus leadtrail extensions (routing, isPreferred, isDefault, warmupEnabled / warmup). number, name and enabled are replaced on PUT; an extension left out, or a null flag, keeps its current value (its default on create).",
  required: ["number", "name"],
  additionalProperties: true,
  properties: {
    number: { type: "string", maxLength: 64, description: "The number, normalized to E.164." },
    name: { type: "string", minLength: 0, maxLength: 255 },
    organizationId: nullableId,
    enabled: nullable("boolean", { description: "Default true." }),
    id: nullableId,
    routing: RoutingRequestSchema,
    isPreferred: nullable("boolean", { description: "leadtrail extension: the Preferred selection rule." }),
    isDefault: nullable("boolean", {
      description: "leadtrail extension: the FallbackDefault number; at most one per organization.",
    }),
    warmupEnabled: nullable("boolean", { description: "leadtrail extension: same as warmup.enabled." }),
    warmup: {
      type: ["object", "null"],
      additionalProperties: true,
      properties: { enabled: nullable("boolean") },
    },
  },
};

const RoutingSchema = {
  type: "object",
  properties: {
    smsEnabled: { type: "boolean" },
    voiceEnabled: { type: "boolean" },
    teamId: ns,
    sourceId: ns,
    campaignId: ns,
    tenDlcApplicationId: ns,
    tenDlcCampaignId: ns,
  },
};

const ReadinessSchema = {
  type: "object",
  properties: {
    enabled: { type: "boolean" },
    state: { type: ["string", "null"], enum: [...WARMUP_STATES, null] },
    healthStatus: { type: ["string", "null"], enum: [...HEALTH_STATUSES, null] },
    healthScore: { type: "integer" },
    progressPercent: { type: "integer" },
    callStage: ns,
  },
};

export const PhoneNumberResponseSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    number: { type: "string" },
    phoneIdentityId: ns,
    organization: nullableIdNamePair,
    leadpingOwned: { type: "boolean" },
    routing: RoutingSchema,
    enabled: { type: "boolean" },
    warmup: ReadinessSchema,
    name: { type: "string" },
    isPreferred: { type: "boolean" },
    isDefault: { type: "boolean" },
    lastUsedAt: nullableDateTime,
    createdAt: dateTime,
    modifiedAt: nullableDateTime,
  },
};

export const PhoneNumberTableRowSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    number: { type: "string" },
    type: { type: "string" },
    organization: { type: "string" },
    organizationId: ns,
    enabled: { type: "boolean" },
    warmup: ReadinessSchema,
    ownership: { type: "string" },
    routingSummary: { type: "string" },
    smsReady: { type: "boolean" },
    voiceReady: { type: "boolean" },
    tenDlcCampaignStatus: ns,
    isPreferred: { type: "boolean" },
    isDefault: { type: "boolean" },
    createdAt: dateTime,
  },
};

export const PagedPhoneNumbersSchema = {
  type: "object",
  properties: {
    items: { type: "array", items: PhoneNumberTableRowSchema },
    pageSize: { type: "integer" },
    totalCount: { type: ["integer", "null"] },
    continuationToken: ns,
  },
};

export const OutgoingNumberSelectionRequestSchema = {
  type: ["object", "null"],
  additionalProperties: true,
  properties: {
    conversationId: nullableId,
    leadId: nullableId,
    recipientPhoneNumber: nullable("string", { maxLength: 64 }),
    channel: { type: ["string", "null"], enum: ["sms", "call", null] },
    campaignId: nullableId,
    sourceId: nullableId,
    teamId: nullableId,
  },
};

export const OutgoingNumberManualOverrideRequestSchema = {
  type: "object",
  required: ["fromPhoneNumberId"],
  additionalProperties: true,
  properties: {
    fromPhoneNumberId: { ...id, minLength: 1 },
    selection: OutgoingNumberSelectionRequestSchema,
  },
};

const healthStatus = { type: ["string", "null"], enum: [...HEALTH_STATUSES, null] };

const EligibleOutgoingNumberSchema = {
  type: "object",
  properties: {
    phoneNumberId: { type: "string" },
    number: { type: "string" },
    displayNumber: { type: "string" },
    healthStatus,
    healthLabel: ns,
    healthWarning: ns,
    canSend: { type: "boolean" },
    selectionReason: { type: "string", enum: [...SELECTION_REASONS] },
    reasonLabel: { type: "string" },
    label: ns,
    campaignId: ns,
    sourceId: ns,
    teamId: ns,
    isSelected: { type: "boolean" },
  },
};

export const OutgoingNumberSelectionResponseSchema = {
  type: "object",
  properties: {
    canSend: { type: "boolean" },
    setupMessage: ns,
    phoneNumberId: ns,
    number: ns,
    displayNumber: ns,
    healthStatus,
    healthLabel: ns,
    healthWarning: ns,
    selectionReason: { type: ["string", "null"], enum: [...SELECTION_REASONS, null] },
    reasonLabel: ns,
    wasManuallyOverridden: { type: "boolean" },
    campaignId: ns,
    sourceId: ns,
    eligibleNumbers: { type: "array", items: EligibleOutgoingNumberSchema },
  },
};
