import { ACTIVITY_TYPES, EVENT_STATUSES, TRAFFIC_TYPES } from "../domain/event-vocabulary.js";
import { EVENT_COLUMNS, eventRowFromArray } from "./events-repo.js";
import type { ListField, ListSpec } from "./list-query.js";

const text = (column: string, extra: Partial<ListField> = {}): ListField => ({
  column,
  kind: "string",
  filter: true,
  ...extra,
});
const at = (column: string): ListField => ({ column, kind: "timestamp", range: true });

/** What the event lists accept in filters / rangeFilters / orderBy / searchFields (issue 2, item 7). */
export const EVENT_LIST_SPEC: ListSpec = {
  resource: "events",
  table: "events",
  fields: {
    id: { column: "id", kind: "string", order: true },
    createdAt: { column: "created_at", kind: "timestamp", range: true, order: true },
    activityType: text("activity_type", { values: ACTIVITY_TYPES }),
    status: text("status", { values: EVENT_STATUSES }),
    direction: text("direction"),
    eventType: text("event_type"),
    trafficType: text("traffic_type", { values: TRAFFIC_TYPES }),
    leadId: text("lead_id"),
    conversationId: text("conversation_id"),
    campaignId: text("campaign_id"),
    sourceId: text("source_id"),
    queuedAt: at("queued_at"),
    sendingStartedAt: at("sending_started_at"),
    sentAt: at("sent_at"),
    deliveredAt: at("delivered_at"),
    receivedAt: at("received_at"),
    failedAt: at("failed_at"),
    undeliverableAt: at("undeliverable_at"),
    blockedAt: at("blocked_at"),
    nextRetryAt: at("next_retry_at"),
    scheduledFor: at("scheduled_for"),
    canceledAt: at("canceled_at"),
    summary: { column: "summary", kind: "string", search: true },
    description: { column: "description", kind: "string", search: true },
  },
  aliases: { timelineType: "activityType" },
  defaultOrder: { field: "createdAt", direction: "desc" },
  tieBreakers: ["createdAt", "id"],
  // 60 columns a row: arrays halve the driver's share of a page (bench/RESULTS.md, fifth session).
  rowShape: { columns: EVENT_COLUMNS, fromArray: eventRowFromArray },
};
