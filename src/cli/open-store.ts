import type { Config } from "../config.js";
import { Store } from "../store/store.js";

/** `existing`: the command acts on records already there, so an SQLite file that is not there is an error. */
export function openStore(config: Config, options: { existing?: boolean } = {}): Promise<Store> {
  return Store.open({
    databaseUrl: config.databaseUrl,
    sqlitePath: config.sqlitePath,
    mustExist: options.existing === true,
  });
}
