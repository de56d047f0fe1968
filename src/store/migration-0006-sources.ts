import { type Kysely, type Migration, sql } from "kysely";

// Lead sources (Leadping's /sources): the vendors and forms that deliver leads, each with its own
// key (lp_src_…) that may only create leads, and the rules a delivered lead must meet.
export const sources: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("sources")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("description", "text")
      .addColumn("enabled", "integer", (c) => c.notNull())
      // The key itself stays readable (Leadping shows it to the organization's users); the hash is
      // what a request is looked up by. Both are null once the source is deleted.
      .addColumn("api_key", "text")
      .addColumn("api_key_hash", "text")
      .addColumn("api_key_last_used_at", "bigint")
      .addColumn("api_key_total_uses", "bigint", (c) => c.notNull().defaultTo(0))
      .addColumn("cost_per_lead_micros", "bigint")
      .addColumn("allowed_states", "text", (c) => c.notNull())
      .addColumn("allowed_products", "text", (c) => c.notNull())
      .addColumn("requires_trusted_form", "integer", (c) => c.notNull())
      .addColumn("default_tags", "text", (c) => c.notNull())
      .addColumn("user_id", "text", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .addColumn("modified_by", "text")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("modified_at", "bigint")
      .addColumn("first_lead_received_at", "bigint")
      .addColumn("last_lead_received_at", "bigint")
      .addColumn("deleted_at", "bigint")
      .addPrimaryKeyConstraint("sources_pk", ["organization_id", "id"])
      .execute();
    await sql`create unique index sources_by_key on sources (api_key_hash)`.execute(db);
    await sql`create index sources_by_created on sources (organization_id, created_at, id)`.execute(db);
    await sql`create index sources_by_name on sources (organization_id, name, id)`.execute(db);
    // Keys a source no longer holds (re-keyed or deleted): never valid again, nor given out again,
    // so a vendor still posting with one cannot land leads in whichever source took it next.
    await db.schema
      .createTable("retired_source_keys")
      .addColumn("key_hash", "text", (c) => c.primaryKey())
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("source_id", "text", (c) => c.notNull())
      .addColumn("retired_at", "bigint", (c) => c.notNull())
      .execute();
    // A source that sends the same lead again (its sellerLeadId) gets the lead it created: a vendor
    // retrying a delivery must not make a second lead, nor be charged twice.
    await db.schema.alterTable("leads").addColumn("intake_key", "text").execute();
    await sql`create unique index leads_intake_once on leads (organization_id, intake_key)
      where intake_key is not null`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop index leads_intake_once`.execute(db);
    await sql`alter table leads drop column intake_key`.execute(db);
    await sql`drop table retired_source_keys`.execute(db);
    await sql`drop table sources`.execute(db);
  },
};
