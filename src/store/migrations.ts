import { type Kysely, type Migration, type MigrationProvider, Migrator, SqliteAdapter, sql } from "kysely";
import { messaging } from "./migration-0002-messaging.js";
import { warmup } from "./migration-0003-warmup.js";
import { inboundOnce } from "./migration-0004-inbound-once.js";
import { leadTags } from "./migration-0005-lead-tags.js";
import { sources } from "./migration-0006-sources.js";
import { conversationReads } from "./migration-0007-conversation-reads.js";
import { suppressionIdentifiers } from "./migration-0008-suppression-identifiers.js";
import { inboundArrival } from "./migration-0009-inbound-arrival.js";
import { eventsByPhone } from "./migration-0010-events-by-phone.js";
import { conversationLastEvent } from "./migration-0011-conversation-last-event.js";
import { leadUtcDateTimes } from "./migration-0012-lead-utc-date-times.js";
import { requestedSchedule } from "./migration-0013-requested-schedule.js";
import { usageLedgerAppendOnly } from "./migration-0014-usage-ledger-append-only.js";
import { warmupPause } from "./migration-0015-warmup-pause.js";
import { unknownRequestedSchedule } from "./migration-0016-unknown-requested-schedule.js";
import { owedReceipts } from "./migration-0017-owed-receipts.js";
import { receiptLookup } from "./migration-0018-receipt-lookup.js";
import { operatorWait } from "./migration-0019-operator-wait.js";
import { listCounts } from "./migration-0020-list-counts.js";

// Migrations are plain functions kept in code (no files to find at run time), applied in name order.
// Timestamps are BIGINT epoch milliseconds; booleans are 0/1 integers (see schema.ts).

/**
 * On SQLite the two big tables are WITHOUT ROWID, clustered on their (organization_id, …) primary
 * key: one B-tree fewer to write per row, and a GET by id is a single B-tree lookup.
 */
function clusteredOnSqlite(db: Kysely<unknown>) {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  return sqlite ? sql`without rowid` : sql``;
}

const initial: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("organizations")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("users")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("email", "text")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("users_pk", ["organization_id", "id"])
      .execute();

    await db.schema
      .createTable("api_keys")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("user_id", "text", (c) => c.notNull())
      .addColumn("key_hash", "text", (c) => c.notNull().unique())
      .addColumn("key_prefix", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("revoked_at", "bigint")
      .execute();

    await db.schema
      .createTable("settings")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("value", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("leads")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("first_name", "text")
      .addColumn("last_name", "text")
      .addColumn("phone", "text")
      .addColumn("email", "text")
      .addColumn("enabled", "integer", (c) => c.notNull())
      .addColumn("source_id", "text")
      .addColumn("price_micros", "bigint")
      .addColumn("document", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("leads_pk", ["organization_id", "id"])
      .execute();
    await db.schema
      .createIndex("leads_by_created")
      .on("leads")
      .columns(["organization_id", "created_at", "id"])
      .execute();
    await db.schema
      .createIndex("leads_by_updated")
      .on("leads")
      .columns(["organization_id", "updated_at", "id"])
      .execute();
    await db.schema.createIndex("leads_by_phone").on("leads").columns(["organization_id", "phone"]).execute();

    await db.schema
      .createTable("conversations")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("lead_id", "text", (c) => c.notNull())
      .addColumn("lead_phone", "text", (c) => c.notNull())
      .addColumn("last_snippet", "text")
      .addColumn("last_event_at", "bigint")
      .addColumn("last_event_is_internal_note", "integer", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("conversations_pk", ["organization_id", "id"])
      .execute();
    await db.schema
      .createIndex("conversations_by_lead")
      .on("conversations")
      .columns(["organization_id", "lead_id", "created_at", "id"])
      .execute();
    await db.schema
      .createIndex("conversations_by_last_event")
      .on("conversations")
      .columns(["organization_id", "last_event_at", "id"])
      .execute();
    await db.schema
      .createIndex("conversations_by_created")
      .on("conversations")
      .columns(["organization_id", "created_at", "id"])
      .execute();

    let events = db.schema
      .createTable("events")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("event_type", "text", (c) => c.notNull())
      .addColumn("event_category", "text")
      .addColumn("activity_type", "text", (c) => c.notNull())
      .addColumn("activity_category", "text", (c) => c.notNull())
      .addColumn("description", "text", (c) => c.notNull());
    for (const column of [
      "conversation_id",
      "lead_id",
      "related_entity_type",
      "related_entity_id",
      "summary",
      "direction",
      "status",
      "status_reason",
    ]) {
      events = events.addColumn(column, "text");
    }
    events = events
      .addColumn("is_warmup", "integer", (c) => c.notNull())
      .addColumn("traffic_type", "text")
      .addColumn("from_phone_number_id", "text")
      .addColumn("outbound_phone_number_id", "text")
      .addColumn("from_phone_number", "text")
      .addColumn("to_phone_number", "text")
      .addColumn("telnyx_id", "text")
      .addColumn("provider_message_id", "text")
      .addColumn("selection_reason", "text")
      .addColumn("was_manually_overridden", "integer", (c) => c.notNull())
      .addColumn("campaign_id", "text")
      .addColumn("source_id", "text")
      .addColumn("ten_dlc_campaign_id", "text")
      .addColumn("compliance_action", "text")
      .addColumn("billing_status", "text")
      .addColumn("billable_micros", "bigint")
      .addColumn("error_code", "text")
      .addColumn("retry_count", "integer", (c) => c.notNull());
    for (const column of [
      "queued_at",
      "sending_started_at",
      "sent_at",
      "delivered_at",
      "received_at",
      "failed_at",
      "undeliverable_at",
      "blocked_at",
      "next_retry_at",
      "scheduled_for",
    ]) {
      events = events.addColumn(column, "bigint");
    }
    await events
      .addColumn("scheduled_reason", "text")
      .addColumn("canceled_at", "bigint")
      .addColumn("cancel_reason", "text")
      .addColumn("media", "text")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .addColumn("modified_at", "bigint")
      .addPrimaryKeyConstraint("events_pk", ["organization_id", "id"])
      .modifyEnd(clusteredOnSqlite(db))
      .execute();
    // One index per list order the API offers (see store/event-list-fields.ts).
    await db.schema
      .createIndex("events_by_created")
      .on("events")
      .columns(["organization_id", "created_at", "id"])
      .execute();
    await db.schema
      .createIndex("events_by_lead")
      .on("events")
      .columns(["organization_id", "lead_id", "created_at", "id"])
      .execute();
    await db.schema
      .createIndex("events_by_conversation")
      .on("events")
      .columns(["organization_id", "conversation_id", "created_at", "id"])
      .execute();
    await db.schema
      .createTable("event_transitions")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("event_id", "text", (c) => c.notNull())
      .addColumn("seq", "integer", (c) => c.notNull())
      .addColumn("at", "bigint", (c) => c.notNull())
      .addColumn("from_status", "text")
      .addColumn("to_status", "text")
      .addColumn("applied", "integer", (c) => c.notNull())
      .addColumn("stage", "text", (c) => c.notNull())
      .addColumn("message", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("event_transitions_pk", ["organization_id", "event_id", "seq"])
      .modifyEnd(clusteredOnSqlite(db))
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const table of [
      "event_transitions",
      "events",
      "conversations",
      "leads",
      "settings",
      "api_keys",
      "users",
      "organizations",
    ]) {
      await sql`drop table if exists ${sql.table(table)}`.execute(db);
    }
  },
};

export const MIGRATIONS: Record<string, Migration> = {
  "0001_initial": initial,
  "0002_messaging": messaging,
  "0003_warmup": warmup,
  "0004_inbound_once": inboundOnce,
  "0005_lead_tags": leadTags,
  "0006_sources": sources,
  "0007_conversation_reads": conversationReads,
  "0008_suppression_identifiers": suppressionIdentifiers,
  "0009_inbound_arrival": inboundArrival,
  "0010_events_by_phone": eventsByPhone,
  "0011_conversation_last_event": conversationLastEvent,
  "0012_lead_utc_date_times": leadUtcDateTimes,
  "0013_requested_schedule": requestedSchedule,
  "0014_usage_ledger_append_only": usageLedgerAppendOnly,
  "0015_warmup_pause": warmupPause,
  "0016_unknown_requested_schedule": unknownRequestedSchedule,
  "0017_owed_receipts": owedReceipts,
  "0018_receipt_lookup": receiptLookup,
  "0019_operator_wait": operatorWait,
  "0020_list_counts": listCounts,
};

export const LATEST_MIGRATION = Object.keys(MIGRATIONS).sort().at(-1) as string;

const provider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};

/**
 * On PostgreSQL the migration tables are looked up in the connection's own schema: Kysely otherwise
 * accepts a kysely_migration table in any schema of the database as "already there".
 */
export function migrator(db: Kysely<unknown>, schema?: string): Migrator {
  return new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) });
}

/** Applies every pending migration; throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string> {
  let schema: string | undefined;
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    const row = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
    schema = row.rows[0]?.schema;
  }
  const { error, results } = await migrator(db, schema).migrateToLatest();
  if (error) {
    const message = error instanceof Error ? error.message : String(error);
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    throw new Error(
      failed ? `migration ${failed} failed: ${message}` : `cannot migrate the database: ${message}`,
    );
  }
  return LATEST_MIGRATION;
}
