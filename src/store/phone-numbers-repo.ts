import { type Kysely, sql, type Transaction } from "kysely";
import { type HealthStatus, healthFromCounts } from "../domain/sender-selection.js";
import type { Database, PhoneNumberRow } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

const DAY_MS = 86_400_000;
export const HEALTH_WINDOW_DAYS = 7;

export function dayOf(at: number): number {
  return Math.floor(at / DAY_MS);
}

export async function getPhoneNumber(
  db: Db,
  organizationId: string,
  id: string,
): Promise<PhoneNumberRow | undefined> {
  return db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .executeTakeFirst();
}

export async function listPhoneNumbers(db: Db, organizationId: string): Promise<PhoneNumberRow[]> {
  return db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .orderBy("id")
    .execute();
}

/** The organization that owns a number (inbound messages arrive addressed to a number). */
export async function findPhoneNumberByNumber(db: Db, number: string): Promise<PhoneNumberRow | undefined> {
  return db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("number", "=", number)
    .orderBy("created_at")
    .executeTakeFirst();
}

export type OutcomeKind = "sent" | "failed" | "carrier_blocked";

/** Counts one delivery outcome toward the number's health (per UTC day). */
export async function recordOutcome(
  db: Db,
  organizationId: string,
  phoneNumberId: string,
  kind: OutcomeKind,
  at: number,
): Promise<void> {
  const counts = {
    sent: kind === "sent" ? 1 : 0,
    failed: kind === "failed" ? 1 : 0,
    carrier_blocked: kind === "carrier_blocked" ? 1 : 0,
  };
  await db
    .insertInto("phone_number_health_days")
    .values({ organization_id: organizationId, phone_number_id: phoneNumberId, day: dayOf(at), ...counts })
    .onConflict((oc) =>
      oc.columns(["organization_id", "phone_number_id", "day"]).doUpdateSet({
        sent: sql`phone_number_health_days.sent + ${counts.sent}`,
        failed: sql`phone_number_health_days.failed + ${counts.failed}`,
        carrier_blocked: sql`phone_number_health_days.carrier_blocked + ${counts.carrier_blocked}`,
      }),
    )
    .execute();
}

/** Health of every number of the organization from its last seven days of outcomes. */
export async function healthByNumber(
  db: Db,
  organizationId: string,
  now = Date.now(),
): Promise<Map<string, HealthStatus>> {
  const rows = await db
    .selectFrom("phone_number_health_days")
    .select((eb) => [
      "phone_number_id",
      eb.fn.sum<number | string>("sent").as("sent"),
      eb.fn.sum<number | string>("failed").as("failed"),
      eb.fn.sum<number | string>("carrier_blocked").as("carrier_blocked"),
    ])
    .where("organization_id", "=", organizationId)
    .where("day", ">", dayOf(now) - HEALTH_WINDOW_DAYS)
    .groupBy("phone_number_id")
    .execute();
  return new Map(
    rows.map((r) => [
      r.phone_number_id,
      healthFromCounts(Number(r.sent), Number(r.failed), Number(r.carrier_blocked)),
    ]),
  );
}

export async function touchLastUsed(db: Db, organizationId: string, id: string, at: number): Promise<void> {
  await db
    .updateTable("phone_numbers")
    .set({ last_used_at: at })
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .execute();
}
