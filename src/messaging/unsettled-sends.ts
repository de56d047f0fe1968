import { type Kysely, sql } from "kysely";
import type { Database } from "../store/schema.js";
import type { UnsettledMessage } from "./provider.js";

/**
 * Every organization's messages still Sent whose provider ids start with `prefix`. The status and
 * the prefix are literals, not parameters: for the simulator's prefix that makes the query's terms
 * those of the partial index events_owed_receipts (migration 0017), which the engines then use.
 * substr compares exactly on both engines (LIKE ignores case on SQLite, and its "_" is a wildcard).
 */
export function unsettledSendsQuery(db: Kysely<Database>, prefix: string) {
  return db
    .selectFrom("events")
    .select(["organization_id", "id", "provider_message_id", "to_phone_number"])
    .where("status", "=", sql.lit("Sent"))
    .where(sql`substr(provider_message_id, 1, ${sql.lit(prefix.length)})`, "=", sql.lit(prefix));
}

export async function unsettledSends(db: Kysely<Database>, prefix: string): Promise<UnsettledMessage[]> {
  const rows = await unsettledSendsQuery(db, prefix).execute();
  return rows.flatMap((row) =>
    row.provider_message_id && row.to_phone_number
      ? [
          {
            organizationId: row.organization_id,
            eventId: row.id,
            providerMessageId: row.provider_message_id,
            to: row.to_phone_number,
          },
        ]
      : [],
  );
}
