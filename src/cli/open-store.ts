import type { Config } from "../config.js";
import { Store } from "../store/store.js";

export function openStore(config: Config): Promise<Store> {
  return Store.open({ databaseUrl: config.databaseUrl, sqlitePath: config.sqlitePath });
}
