import { smsLifecycleStatus } from "../domain/message-status.js";
import { microsToUsd } from "../domain/money.js";
import { toIso } from "../domain/time.js";
import type { EventRow, EventTransitionsTable, LeadRow } from "../store/schema.js";
import type { Author } from "../store/user-directory.js";
import { toEventRecord } from "./event-record.js";

// Wire shapes of the SMS endpoints (SmsResponse, SmsEventTableRow); their lower-case status comes
// from the one mapping table in domain/message-status.ts.

export function consoleEntries(transitions: EventTransitionsTable[]) {
  return transitions.map((t) => ({
    id: `${t.event_id}:${t.seq}`,
    stage: t.stage,
    status: t.applied === 1 ? (t.to_status ?? "") : `ignored:${t.to_status ?? ""}`,
    message: t.message,
    occurredAt: toIso(t.at) as string,
  }));
}

export function toSmsResponse(row: EventRow, transitions: EventTransitionsTable[]) {
  // Only the record's formatted fields are read here (SmsResponse names no author).
  const record = toEventRecord(row, null);
  return {
    id: row.id,
    conversationId: row.conversation_id,
    leadId: row.lead_id,
    fromPhoneNumberId: row.from_phone_number_id,
    outboundPhoneNumberId: row.outbound_phone_number_id,
    fromPhoneNumber: row.from_phone_number,
    toPhoneNumber: row.to_phone_number,
    selectionReason: row.selection_reason,
    wasManuallyOverridden: row.was_manually_overridden === 1,
    campaignId: row.campaign_id,
    sourceId: row.source_id,
    text: row.body ?? "",
    media: record.media,
    status: smsLifecycleStatus(row.status, row.compliance_action, row.billing_status),
    statusReason: row.status_reason,
    queuedAt: record.queuedAt,
    scheduledFor: record.scheduledFor,
    scheduledReason: row.scheduled_reason,
    sendingStartedAt: record.sendingStartedAt,
    sentAt: record.sentAt,
    deliveredAt: record.deliveredAt,
    receivedAt: record.receivedAt,
    failedAt: record.failedAt,
    undeliverableAt: record.undeliverableAt,
    blockedAt: record.blockedAt,
    nextRetryAt: record.nextRetryAt,
    retryCount: row.retry_count,
    canceledAt: record.canceledAt,
    cancelReason: row.cancel_reason,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    trafficType: row.traffic_type,
    billableAmount: microsToUsd(row.billable_micros),
    billingStatus: row.billing_status,
    complianceAction: row.compliance_action,
    consoleEntries: consoleEntries(transitions),
    createdAt: record.createdAt,
    modifiedAt: toIso(row.modified_at),
  };
}

/** The names an SMS row shows: its event's author (a user or the system), and the organization's. */
export interface SmsRowNames {
  author: Author | null;
  organizationName: string | null;
}

export function toSmsEventTableRow(
  row: EventRow,
  transitions: EventTransitionsTable[],
  lead: LeadRow | undefined,
  names: SmsRowNames,
) {
  const response = toSmsResponse(row, transitions);
  const leadName = lead
    ? [lead.first_name, lead.last_name].filter(Boolean).join(" ") || (lead.phone ?? lead.id)
    : "";
  return {
    ...response,
    lead: { id: row.lead_id ?? "", name: leadName },
    direction: row.direction ?? "outbound",
    isAutomated: row.traffic_type !== "RealLead" || row.outbound_source === "system_notification",
    outboundSource: row.direction === "inbound" ? null : row.outbound_source,
    user: row.created_by,
    actorUserId: row.created_by.startsWith("usr_") ? row.created_by : null,
    // The same author as the event's record names (actorDisplayName); userName only when a user
    // wrote it. The sender of an inbound message is the lead, of an outbound one its author.
    actorDisplayName: names.author?.name ?? null,
    userName: row.created_by.startsWith("usr_") ? (names.author?.name ?? null) : null,
    senderName: row.direction === "inbound" ? leadName || null : (names.author?.name ?? null),
    organization: row.organization_id,
    organizationName: names.organizationName,
  };
}
