import { type Kysely, type Migration, sql } from "kysely";

/** The index that makes an inbound message (by its provider's id) recorded at most once. */
export const INBOUND_ONCE = { index: "events_inbound_once", columns: "events.provider_message_id" };

// A provider redelivers an inbound webhook it thinks we missed, sometimes while the first delivery is
// still being handled. The check before recording cannot see a delivery in flight; this index can,
// so the second recording fails and rolls back (with its lead, keyword reply and suppression).
export const inboundOnce: Migration = {
  async up(db: Kysely<unknown>) {
    // Copies recorded before this index existed keep their event but lose the provider id, so the
    // first recording stays the one the id finds.
    await sql`
      update events set provider_message_id = null
      where direction = 'inbound' and provider_message_id is not null
        and exists (
          select 1 from events first
          where first.direction = 'inbound'
            and first.provider_message_id = events.provider_message_id
            and (first.created_at < events.created_at
              or (first.created_at = events.created_at and first.id < events.id))
        )`.execute(db);
    await sql`create unique index events_inbound_once on events (provider_message_id)
      where direction = 'inbound' and provider_message_id is not null`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop index events_inbound_once`.execute(db);
  },
};
