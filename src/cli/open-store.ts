import type { Config } from "../config.js";
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
      `cannot open the PostgreSQL database at ${describeUrl(config.databaseUrl)} (DATABASE_URL): ${reason}`,
    );
  }
}

/**
 * The URL as user@host:port/database. The password is left out, and so is the query string:
 * node-postgres reads `password` and `sslpassword` from it too.
 */
function describeUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    const user = url.username ? `${url.username}@` : "";
    return `${url.protocol}//${user}${url.host}${url.pathname}`;
  } catch {
    return "a value that is not a valid URL";
  }
}
