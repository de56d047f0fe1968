// Kysely table types. Timestamps are epoch milliseconds (BIGINT) and booleans 0/1 integers on
// both engines, so every query and comparison reads the same on SQLite and PostgreSQL.

export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: number;
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
  canceled_at: number | null;
  cancel_reason: string | null;
  /** JSON array of MessageMediaAttachment, or null for none. */
  media: string | null;
  created_at: number;
  created_by: string;
  modified_at: number | null;
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

export interface Database {
  organizations: OrganizationsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  settings: SettingsTable;
  leads: LeadsTable;
  conversations: ConversationsTable;
  events: EventsTable;
  event_transitions: EventTransitionsTable;
}

export type EventRow = EventsTable;
export type LeadRow = LeadsTable;
export type ConversationRow = ConversationsTable;
