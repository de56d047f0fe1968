import { microsToUsd } from "../domain/money.js";
import { toIso } from "../domain/time.js";
import type { EventRow } from "../store/schema.js";
import type { Author } from "../store/user-directory.js";

export interface MediaAttachment {
  url: string;
  contentType: string | null;
  size: number | null;
  sha256: string | null;
  fileName: string | null;
}

/**
 * The event record on the wire (CONTRACT.md): every seed property always present (null when
 * unknown), both revisions' names for the activity kind, numbers as JSON numbers, timestamps as
 * RFC 3339 UTC.
 */
export interface EventRecord {
  id: string;
  eventType: string;
  eventCategory: string | null;
  activityType: string;
  activityCategory: string;
  timelineType: string;
  timelineCategory: string;
  description: string;
  conversationId: string | null;
  leadId: string | null;
  relatedEntityType: string | null;
  relatedEntityId: string | null;
  summary: string | null;
  media: MediaAttachment[];
  direction: string | null;
  status: string | null;
  statusReason: string | null;
  isWarmup: boolean;
  trafficType: string | null;
  fromPhoneNumberId: string | null;
  outboundPhoneNumberId: string | null;
  fromPhoneNumber: string | null;
  toPhoneNumber: string | null;
  telnyxId: string | null;
  providerMessageId: string | null;
  selectionReason: string | null;
  wasManuallyOverridden: boolean;
  campaignId: string | null;
  sourceId: string | null;
  tenDlcCampaignId: string | null;
  complianceAction: string | null;
  billingStatus: string | null;
  billableAmount: number | null;
  errorCode: string | null;
  retryCount: number;
  queuedAt: string | null;
  sendingStartedAt: string | null;
  sentAt: string | null;
  deliveredAt: string | null;
  receivedAt: string | null;
  failedAt: string | null;
  undeliverableAt: string | null;
  blockedAt: string | null;
  nextRetryAt: string | null;
  scheduledFor: string | null;
  scheduledReason: string | null;
  canceledAt: string | null;
  cancelReason: string | null;
  createdAt: string;
  createdBy: string;
  actorUserId: string | null;
  /** The later revision's EventTableRow names the author too (UserDirectory; "System" for the system). */
  actorDisplayName: string | null;
  actorEmail: string | null;
}

function parseMedia(json: string | null): MediaAttachment[] {
  if (!json) return [];
  return JSON.parse(json) as MediaAttachment[];
}

export function toEventRecord(row: EventRow, author: Author | null | undefined): EventRecord {
  return {
    id: row.id,
    eventType: row.event_type,
    eventCategory: row.event_category,
    activityType: row.activity_type,
    activityCategory: row.activity_category,
    timelineType: row.activity_type,
    timelineCategory: row.activity_category,
    description: row.description,
    conversationId: row.conversation_id,
    leadId: row.lead_id,
    relatedEntityType: row.related_entity_type,
    relatedEntityId: row.related_entity_id,
    summary: row.summary,
    media: parseMedia(row.media),
    direction: row.direction,
    status: row.status,
    statusReason: row.status_reason,
    isWarmup: row.is_warmup === 1,
    trafficType: row.traffic_type,
    fromPhoneNumberId: row.from_phone_number_id,
    outboundPhoneNumberId: row.outbound_phone_number_id,
    fromPhoneNumber: row.from_phone_number,
    toPhoneNumber: row.to_phone_number,
    telnyxId: row.telnyx_id,
    providerMessageId: row.provider_message_id,
    selectionReason: row.selection_reason,
    wasManuallyOverridden: row.was_manually_overridden === 1,
    campaignId: row.campaign_id,
    sourceId: row.source_id,
    tenDlcCampaignId: row.ten_dlc_campaign_id,
    complianceAction: row.compliance_action,
    billingStatus: row.billing_status,
    billableAmount: microsToUsd(row.billable_micros),
    errorCode: row.error_code,
    retryCount: row.retry_count,
    queuedAt: toIso(row.queued_at),
    sendingStartedAt: toIso(row.sending_started_at),
    sentAt: toIso(row.sent_at),
    deliveredAt: toIso(row.delivered_at),
    receivedAt: toIso(row.received_at),
    failedAt: toIso(row.failed_at),
    undeliverableAt: toIso(row.undeliverable_at),
    blockedAt: toIso(row.blocked_at),
    nextRetryAt: toIso(row.next_retry_at),
    scheduledFor: toIso(row.scheduled_for),
    scheduledReason: row.scheduled_reason,
    canceledAt: toIso(row.canceled_at),
    cancelReason: row.cancel_reason,
    createdAt: toIso(row.created_at) as string,
    createdBy: row.created_by,
    actorUserId: row.created_by.startsWith("usr_") ? row.created_by : null,
    actorDisplayName: author?.name ?? null,
    actorEmail: author?.email ?? null,
  };
}
