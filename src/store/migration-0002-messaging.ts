import { type Kysely, type Migration, sql } from "kysely";

// Messaging (issue 3): sender numbers and their health, suppressions, wallets and the usage ledger,
// and the columns that make an outbound event its own job (DESIGN.md "The event is the job").

export const messaging: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable("organizations")
      .addColumn("price_segment_micros", "bigint", (c) => c.notNull().defaultTo(7900))
      .execute();
    await db.schema
      .alterTable("organizations")
      .addColumn("price_mms_micros", "bigint", (c) => c.notNull().defaultTo(20000))
      .execute();

    await db.schema.alterTable("conversations").addColumn("override_phone_number_id", "text").execute();
    await db.schema.alterTable("conversations").addColumn("last_phone_number_id", "text").execute();

    for (const [column, type] of [
      ["body", "text"],
      ["segments", "integer"],
      ["encoding", "text"],
      ["price_micros", "bigint"],
      ["next_attempt_at", "bigint"],
      ["idempotency_key", "text"],
      ["provider", "text"],
      ["error_message", "text"],
      ["outbound_source", "text"],
    ] as const) {
      await db.schema.alterTable("events").addColumn(column, type).execute();
    }
    // The work queue is the events table itself: rows with a due time. Partial, so it stays as
    // small as the amount of pending work, not the history.
    await sql`create index events_due on events (next_attempt_at) where next_attempt_at is not null`.execute(
      db,
    );
    await sql`create unique index events_idempotency on events (organization_id, idempotency_key) where idempotency_key is not null`.execute(
      db,
    );
    await sql`create index events_by_provider_message on events (provider_message_id) where provider_message_id is not null`.execute(
      db,
    );

    await db.schema
      .createTable("phone_numbers")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("number", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("enabled", "integer", (c) => c.notNull())
      .addColumn("sms_enabled", "integer", (c) => c.notNull())
      .addColumn("source_id", "text")
      .addColumn("campaign_id", "text")
      .addColumn("ten_dlc_campaign_id", "text")
      .addColumn("is_preferred", "integer", (c) => c.notNull())
      .addColumn("is_default", "integer", (c) => c.notNull())
      .addColumn("warmup_enabled", "integer", (c) => c.notNull())
      .addColumn("warmup_started_at", "bigint")
      .addColumn("last_used_at", "bigint")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("phone_numbers_pk", ["organization_id", "id"])
      .execute();
    await db.schema
      .createIndex("phone_numbers_by_number")
      .on("phone_numbers")
      .columns(["organization_id", "number"])
      .unique()
      .execute();
    // Inbound messages arrive addressed to a number, before we know the organization.
    await db.schema.createIndex("phone_numbers_number").on("phone_numbers").column("number").execute();

    // Delivery outcomes per number per UTC day: health is computed from the last seven days.
    await db.schema
      .createTable("phone_number_health_days")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("phone_number_id", "text", (c) => c.notNull())
      .addColumn("day", "integer", (c) => c.notNull())
      .addColumn("sent", "integer", (c) => c.notNull())
      .addColumn("failed", "integer", (c) => c.notNull())
      .addColumn("carrier_blocked", "integer", (c) => c.notNull())
      .addPrimaryKeyConstraint("phone_number_health_days_pk", ["organization_id", "phone_number_id", "day"])
      .execute();

    await db.schema
      .createTable("suppressions")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("channel", "text", (c) => c.notNull())
      .addColumn("recipient", "text", (c) => c.notNull())
      .addColumn("phone_number", "text")
      .addColumn("email", "text")
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("source", "text", (c) => c.notNull())
      .addColumn("reason", "text")
      .addColumn("suppressed_at", "bigint", (c) => c.notNull())
      .addColumn("released_at", "bigint")
      .addColumn("audit", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("suppressions_pk", ["organization_id", "id"])
      .execute();
    // One entry per recipient and channel; suppress/release move it between active and released.
    await db.schema
      .createIndex("suppressions_by_recipient")
      .on("suppressions")
      .columns(["organization_id", "channel", "recipient"])
      .unique()
      .execute();
    await db.schema
      .createIndex("suppressions_by_time")
      .on("suppressions")
      .columns(["organization_id", "suppressed_at", "id"])
      .execute();

    await db.schema
      .createTable("wallets")
      .addColumn("organization_id", "text", (c) => c.primaryKey())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("balance_micros", "bigint", (c) => c.notNull())
      .addColumn("purchased_micros", "bigint", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("usage_ledger")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("event_id", "text")
      .addColumn("channel", "text", (c) => c.notNull())
      .addColumn("billable_unit", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("quantity", "integer", (c) => c.notNull())
      .addColumn("unit_price_micros", "bigint", (c) => c.notNull())
      .addColumn("amount_micros", "bigint", (c) => c.notNull())
      .addColumn("lead_id", "text")
      .addColumn("phone_number_id", "text")
      .addColumn("phone_number", "text")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("usage_ledger_pk", ["organization_id", "id"])
      .execute();
    // The guarantee behind "debited exactly once": one ledger line per event.
    await sql`create unique index usage_ledger_once on usage_ledger (organization_id, event_id) where event_id is not null`.execute(
      db,
    );
    await db.schema
      .createIndex("usage_ledger_by_time")
      .on("usage_ledger")
      .columns(["organization_id", "created_at", "id"])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const table of [
      "usage_ledger",
      "wallets",
      "suppressions",
      "phone_number_health_days",
      "phone_numbers",
    ]) {
      await sql`drop table if exists ${sql.table(table)}`.execute(db);
    }
  },
};
