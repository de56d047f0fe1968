import { type Kysely, type Migration, sql } from "kysely";

// A phone number's messages (`/events/sms/phone/{number}`, the `toPhoneNumber` filter) in the lists'
// default order: without these, finding a lead's thread walked every event of the organization. Only
// messages have phone numbers, so the indexes leave the other events out. The trailing columns make
// the thread's count a read of the index alone: the message-type condition reads activity_type, and
// the to-number branch, which leaves out what the from-number branch took, reads from_phone_number
// (without them SQLite, which has no statistics here, counts by walking the organization's rows).
export const eventsByPhone: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`create index events_by_from_phone
      on events (organization_id, from_phone_number, created_at, id, activity_type)
      where from_phone_number is not null`.execute(db);
    await sql`create index events_by_to_phone
      on events (organization_id, to_phone_number, created_at, id, activity_type, from_phone_number)
      where to_phone_number is not null`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop index events_by_to_phone`.execute(db);
    await sql`drop index events_by_from_phone`.execute(db);
  },
};
