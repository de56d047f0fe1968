import { type Kysely, type Migration, sql } from "kysely";

// A worker started with the simulator looks for the messages an earlier process left Sent, whose
// receipts it owed (messaging/unsettled-sends.ts). Nearly every provider id in such a database is the
// simulator's, so the selective condition is the status, which no index had: the look-up read every
// message, on SQLite blocking the process for as long. This index holds only the simulator's
// messages while they are Sent (a handful: they leave it at their receipt), and nothing with a real
// provider. Its condition is spelled as the look-up spells it, literals included (both engines use a
// partial index only for a query whose terms match its own); 'sim_' is simulator.ts's ID_PREFIX.
export const owedReceipts: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`create index events_owed_receipts on events (organization_id, id)
      where status = 'Sent' and substr(provider_message_id, 1, 4) = 'sim_'`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop index events_owed_receipts`.execute(db);
  },
};
