import { type Kysely, type Migration, sql } from "kysely";
import { type LeadDocument, withUtcDateTimes } from "../domain/lead.js";

// Leads written before their metadata date-times were normalized kept the client's spelling
// ("2026-03-01T09:00:00-05:00"); the contract answers UTC with Z. This rewrites those documents once,
// so a lead is answered as stored and no read has to normalize it again. Running it twice changes
// nothing (a lead already in Z form is left alone), which matters on SQLite, where a migration is
// not one transaction. Down is a no-op: the original spellings are the same instants.
export const leadUtcDateTimes: Migration = {
  async up(db: Kysely<unknown>) {
    for await (const leads of leadsWithDateTimes(db)) {
      for (const lead of leads) {
        const utc = JSON.stringify(withUtcDateTimes(JSON.parse(lead.document) as LeadDocument));
        if (utc === lead.document) continue;
        await sql`update leads set document = ${utc}
          where organization_id = ${lead.organization_id} and id = ${lead.id}`.execute(db);
      }
    }
  },
  async down() {},
};

interface StoredLead {
  organization_id: string;
  id: string;
  document: string;
}

const BATCH = 500;

/** Leads whose document holds any "…At" string, in keyset batches (the others are never read). */
async function* leadsWithDateTimes(db: Kysely<unknown>): AsyncGenerator<StoredLead[]> {
  let after: [string, string] = ["", ""];
  for (;;) {
    const { rows } = await sql<StoredLead>`select organization_id, id, document from leads
      where (organization_id > ${after[0]} or (organization_id = ${after[0]} and id > ${after[1]}))
        and document like ${'%At":"%'}
      order by organization_id, id limit ${BATCH}`.execute(db);
    if (rows.length === 0) return;
    yield rows;
    const last = rows[rows.length - 1]!;
    after = [last.organization_id, last.id];
  }
}
