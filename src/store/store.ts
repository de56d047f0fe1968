import { type RawBuilder, sql } from "kysely";
import { CursorCodec } from "./cursor.js";
import { type Connection, type ConnectionOptions, openConnection } from "./database.js";
import { type EventByIdReader, eventByIdReader } from "./event-by-id-reader.js";
import { KeyedConcurrency } from "./keyed-concurrency.js";
import { type ListPage, type ListSpec, parseListOptions, runList, scopeKeyOf } from "./list-query.js";
import { LATEST_MIGRATION, migrateToLatest } from "./migrations.js";
import { type ApiKeyOwner, findApiKeyOwner, getOrCreateSecret } from "./orgs-repo.js";
import { findSourceByKeyHash, noteSourceKeyUse } from "./sources-repo.js";
import { UserDirectory } from "./user-directory.js";

/** Conditions a list adds to its spec's, and the key its continuation tokens are bound to. */
export interface ListNarrowing {
  conditions: RawBuilder<unknown>[];
  key: string;
  /** Rows must also meet at least one of these (read one branch per condition: see runList). */
  anyOf?: RawBuilder<unknown>[];
}

/** What one query parameter adds: its conditions, and its part of the key (empty when not given). */
export type NarrowingPart = ListNarrowing;

/**
 * A list's narrowing from the parts its query parameters give, in a fixed order: their conditions,
 * and a key of the path scope's and theirs (a part with no key, i.e. a parameter not given, adds
 * nothing, so a list queried without any keeps the scope's key alone).
 */
export function narrowingOf(scope: Record<string, string>, parts: NarrowingPart[]): ListNarrowing {
  return {
    conditions: parts.flatMap((p) => p.conditions),
    key: [scopeKeyOf(scope), ...parts.map((p) => p.key).filter(Boolean)].join("|"),
  };
}

/**
 * List requests of one organization that search text or count may run at once in this process; more
 * wait their turn. Such a request reads many of the organization's rows (no index serves a substring
 * search, and a count reads every match): without a cap, one organization's burst of them held every
 * PostgreSQL connection of the pool, and every other organization's requests waited seconds.
 */
export const SCANS_PER_ORGANIZATION = 2;

/**
 * The store: one open database (SQLite or PostgreSQL), migrated, with the hot-path readers and the
 * continuation-token codec ready. Repositories take `store.db` (Kysely) for everything else.
 */
export class Store {
  /** Event authors' names and emails, cached for the process. */
  readonly users: UserDirectory;
  private readonly scans = new KeyedConcurrency(SCANS_PER_ORGANIZATION);

  private constructor(
    readonly conn: Connection,
    readonly cursors: CursorCodec,
    readonly getEventById: EventByIdReader,
    /**
     * Signs the org and event of the Telnyx webhook URLs (messaging/providers/telnyx-webhook-url.ts);
     * a secret apart from the continuation tokens', so that rotating one leaves the other valid.
     */
    readonly webhookUrlSecret: Buffer,
  ) {
    this.users = new UserDirectory(conn.db);
  }

  static async open(options: ConnectionOptions): Promise<Store> {
    const conn = openConnection(options);
    try {
      await migrateToLatest(conn.db as never);
      const secret = await getOrCreateSecret(conn.db, "cursor_secret");
      const webhookUrlSecret = await getOrCreateSecret(conn.db, "webhook_url_secret");
      return new Store(conn, new CursorCodec(secret), eventByIdReader(conn), webhookUrlSecret);
    } catch (error) {
      await conn.close();
      throw error;
    }
  }

  get db() {
    return this.conn.db;
  }

  get engine() {
    return this.conn.engine;
  }

  findApiKeyOwner(keyHash: string): Promise<ApiKeyOwner | null> {
    return findApiKeyOwner(this.db, keyHash);
  }

  /** Counts one request made with a source's key (SourceTableRow.apiKeyTotalUses, apiKeyLastUsedAt). */
  noteSourceKeyUse(organizationId: string, sourceId: string, now: number = Date.now()): Promise<void> {
    return noteSourceKeyUse(this.db, organizationId, sourceId, now);
  }

  /** The source holding a source key, as who its requests act as (its user, in its organization). */
  async findSourceKeyOwner(
    keyHash: string,
  ): Promise<{ organizationId: string; userId: string; sourceId: string } | null> {
    const row = await findSourceByKeyHash(this.db, keyHash);
    return row ? { organizationId: row.organization_id, userId: row.user_id, sourceId: row.id } : null;
  }

  /**
   * One page of a list request (RequestDataOptions in `body`) over an organization's rows, narrowed to
   * `scope` (say, one lead's) when given; the continuation token is bound to that scope. `narrowing`
   * adds conditions of the caller's own (the SMS lists' message types), bound to its key instead.
   */
  listPage<Row>(
    spec: ListSpec,
    organizationId: string,
    body: unknown,
    scope: Record<string, string> = {},
    narrowing: ListNarrowing = { conditions: [], key: scopeKeyOf(scope) },
  ): Promise<ListPage<Row>> {
    const parsed = parseListOptions(spec, body, narrowing.key, this.conn.search);
    parsed.conditions.push(...narrowing.conditions);
    const fullScope = { organization_id: organizationId, ...scope };
    const run = () =>
      runList<Row>(this.db, spec, fullScope, parsed, this.cursors, this.conn, narrowing.anyOf);
    if (!parsed.searches && !parsed.includeCount) return run();
    return this.scans.run(organizationId, async () => {
      // SQLite reads on this thread: a task let through by a finishing one would otherwise start in
      // the same turn of the event loop, and a chain of long scans would never let a request in.
      await new Promise((resolve) => setImmediate(resolve));
      return run();
    });
  }

  /** The newest applied migration, read from the database itself (for /healthz). */
  async migrationVersion(): Promise<string | null> {
    const rows = await sql<{
      name: string;
    }>`select name from kysely_migration order by name desc limit 1`.execute(this.db);
    return rows.rows[0]?.name ?? null;
  }

  get expectedMigration(): string {
    return LATEST_MIGRATION;
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
