import type SqliteDatabase from "better-sqlite3";
import type { SqliteDatabase as KyselySqliteDatabase, SqliteStatement } from "kysely";

// Kysely's SQLite driver prepares every query afresh; with better-sqlite3, preparing costs more than
// running a short statement (it was a quarter of the server's CPU under SMS load). This hands Kysely
// the same prepared statement for the same SQL text, from a bounded least-recently-used cache.
//
// A statement still iterating (a streamed query) is busy and cannot be reused until it finishes:
// such a request gets a fresh, uncached statement.

const DEFAULT_CAPACITY = 1000;

export class StatementCache implements KyselySqliteDatabase {
  private readonly statements = new Map<string, SqliteDatabase.Statement>();

  constructor(
    private readonly db: SqliteDatabase.Database,
    private readonly capacity = DEFAULT_CAPACITY,
  ) {}

  prepare(sql: string): SqliteStatement {
    return this.statement(sql);
  }

  /** The cached statement for `sql`, as better-sqlite3's own type. */
  statement(sql: string): SqliteDatabase.Statement {
    const cached = this.statements.get(sql);
    if (cached && !cached.busy) {
      // Move to the most recently used end (Map keeps insertion order).
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    const statement = this.db.prepare(sql);
    if (cached) return statement;
    this.statements.set(sql, statement);
    if (this.statements.size > this.capacity) {
      const oldest = this.statements.keys().next().value;
      if (oldest !== undefined) this.statements.delete(oldest);
    }
    return statement;
  }

  get size(): number {
    return this.statements.size;
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }
}
