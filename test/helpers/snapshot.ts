import type { Kysely } from "kysely";
import type { Database } from "../../src/store/schema.js";

/** Every row of every table, as sorted JSON lines: "changes nothing" is deepEqual. */
export async function snapshotAllRows(db: Kysely<Database>): Promise<Record<string, string[]>> {
  const tables = await db.introspection.getTables();
  const out: Record<string, string[]> = {};
  for (const table of tables) {
    const rows = await db
      .selectFrom(table.name as "events")
      .selectAll()
      .execute();
    out[table.name] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return out;
}
