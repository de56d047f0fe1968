import type SqliteDatabase from "better-sqlite3";
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
} from "kysely";
import { StatementCache } from "./sqlite-statement-cache.js";

// Kysely's SQLite dialect with three changes, for throughput and safety under load:
// - statements are prepared once and reused (StatementCache);
// - transactions start with BEGIN IMMEDIATE. Kysely's plain BEGIN takes the write lock only at the
//   first write, and when another process (a second worker, `leadtrail org create`) committed in
//   between, that upgrade fails at once with SQLITE_BUSY instead of waiting busy_timeout. Every
//   Kysely transaction here writes, so taking the lock up front costs nothing.

// - migrations run in one transaction. Kysely's SQLite adapter runs them outside any and takes no lock
//   (it assumes one process), so two commands opening a new file at once both applied 0001 and one
//   failed ("table organizations already exists"). SQLite's DDL is transactional; in a BEGIN
//   IMMEDIATE transaction the second process waits for the first, then finds nothing left to do.

class ImmediateTransactionDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}

class TransactionalDdlAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
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

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlAdapter();
  }
}
