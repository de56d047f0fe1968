import { sql } from "kysely";
import {
  EVENT_CATEGORIES,
  EVENT_STATUSES,
  TIMELINE_TYPES,
  TRAFFIC_TYPES,
} from "../domain/event-vocabulary.js";
import { badRequest } from "../domain/problem.js";
import { endsBeforeStart, invertedRange, parseRfc3339 } from "../domain/time.js";
import { EVENT_COLUMNS, eventRowFromArray } from "./events-repo.js";
import type { ListField, ListSpec } from "./list-query.js";
import { type ListNarrowing, type NarrowingPart, narrowingOf } from "./store.js";

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
    // Either revision's vocabulary, under either name (timelineType is an alias).
    activityType: text("activity_type", { values: TIMELINE_TYPES }),
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

/** The query parameters the subset declares on POST /events/all/my and /events/organizations/{id}. */
export interface EventListQuery {
  category?: string;
  startAt?: string;
  endAt?: string;
}

/** startAt (>=) and endAt (<) as bounds: a fraction finer than the millisecond rounds up. */
function instant(value: string | undefined, param: string): number | null {
  if (value === undefined) return null;
  const ms = parseRfc3339(value, true);
  if (ms === null) {
    throw badRequest(`${param} must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z.`, param);
  }
  return ms;
}

/**
 * The query parameters as conditions added to the body's filters: `category` (an activityCategory
 * or eventCategory, any case), `startAt` (inclusive) and `endAt` (exclusive) on createdAt. They are
 * also part of the key continuation tokens are bound to, so a token continues only the query that
 * issued it; with none given the key is the path scope's alone, as before they existed.
 */
export function eventListNarrowing(query: EventListQuery, scope: Record<string, string>): ListNarrowing {
  const parts: NarrowingPart[] = [];
  if (query.category !== undefined) {
    const wanted = query.category.toLowerCase();
    const category = EVENT_CATEGORIES.find((c) => c.toLowerCase() === wanted);
    if (!category) {
      throw badRequest(
        `category: '${query.category.slice(0, 100)}' is not an event category; supported: ${EVENT_CATEGORIES.join(", ")}.`,
        "category",
      );
    }
    parts.push({
      conditions: [sql`(activity_category = ${category} or event_category = ${category})`],
      key: `category=${category}`,
    });
  }
  const start = instant(query.startAt, "startAt");
  const end = instant(query.endAt, "endAt");
  // As a body's range is (list-query.ts RangeBounds): compared as written, an end before the start
  // is a 400, and an end equal to it an empty range (startAt is inclusive, endAt exclusive).
  if (endsBeforeStart(query.startAt, query.endAt)) throw invertedRange("startAt", "endAt");
  if (start !== null) parts.push({ conditions: [sql`created_at >= ${start}`], key: `startAt=${start}` });
  if (end !== null) parts.push({ conditions: [sql`created_at < ${end}`], key: `endAt=${end}` });
  return narrowingOf(scope, parts);
}
