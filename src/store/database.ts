import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { type CompiledQuery, Kysely } from "kysely";
import pg from "pg";
import { foldCase } from "../domain/case-fold.js";
import { LeadtrailPostgresDialect } from "./pg-dialect.js";
import { NamedStatementPool } from "./pg-named-statements.js";
import type { Database } from "./schema.js";
import { POSTGRES_SEARCH, type SearchMatch, sqliteSearch } from "./search-match.js";
import type { ReadSnapshot, SnapshotReads } from "./snapshot-reads.js";
import { LeadtrailSqliteDialect } from "./sqlite-dialect.js";
import { StatementCache } from "./sqlite-statement-cache.js";

export type Engine = "sqlite" | "postgresql";

/**
 * Runs a compiled read query and answers its rows as arrays of values in select order: for wide rows
 * read in bulk (the event lists), where building each driver row object one property at a time
 * costs more than the query (see eventRowFromArray).
 */
export type ArrayRowReader = (query: CompiledQuery) => Promise<unknown[][]>;

interface ConnectionBase {
  db: Kysely<Database>;
  readArrays: ArrayRowReader;
  /** Reads that must agree, from one snapshot (a list page and its totalCount). */
  readSnapshot: ReadSnapshot;
  /** List search's SQL on this engine. */
  search: SearchMatch;
  close(): Promise<void>;
}

/** SQLite: a lower() for all of Unicode, registered on every connection (see openConnection). */
const SQLITE_UNICODE_LOWER = "leadtrail_lower";

/**
 * One open database: the Kysely handle every repository uses, plus the engine's raw handle for the
 * few hot paths that use prepared statements directly (see event-by-id-reader.ts).
 */
export type Connection =
  | (ConnectionBase & {
      engine: "sqlite";
      raw: SqliteDatabase.Database;
      /**
       * A second handle on the file, for the raw reads outside transactions (GET /events/{id}, list
       * pages): it sees committed rows only. Kysely keeps a transaction open on `raw` across awaits,
       * and a read on `raw` meanwhile saw rows that were not committed yet and might never be (a
       * group commit that rolls back runs its units again, with new ids). `raw` itself for ":memory:".
       */
      reader: SqliteDatabase.Database;
    })
  | (ConnectionBase & { engine: "postgresql"; raw: pg.Pool });

export interface ConnectionOptions {
  /** postgres://… selects PostgreSQL; otherwise SQLite at sqlitePath. */
  databaseUrl?: string | undefined;
  sqlitePath: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** PostgreSQL schema to use (tests isolate themselves in one schema each). */
  pgSchema?: string | undefined;
  /**
   * SQLite: open only an existing file. Commands that act on records already there (a user, a key,
   * a wallet) set it, so a mistyped LEADTRAIL_DB is an error rather than a new, empty database.
   */
  mustExist?: boolean;
}

// BIGINT (int8) columns hold epoch milliseconds and micro-dollars, well inside 2^53: read them as numbers.
export const pgTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded getTypeParser signature
    return pg.types.getTypeParser(oid, format as any);
  },
};

/** How long connecting to PostgreSQL (TCP and handshake) may take before it fails. */
export const PG_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A server that takes the connection but never answers (a stalled proxy, a hung host) must not hang
 * a command or a request for ever: each connection attempt, handshake included, gives up.
 */
class ConnectTimeoutClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super({
      ...(typeof config === "string" ? { connectionString: config } : config),
      connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    });
  }
}

/**
 * The SQLite file in WAL mode, its folder created if need be. SQLite's own errors ("unable to open
 * database file", "file is not a database") do not say which file: this one does.
 */
function openSqliteFile(path: string, mustExist: boolean): SqliteDatabase.Database {
  let raw: SqliteDatabase.Database | undefined;
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    raw = new SqliteDatabase(path, { fileMustExist: mustExist });
    raw.pragma("journal_mode = WAL");
    return raw;
  } catch (error) {
    raw?.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot open the SQLite database at ${path} (LEADTRAIL_DB): ${reason}`);
  }
}

export function openConnection(options: ConnectionOptions): Connection {
  if (options.databaseUrl && /^postgres(ql)?:\/\//i.test(options.databaseUrl)) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      // Not the pool's connectionTimeoutMillis: that one also fails a request that merely waits for
      // a free connection while others hold them all (a lock, a slow query).
      Client: ConnectTimeoutClient,
      types: pgTypes,
      // Named statements (pg-named-statements.ts) save parsing; planning stays per execution, because a
      // generic plan of a prepared statement, made when a table was young or for another
      // organization's data, can pick a bad index (seen: a lead lookup scanning every lead).
      options: [
        "-c plan_cache_mode=force_custom_plan",
        ...(options.pgSchema ? [`-c search_path=${options.pgSchema}`] : []),
      ].join(" "),
    });
    // A client losing its server must not crash the process: idle, the pool reports it here; checked
    // out, pg emits 'error' on the client itself, where nothing listens unless we do (an unhandled
    // 'error' event ends the process). Its query fails either way, and the next one reconnects.
    pool.on("error", () => {});
    pool.on("connect", (client) => client.on("error", () => {}));
    const named = new NamedStatementPool(pool);
    const db = new Kysely<Database>({ dialect: new LeadtrailPostgresDialect({ pool: named }) });
    const readArrays: ArrayRowReader = (query) => named.queryArrays(query.sql, query.parameters);
    // PostgreSQL's own lower() folds all of Unicode (by the database's locale), one character at a
    // time: ς (which no upper-case letter gives it) is made σ, as foldCase does.
    return {
      engine: "postgresql",
      db,
      raw: pool,
      readArrays,
      readSnapshot: (work) => named.readSnapshot(work),
      search: POSTGRES_SEARCH,
      close: () => db.destroy(),
    };
  }
  const mustExist = options.mustExist === true && options.sqlitePath !== ":memory:";
  if (mustExist && !existsSync(options.sqlitePath)) {
    throw new Error(`there is no database at ${options.sqlitePath} (LEADTRAIL_DB)`);
  }
  const raw = openSqliteFile(options.sqlitePath, mustExist);
  raw.pragma("synchronous = NORMAL");
  // Checkpoint every 4,000 WAL pages (16 MiB) rather than 1,000: under SMS load the same hot pages
  // are rewritten over and over, and each checkpoint copies them back and syncs the file.
  raw.pragma("wal_autocheckpoint = 4000");
  // Other processes (a worker, `leadtrail org create`) may write to the same file: wait, don't fail.
  raw.pragma("busy_timeout = 5000");
  raw.pragma("foreign_keys = ON");
  registerUnicodeFold(raw);
  const db = new Kysely<Database>({ dialect: new LeadtrailSqliteDialect(raw) });
  const reader = options.sqlitePath === ":memory:" ? raw : openSqliteReader(options.sqlitePath);
  // Statements of their own on the reader, apart from Kysely's; each read sets the row form it wants.
  const arrayStatements = new StatementCache(reader);
  const readArrays: ArrayRowReader = async (query) =>
    arrayStatements
      .statement(query.sql)
      .raw(true)
      .all(...query.parameters) as unknown[][];
  const snapshotReads: SnapshotReads = {
    objects: async (query) =>
      arrayStatements
        .statement(query.sql)
        .raw(false)
        .all(...query.parameters) as Record<string, unknown>[],
    arrays: readArrays,
  };
  // One read transaction on the reader: WAL gives it the snapshot of its first read until it ends.
  // A snapshot read of another request that starts meanwhile (between this one's awaits) joins it,
  // as transactions do not nest; the last to finish commits. ":memory:" has the writer's handle only,
  // whose transactions are the writes' own: its reads run as they come.
  let snapshotUsers = 0;
  const readSnapshot: ReadSnapshot = async (work) => {
    if (reader === raw) return work(snapshotReads);
    if (snapshotUsers++ === 0) reader.exec("begin");
    try {
      return await work(snapshotReads);
    } finally {
      if (--snapshotUsers === 0) reader.exec("commit");
    }
  };
  return {
    engine: "sqlite",
    db,
    raw,
    reader,
    readArrays,
    readSnapshot,
    search: sqliteSearch(SQLITE_UNICODE_LOWER),
    close: async () => {
      await db.destroy();
      if (reader !== raw) reader.close();
    },
  };
}

/**
 * SQLite's lower() folds ASCII letters only, so a search for "Émile" would miss a stored "Émile"
 * (lowered to "Émile", the term to "émile"). List search calls this instead when its term is not
 * ASCII (an ASCII term stays on the fast path: search-match.ts).
 */
function registerUnicodeFold(handle: SqliteDatabase.Database): void {
  handle.function(SQLITE_UNICODE_LOWER, { deterministic: true }, (value: unknown) =>
    typeof value === "string" ? foldCase(value) : value,
  );
}

/** The read-only second handle on a file the writer has opened (so it exists, in WAL mode). */
function openSqliteReader(path: string): SqliteDatabase.Database {
  const reader = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  reader.pragma("busy_timeout = 5000");
  registerUnicodeFold(reader);
  return reader;
}
