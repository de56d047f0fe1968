import type { Config } from "../config.js";
import { describeDatabaseUrl } from "../database-url.js";
import { Store } from "../store/store.js";

/** `existing`: the command acts on records already there, so an SQLite file that is not there is an error. */
export async function openStore(config: Config, options: { existing?: boolean } = {}): Promise<Store> {
  try {
    return await Store.open({
      databaseUrl: config.databaseUrl,
      sqlitePath: config.sqlitePath,
      mustExist: options.existing === true,
    });
  } catch (error) {
    // node-postgres says "timeout expired" or "Invalid URL" without saying of what; SQLite's errors
    // already name the file (store/database.ts).
    if (!config.databaseUrl) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot open the PostgreSQL database at ${describeDatabaseUrl(config.databaseUrl)} (DATABASE_URL): ${reason}`,
    );
  }
}
