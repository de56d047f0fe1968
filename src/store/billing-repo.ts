import { type Kysely, sql, type Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import type { Database, UsageLedgerTable, WalletsTable } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

// Wallets hold integer micro-dollars; every charge is a usage-ledger line keyed by its event, so a
// message is charged at most once however many times its "sent" is observed.

export async function createWallet(
  db: Db,
  organizationId: string,
  startingMicros: number,
  now = Date.now(),
): Promise<void> {
  await db
    .insertInto("wallets")
    .values({
      organization_id: organizationId,
      id: newId("wal", now),
      balance_micros: startingMicros,
      purchased_micros: startingMicros,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column("organization_id").doNothing())
    .execute();
}

export async function getWallet(db: Db, organizationId: string): Promise<WalletsTable | undefined> {
  return db
    .selectFrom("wallets")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .executeTakeFirst();
}

export async function creditWallet(
  db: Db,
  organizationId: string,
  micros: number,
  now = Date.now(),
): Promise<WalletsTable | undefined> {
  await db
    .updateTable("wallets")
    .set({
      balance_micros: sql`balance_micros + ${micros}`,
      purchased_micros: sql`purchased_micros + ${micros}`,
      updated_at: now,
    })
    .where("organization_id", "=", organizationId)
    .execute();
  return getWallet(db, organizationId);
}

export type UsageEntry = Omit<UsageLedgerTable, "id">;

/**
 * Records a usage line for an event and, when it has an amount, debits the wallet: both or neither,
 * and only the first time for that event. Returns whether this call did it.
 */
export async function chargeOnce(db: Db, entry: UsageEntry): Promise<boolean> {
  const inserted = await db
    .insertInto("usage_ledger")
    .values({ ...entry, id: newId("use", entry.created_at) })
    .onConflict((oc) =>
      oc.columns(["organization_id", "event_id"]).where("event_id", "is not", null).doNothing(),
    )
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
  if (entry.amount_micros !== 0) {
    await db
      .updateTable("wallets")
      .set({ balance_micros: sql`balance_micros - ${entry.amount_micros}`, updated_at: entry.created_at })
      .where("organization_id", "=", entry.organization_id)
      .execute();
  }
  return true;
}
