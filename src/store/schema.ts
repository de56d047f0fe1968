// Kysely table types. Timestamps are epoch milliseconds (BIGINT) and booleans 0/1 integers on
// both engines, so every query and comparison reads the same on SQLite and PostgreSQL.

import type { Generated, Selectable } from "kysely";

export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: number;
  price_segment_micros: Generated<number>;
  price_mms_micros: Generated<number>;
}

export interface UsersTable {
  organization_id: string;
  id: string;
  name: string;
  email: string | null;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  organization_id: string;
  user_id: string;
  key_hash: string;
  key_prefix: string;
  created_at: number;
  revoked_at: number | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface TagsTable {
  organization_id: string;
  id: string;
  name: string;
  normalized_name: string;
  created_at: number;
}

/** Which lead carries which tag (the lead's document holds the same list, with names). */
export interface LeadTagsTable {
  organization_id: string;
  lead_id: string;
  tag_id: string;
}

export interface LeadsTable {
  organization_id: string;
  id: string;
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  email: string | null;
  enabled: number;
  source_id: string | null;
  price_micros: number | null;
  /** The whole LeadRequest as stored (metadata, contact, customer, tags), JSON text. */
  document: string;
  created_at: number;
  updated_at: number;
  created_by: string;
  /** Source id and sellerLeadId of a lead a source delivered (one lead per pair); else null. */
  intake_key: string | null;
}

export interface ConversationsTable {
  organization_id: string;
  id: string;
  lead_id: string;
  lead_phone: string;
  last_snippet: string | null;
  last_event_at: number | null;
  last_event_is_internal_note: number;
  created_at: number;
  /** A user's choice of sender for this conversation (ManualOverride until cleared). */
  override_phone_number_id: string | null;
  /** The number this conversation last sent from (StickyConversation). */
  last_phone_number_id: string | null;
  /** How many messages the lead has sent here, in the order they reached us (isUnread). */
  inbound_count: number;
  /** The lead's message that reached us last: not always the newest by createdAt (late deliveries). */
  last_inbound_event_id: string | null;
  /** The event the inbox view shows (migration 0011; null on conversations that have not changed since). */
  last_event_id: string | null;
}

export interface EventsTable {
  organization_id: string;
  id: string;
  event_type: string;
  event_category: string | null;
  activity_type: string;
  activity_category: string;
  description: string;
  conversation_id: string | null;
  lead_id: string | null;
  related_entity_type: string | null;
  related_entity_id: string | null;
  summary: string | null;
  direction: string | null;
  status: string | null;
  status_reason: string | null;
  is_warmup: number;
  traffic_type: string | null;
  from_phone_number_id: string | null;
  outbound_phone_number_id: string | null;
  from_phone_number: string | null;
  to_phone_number: string | null;
  telnyx_id: string | null;
  provider_message_id: string | null;
  selection_reason: string | null;
  was_manually_overridden: number;
  campaign_id: string | null;
  source_id: string | null;
  ten_dlc_campaign_id: string | null;
  compliance_action: string | null;
  billing_status: string | null;
  billable_micros: number | null;
  error_code: string | null;
  retry_count: number;
  queued_at: number | null;
  sending_started_at: number | null;
  sent_at: number | null;
  delivered_at: number | null;
  received_at: number | null;
  failed_at: number | null;
  undeliverable_at: number | null;
  blocked_at: number | null;
  next_retry_at: number | null;
  scheduled_for: number | null;
  scheduled_reason: string | null;
  /**
   * The scheduledFor the send asked for (null: none; REQUESTED_SCHEDULE_UNKNOWN: a keyed send written
   * before migration 0013 that kept no trace of it); scheduled_for is moved by quiet hours, this never.
   */
  requested_scheduled_for: number | null;
  canceled_at: number | null;
  cancel_reason: string | null;
  /** How many times Telnyx was asked for this Sent message's outcome (messaging/receipt-lookup.ts). */
  receipt_lookups: number;
  /** When it may be asked again (null: not asked yet, due 15 min after sent_at). */
  receipt_lookup_after: number | null;
  /**
   * When the provider first refused this message for a problem of our account or settings (a key,
   * funds, permission): it waits, without spending retries, until LEADTRAIL_OPERATOR_WAIT_HOURS
   * after this (messaging/provider-breaker.ts). Null when it never was.
   */
  operator_wait_since: number | null;
  /** JSON array of MessageMediaAttachment, or null for none. */
  media: string | null;
  created_at: number;
  created_by: string;
  modified_at: number | null;
  /** Message text of an SMS/MMS event. */
  body: string | null;
  segments: number | null;
  encoding: string | null;
  /** Price computed when the message was accepted; billed (billable_micros) once it is sent. */
  price_micros: number | null;
  /** When a worker should next act on this event (send, retry, reconcile); null when no work is due. */
  next_attempt_at: number | null;
  idempotency_key: string | null;
  provider: string | null;
  error_message: string | null;
  outbound_source: string | null;
}

/** The append-only log of every status transition applied to (or refused by) an event. */
export interface EventTransitionsTable {
  organization_id: string;
  event_id: string;
  seq: number;
  at: number;
  from_status: string | null;
  to_status: string | null;
  applied: number;
  stage: string;
  message: string;
}

export interface PhoneNumbersTable {
  organization_id: string;
  id: string;
  number: string;
  name: string;
  enabled: number;
  sms_enabled: number;
  source_id: string | null;
  campaign_id: string | null;
  ten_dlc_campaign_id: string | null;
  is_preferred: number;
  is_default: number;
  warmup_enabled: number;
  warmup_started_at: number | null;
  /** When the ramp paused (the number disabled or SMS off), null while it runs: see domain/warmup.ts. */
  warmup_paused_at: number | null;
  last_used_at: number | null;
  created_at: number;
  updated_at: number;
  /** Warmup counters (see messaging/warmup.ts). */
  warmup_day_start: number | null;
  warmup_sent_today: Generated<number>;
  warmup_last_sent_at: number | null;
  warmup_total_sent: Generated<number>;
}

export interface PhoneNumberHealthDaysTable {
  organization_id: string;
  phone_number_id: string;
  /** Days since the epoch (UTC). */
  day: number;
  sent: number;
  failed: number;
  carrier_blocked: number;
}

export interface SuppressionsTable {
  organization_id: string;
  id: string;
  channel: string;
  /** The normalized identifier: E.164 phone or lower-cased email. */
  recipient: string;
  /** recipientIdentifier as answered: the client's own identifier, else `recipient`. */
  recipient_identifier: string | null;
  phone_number: string | null;
  email: string | null;
  status: string;
  source: string;
  reason: string | null;
  suppressed_at: number;
  released_at: number | null;
  /** JSON array of SuppressionEntryAudit. */
  audit: string;
}

export interface WalletsTable {
  organization_id: string;
  id: string;
  balance_micros: number;
  purchased_micros: number;
  created_at: number;
  updated_at: number;
}

export interface UsageLedgerTable {
  organization_id: string;
  id: string;
  event_id: string | null;
  /** The line's place among its event's lines: 0 for the first charge, then refund, charge again… */
  event_entry: number;
  channel: string;
  billable_unit: string;
  status: string;
  quantity: number;
  unit_price_micros: number;
  amount_micros: number;
  lead_id: string | null;
  phone_number_id: string | null;
  phone_number: string | null;
  created_at: number;
}

/** A lead source (Leadping's SourceResponse); JSON text columns hold arrays. */
export interface SourcesTable {
  organization_id: string;
  id: string;
  name: string;
  description: string | null;
  enabled: number;
  api_key: string | null;
  api_key_hash: string | null;
  api_key_last_used_at: number | null;
  api_key_total_uses: number;
  cost_per_lead_micros: number | null;
  /** JSON array of upper-cased state codes; empty means every state. */
  allowed_states: string;
  /** JSON array of product names as given; empty means every product. */
  allowed_products: string;
  requires_trusted_form: number;
  /** JSON array of TagRef: the tags every lead it delivers gets. */
  default_tags: string;
  /** The user the source belongs to: its leads are created in their name. */
  user_id: string;
  created_by: string;
  modified_by: string | null;
  created_at: number;
  modified_at: number | null;
  first_lead_received_at: number | null;
  last_lead_received_at: number | null;
  deleted_at: number | null;
}

/** A key a source held and gave up (re-keyed or deleted): it is never accepted or issued again. */
export interface RetiredSourceKeysTable {
  key_hash: string;
  organization_id: string;
  source_id: string;
  retired_at: number;
}

export interface ConversationReadsTable {
  organization_id: string;
  conversation_id: string;
  user_id: string;
  /** The conversation's inbound_count when a page last showed this user the lead's latest message. */
  read_inbound_count: number;
}

/** A provider refusing our account or settings, per scope (messaging/provider-breaker.ts). */
export interface ProviderBreakersTable {
  /** "account" (the key, funds, base URL: every message) or "sender:+1…" (one sender number). */
  scope: string;
  opened_at: number;
  /** When one message may next be handed to the provider to see whether the problem was fixed. */
  probe_at: number;
  /** The wait before the next probe: doubles after each refused probe, up to a maximum. */
  interval_ms: number;
  /** The refusal that opened it, or the last refused probe's: what the waiting messages show. */
  error_code: string;
  error_message: string;
  /** What the operator is to check. */
  action: string;
}

export interface Database {
  organizations: OrganizationsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  settings: SettingsTable;
  leads: LeadsTable;
  conversations: ConversationsTable;
  events: EventsTable;
  event_transitions: EventTransitionsTable;
  tags: TagsTable;
  lead_tags: LeadTagsTable;
  phone_numbers: PhoneNumbersTable;
  phone_number_health_days: PhoneNumberHealthDaysTable;
  suppressions: SuppressionsTable;
  wallets: WalletsTable;
  usage_ledger: UsageLedgerTable;
  sources: SourcesTable;
  retired_source_keys: RetiredSourceKeysTable;
  conversation_reads: ConversationReadsTable;
  provider_breakers: ProviderBreakersTable;
}

export type EventRow = EventsTable;
export type LeadRow = LeadsTable;
export type ConversationRow = ConversationsTable;
export type PhoneNumberRow = Selectable<PhoneNumbersTable>;
export type SuppressionRow = SuppressionsTable;
export type SourceRow = SourcesTable;
