import {
  ACTIVITY_TYPES,
  EVENT_STATUSES,
  SELECTION_REASONS,
  TIMELINE_TYPES,
  TRAFFIC_TYPES,
} from "../../domain/event-vocabulary.js";
import { dateTime, nullable, nullableDateTime, pagedResultSchema } from "./common.js";

const ns = nullable("string");

export const MediaAttachmentSchema = {
  type: "object",
  required: ["url"],
  properties: {
    url: { type: "string" },
    contentType: ns,
    size: nullable("integer"),
    sha256: ns,
    fileName: ns,
  },
};

const eventProperties = {
  id: { type: "string" },
  eventType: { type: "string" },
  eventCategory: ns,
  activityType: { type: "string", enum: ACTIVITY_TYPES },
  activityCategory: { type: "string" },
  timelineType: { type: "string", enum: TIMELINE_TYPES },
  timelineCategory: { type: "string" },
  description: { type: "string" },
  conversationId: ns,
  leadId: ns,
  relatedEntityType: ns,
  relatedEntityId: ns,
  summary: ns,
  media: { type: "array", items: MediaAttachmentSchema },
  direction: ns,
  status: { type: ["string", "null"], enum: [...EVENT_STATUSES, null] },
  statusReason: ns,
  isWarmup: { type: "boolean" },
  trafficType: { type: ["string", "null"], enum: [...TRAFFIC_TYPES, null] },
  fromPhoneNumberId: ns,
  outboundPhoneNumberId: ns,
  fromPhoneNumber: ns,
  toPhoneNumber: ns,
  telnyxId: ns,
  providerMessageId: ns,
  selectionReason: { type: ["string", "null"], enum: [...SELECTION_REASONS, null] },
  wasManuallyOverridden: { type: "boolean" },
  campaignId: ns,
  sourceId: ns,
  tenDlcCampaignId: ns,
  complianceAction: ns,
  billingStatus: ns,
  billableAmount: nullable("number"),
  errorCode: ns,
  retryCount: { type: "integer" },
  queuedAt: nullableDateTime,
  sendingStartedAt: nullableDateTime,
  sentAt: nullableDateTime,
  deliveredAt: nullableDateTime,
  receivedAt: nullableDateTime,
  failedAt: nullableDateTime,
  undeliverableAt: nullableDateTime,
  blockedAt: nullableDateTime,
  nextRetryAt: nullableDateTime,
  scheduledFor: nullableDateTime,
  scheduledReason: ns,
  canceledAt: nullableDateTime,
  cancelReason: ns,
  createdAt: dateTime,
  createdBy: { type: "string" },
  actorUserId: ns,
  actorDisplayName: ns,
  actorEmail: ns,
};

/** The event record (seed + later revision names), as GET /events/{eventId} answers it. */
export const EventRecordSchema = {
  $id: "EventRecord",
  type: "object",
  description: "A lead activity event: the seed's record plus the later revision's names.",
  required: Object.keys(eventProperties).filter((k) => !k.startsWith("actor")),
  properties: eventProperties,
};

export const PagedEventsSchema = pagedResultSchema("PagedResultOfEventTableRow", "EventRecord");

const TransitionSchema = {
  type: "object",
  properties: {
    seq: { type: "integer" },
    occurredAt: dateTime,
    fromStatus: ns,
    toStatus: ns,
    applied: { type: "boolean" },
    stage: { type: "string" },
    message: { type: "string" },
  },
};

export const EventDetailSchema = {
  $id: "EventDetailResponse",
  type: "object",
  description: "EventDetailResponse plus the event's ordered transition log.",
  properties: {
    id: { type: "string" },
    eventType: { type: "string" },
    secondaryEventType: ns,
    description: ns,
    eventCategory: ns,
    timelineType: { type: ["string", "null"], enum: [...TIMELINE_TYPES, null] },
    timelineCategory: ns,
    conversationId: ns,
    summary: ns,
    direction: ns,
    status: {
      type: ["string", "null"],
      enum: ["Pending", "InProgress", "Completed", "Failed", "Cancelled", null],
    },
    statusReason: ns,
    fromPhoneNumberId: ns,
    outboundPhoneNumberId: ns,
    fromPhoneNumber: ns,
    toPhoneNumber: ns,
    queuedAt: nullableDateTime,
    scheduledFor: nullableDateTime,
    sendingStartedAt: nullableDateTime,
    sentAt: nullableDateTime,
    deliveredAt: nullableDateTime,
    receivedAt: nullableDateTime,
    failedAt: nullableDateTime,
    undeliverableAt: nullableDateTime,
    blockedAt: nullableDateTime,
    canceledAt: nullableDateTime,
    user: { type: ["object", "null"], properties: { id: { type: "string" }, name: { type: "string" } } },
    userEmail: ns,
    userId: { type: "string" },
    leadId: ns,
    createdAt: dateTime,
    modifiedAt: nullableDateTime,
    eventStatus: {
      type: ["string", "null"],
      description: "The seed's status of the event (the record's `status`).",
    },
    transitions: { type: "array", items: TransitionSchema },
  },
};

export const CreateNoteRequestSchema = {
  type: "object",
  required: ["text"],
  properties: { text: { type: "string" } },
};
