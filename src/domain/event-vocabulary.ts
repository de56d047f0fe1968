// The seed's activity/status vocabulary (CONTRACT.md) and the mapping tables between revisions.

export const ACTIVITY_TYPES = [
  "Message",
  "Sms",
  "Mms",
  "Call",
  "Voicemail",
  "Note",
  "Disposition",
  "LeadCreated",
  "LeadUpdated",
  "Notification",
  "Payment",
  "Warmup",
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

/**
 * The activity kinds either revision names: the later one's timelineType adds LeadStatusChange (which
 * leadtrail never writes); the record's timelineType carries the activityType, Disposition included.
 */
export const TIMELINE_TYPES = [...ACTIVITY_TYPES, "LeadStatusChange"] as const;

export const EVENT_STATUSES = [
  "Pending",
  "InProgress",
  "Completed",
  "Cancelled",
  "Scheduled",
  "Queued",
  "Sending",
  "Sent",
  "Received",
  "Delivered",
  "Undeliverable",
  "Opted out",
  "Blocked",
  "Initiated",
  "Ringing",
  "Active",
  "Ended",
  "Missed",
  "Voicemail",
  "Failed",
  "Canceled",
] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export const TRAFFIC_TYPES = ["RealLead", "Warmup", "Test", "SystemInternal", "FailedAttempt"] as const;
export type TrafficType = (typeof TRAFFIC_TYPES)[number];

export const SELECTION_REASONS = [
  "StickyConversation",
  "LeadAssigned",
  "CampaignOrSource",
  "Preferred",
  "LocalArea",
  "HealthyPool",
  "FallbackDefault",
  "ManualOverride",
] as const;
export type SelectionReason = (typeof SELECTION_REASONS)[number];

/** The timeline category shown beside each activity type (`activityCategory` / `timelineCategory`). */
export const ACTIVITY_CATEGORY: Record<ActivityType, string> = {
  Message: "Messaging",
  Sms: "Messaging",
  Mms: "Messaging",
  Call: "Calls",
  Voicemail: "Calls",
  Note: "Notes",
  Disposition: "Lead",
  LeadCreated: "Lead",
  LeadUpdated: "Lead",
  Notification: "System",
  Payment: "Billing",
  Warmup: "Messaging",
};

/**
 * What an event list's `category` query parameter matches: the timeline categories above
 * (`activityCategory`) and the `eventCategory` values events are written with (Lead, Messaging,
 * Note). The seed types both as free strings; these are the values leadtrail writes.
 */
export const EVENT_CATEGORIES: readonly string[] = [
  ...new Set([...Object.values(ACTIVITY_CATEGORY), "Lead", "Messaging", "Note"]),
].sort();

/**
 * `EventDetailResponse.status` uses a coarse vocabulary (Pending, InProgress, Completed, Failed,
 * Cancelled); this is the one table that folds the seed's statuses into it.
 */
export const DETAIL_STATUS: Record<
  EventStatus,
  "Pending" | "InProgress" | "Completed" | "Failed" | "Cancelled"
> = {
  Pending: "Pending",
  InProgress: "InProgress",
  Completed: "Completed",
  Cancelled: "Cancelled",
  Scheduled: "Pending",
  Queued: "Pending",
  Sending: "InProgress",
  Sent: "InProgress",
  Received: "Completed",
  Delivered: "Completed",
  Undeliverable: "Failed",
  "Opted out": "Completed",
  Blocked: "Failed",
  Initiated: "InProgress",
  Ringing: "InProgress",
  Active: "InProgress",
  Ended: "Completed",
  Missed: "Completed",
  Voicemail: "Completed",
  Failed: "Failed",
  Canceled: "Cancelled",
};
