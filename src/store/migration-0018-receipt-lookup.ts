import { type Kysely, type Migration, sql } from "kysely";

// Telnyx tries a message's webhook URLs a few times, then gives up: after an outage of our public
// URL a message it took stays Sent. messaging/receipt-lookup.ts asks Telnyx for such messages, each
// a bounded number of times with backoff; these columns hold how often it was asked and when it may
// be asked next. The partial index holds only the Telnyx messages still Sent that may be asked
// again, keyed by when they are due, so a round reads the few due ones and no others. Its condition
// and key are spelled as the look-up spells them, literals included (both engines use a partial or
// expression index only for a query whose terms match its own): 900000 is RECEIPT_LOOKUP_AFTER_MS
// and 6 MAX_RECEIPT_LOOKUPS there. Adding a column with a constant default rewrites no rows on
// PostgreSQL 11+ nor on SQLite.
export const receiptLookup: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`alter table events add column receipt_lookups integer not null default 0`.execute(db);
    await sql`alter table events add column receipt_lookup_after bigint`.execute(db);
    await sql`create index events_receipt_lookup on events
      ((coalesce(receipt_lookup_after, sent_at + 900000)))
      where status = 'Sent' and telnyx_id is not null and receipt_lookups < 6`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop index events_receipt_lookup`.execute(db);
    await sql`alter table events drop column receipt_lookup_after`.execute(db);
    await sql`alter table events drop column receipt_lookups`.execute(db);
  },
};
