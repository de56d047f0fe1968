import type SqliteDatabase from "better-sqlite3";
import { CompiledQuery, type DatabaseConnection, type Driver, SqliteDialect, SqliteDriver } from "kysely";
import { StatementCache } from "./sqlite-statement-cache.js";

// Kysely's SQLite dialect with two changes, both for throughput and safety under load:
// - statements are prepared once and reused (StatementCache);
// - transactions start with BEGIN IMMEDIATE. Kysely's plain BEGIN takes the write lock only at the
//   first write, and when another process (a second worker, `leadtrail org create`) committed in
//   between, that upgrade fails at once with SQLITE_BUSY instead of waiting busy_timeout. Every
//   Kysely transaction here writes, so taking the lock up front costs nothing.

class ImmediateTransactionDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}

export class LeadtrailSqliteDialect extends SqliteDialect {
  private readonly statements: StatementCache;

  constructor(raw: SqliteDatabase.Database) {
    const statements = new StatementCache(raw);
    super({ database: statements });
    this.statements = statements;
  }

  override createDriver(): Driver {
    return new ImmediateTransactionDriver({ database: this.statements });
  }
}
