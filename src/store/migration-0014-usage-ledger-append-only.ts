import { type Kysely, type Migration, sql } from "kysely";
import { newId } from "../domain/ids.js";

// The usage ledger becomes append-only: a refund is a line of its own (the charge negated) instead
// of the charge line rewritten to refunded_credited, and a message charged again after a refund gets
// a third line. An event's lines are numbered by event_entry (0 for its first charge); the unique
// index that kept one line per event now keeps one line per (event, entry), so the first charge is
// still made once however often it is attempted.

interface LedgerLine {
  organization_id: string;
  id: string;
  event_id: string | null;
  event_entry: number;
  channel: string;
  billable_unit: string;
  status: string;
  quantity: number;
  unit_price_micros: number | string;
  amount_micros: number | string;
  lead_id: string | null;
  phone_number_id: string | null;
  phone_number: string | null;
  created_at: number | string;
}

type Ledger = Kysely<{ usage_ledger: LedgerLine }>;

export const usageLedgerAppendOnly: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable("usage_ledger")
      .addColumn("event_entry", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.dropIndex("usage_ledger_once").execute();
    await sql`create unique index usage_ledger_once on usage_ledger (organization_id, event_id, event_entry) where event_id is not null`.execute(
      db,
    );
    // A line refunded before: its charge back as it was, and the refund after it, in the same
    // moment (so every period's totals stay what they were).
    const ledger = db as unknown as Ledger;
    const refunded = await ledger
      .selectFrom("usage_ledger")
      .selectAll()
      .where("status", "=", "refunded_credited")
      .execute();
    for (const line of refunded) {
      const at = Number(line.created_at);
      await ledger
        .insertInto("usage_ledger")
        .values({
          ...line,
          id: newId("use", at),
          event_entry: line.event_entry + 1,
          quantity: -line.quantity,
          amount_micros: -Number(line.amount_micros),
        })
        .execute();
      await ledger
        .updateTable("usage_ledger")
        .set({ status: "charged" })
        .where("organization_id", "=", line.organization_id)
        .where("id", "=", line.id)
        .execute();
    }
  },
  async down(db: Kysely<unknown>) {
    // One line per event again: an event whose last line is a refund (charges and refunds
    // alternate, so an odd last entry) shows its charge as refunded_credited.
    await sql`update usage_ledger set status = 'refunded_credited'
      where event_entry = 0 and event_id is not null and (select max(e.event_entry) from usage_ledger e
        where e.organization_id = usage_ledger.organization_id and e.event_id = usage_ledger.event_id) % 2 = 1`.execute(
      db,
    );
    await sql`delete from usage_ledger where event_entry > 0`.execute(db);
    await db.schema.dropIndex("usage_ledger_once").execute();
    await sql`create unique index usage_ledger_once on usage_ledger (organization_id, event_id) where event_id is not null`.execute(
      db,
    );
    await db.schema.alterTable("usage_ledger").dropColumn("event_entry").execute();
  },
};
