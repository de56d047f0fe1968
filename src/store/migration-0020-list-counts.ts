import { type Kysely, type Migration, SqliteAdapter, sql } from "kysely";

// includeCount on a big list counted through the lists' ordered indexes, on PostgreSQL: a business
// number's thread (`/events/sms/phone/{number}`, about 770,000 messages in a 1,000,000-event
// organization) through events_by_from_phone and events_by_to_phone, whose entries carry created_at
// and the event id (~100 bytes each, 161 and 166 MB: 21,000 pages), or through a parallel scan of
// the whole table (57,000 pages) when the planner prices that lower; `/events/all/my` through the
// primary key (10,400 pages), `/events/sms/all/my` through the table. These two indexes hold only the columns the counted
// conditions compare, so their keys repeat, and B-tree deduplication stores each run of equal keys
// once with its row ids: 10 and 12 MB, and the same counts are index-only scans of about 1,300 pages.
// The first also counts an organization's events, all or of some types. Pages keep their ordered
// indexes (a LIMIT in index order is cheaper than sorting a thread); only a thread of a few rows
// may be read through these and sorted. Like every index-only scan, these need the visibility map
// kept up by (auto)vacuum: rows changed since the last vacuum are read from the table.
//
// Not on SQLite: its B-tree has no deduplication, so the entries are only somewhat shorter. Measured
// there, its counts took half the CPU, but bench-seed took 23% more CPU (its seed target is
// 100,000 events/s) and every new message would write two more index entries. bench/RESULTS.md,
// "includeCount on a big list", has the figures.
export const listCounts: Migration = {
  async up(db: Kysely<unknown>) {
    if (db.getExecutor().adapter instanceof SqliteAdapter) return;
    await sql`create index events_count_by_type_from
      on events (organization_id, activity_type, from_phone_number)`.execute(db);
    await sql`create index events_count_by_to
      on events (organization_id, to_phone_number, activity_type, from_phone_number)
      where to_phone_number is not null`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    if (db.getExecutor().adapter instanceof SqliteAdapter) return;
    await sql`drop index events_count_by_to`.execute(db);
    await sql`drop index events_count_by_type_from`.execute(db);
  },
};
