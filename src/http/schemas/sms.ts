import { SELECTION_REASONS, TRAFFIC_TYPES } from "../../domain/event-vocabulary.js";
import { SMS_LIFECYCLE_STATUSES } from "../../domain/message-status.js";
import { dateTime, nullable, nullableDateTime, pagedResultSchema } from "./common.js";
import { MediaAttachmentSchema } from "./event.js";

// The SMS endpoints' answers (Leadping's SmsResponse and SmsEventTableRow, built in sms-record.ts):
// they document /openapi.json and drive the response serializer. Every property sms-record.ts
// writes is listed with the type it is written with (a sender id is null on an inbound message,
// where the subset's table says string; a listed non-null string would be serialized as "").
// additionalProperties keeps anything added there later on the wire until it is listed here.

const ns = nullable("string");
const nullableEnum = (values: readonly string[]) => ({ type: ["string", "null"], enum: [...values, null] });

const OUTBOUND_SOURCES = [
  "manual",
  "automation",
  "campaign",
  "import",
  "api",
  "system_notification",
  "warmup",
  "retry",
] as const;

const CommunicationConsoleEntry = {
  type: "object",
  properties: {
    id: { type: "string" },
    stage: { type: "string" },
    status: { type: "string" },
    message: { type: "string" },
    occurredAt: dateTime,
  },
};

const smsResponseProperties = {
  id: { type: "string" },
  conversationId: ns,
  leadId: ns,
  fromPhoneNumberId: ns,
  outboundPhoneNumberId: ns,
  fromPhoneNumber: ns,
  toPhoneNumber: ns,
  selectionReason: nullableEnum(SELECTION_REASONS),
  wasManuallyOverridden: { type: "boolean" },
  campaignId: ns,
  sourceId: ns,
  text: { type: "string" },
  media: { type: "array", items: MediaAttachmentSchema },
  status: nullableEnum(SMS_LIFECYCLE_STATUSES),
  statusReason: ns,
  queuedAt: nullableDateTime,
  scheduledFor: nullableDateTime,
  scheduledReason: ns,
  sendingStartedAt: nullableDateTime,
  sentAt: nullableDateTime,
  deliveredAt: nullableDateTime,
  receivedAt: nullableDateTime,
  failedAt: nullableDateTime,
  undeliverableAt: nullableDateTime,
  blockedAt: nullableDateTime,
  nextRetryAt: nullableDateTime,
  retryCount: nullable("integer"),
  canceledAt: nullableDateTime,
  cancelReason: ns,
  errorCode: ns,
  errorMessage: ns,
  trafficType: nullableEnum(TRAFFIC_TYPES),
  billableAmount: nullable("number"),
  billingStatus: ns,
  complianceAction: ns,
  consoleEntries: { type: "array", items: CommunicationConsoleEntry },
  createdAt: dateTime,
  modifiedAt: nullableDateTime,
};

export const SmsResponseSchema = {
  $id: "SmsResponse",
  type: "object",
  additionalProperties: true,
  properties: smsResponseProperties,
};

export const SmsEventTableRowSchema = {
  $id: "SmsEventTableRow",
  type: "object",
  additionalProperties: true,
  properties: {
    ...smsResponseProperties,
    lead: { type: "object", properties: { id: { type: "string" }, name: { type: "string" } } },
    direction: { type: "string", enum: ["inbound", "outbound"] },
    isAutomated: { type: "boolean" },
    outboundSource: nullableEnum(OUTBOUND_SOURCES),
    user: { type: "string" },
    actorUserId: ns,
    actorDisplayName: ns,
    userName: ns,
    senderName: ns,
    organization: { type: "string" },
    organizationName: ns,
  },
};

export const PagedSmsEventsSchema = pagedResultSchema("PagedResultOfSmsEventTableRow", "SmsEventTableRow");
