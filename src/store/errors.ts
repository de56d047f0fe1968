/**
 * A unique-constraint violation, on either engine. With `on`, only a violation of that index:
 * PostgreSQL names the index, SQLite names its columns ("UNIQUE constraint failed: table.column").
 */
export function isUniqueViolation(error: unknown, on?: { index: string; columns: string }): boolean {
  const e = error as { code?: string; message?: string; constraint?: string } | null;
  if (e?.code === "23505") return !on || e.constraint === on.index;
  const message = e?.message ?? "";
  if (e?.code !== "SQLITE_CONSTRAINT_UNIQUE" && !/UNIQUE constraint failed/.test(message)) return false;
  return !on || message.includes(on.columns);
}

/**
 * PostgreSQL aborted the transaction to break a deadlock (40P01) or a serialization conflict (40001):
 * nothing it did remains, and the same work may simply run again.
 */
export function isTransientConflict(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "40P01" || code === "40001";
}

/** Connection-level failures of the network or of the PostgreSQL server (Node's system error codes). */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/** What node-postgres throws when a connection dies or cannot be made (it sets no code). */
const PG_CONNECTION_MESSAGE =
  /^(Connection terminated|timeout expired|Client has encountered a connection error)/;

/**
 * The database cannot serve the request now, through no fault of the request: PostgreSQL unreachable,
 * shutting down, refusing connections or out of them (SQLSTATE class 08, 57P0x, 53300, any FATAL),
 * or SQLite busy past busy_timeout, out of disk or failing its I/O. The request may be retried.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; severity?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  if (UNREACHABLE.has(code)) return true;
  if (code.startsWith("08") || /^57P0[1-3]$/.test(code) || code === "53300" || e?.severity === "FATAL")
    return true;
  if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)/.test(code)) return true;
  return typeof e?.message === "string" && PG_CONNECTION_MESSAGE.test(e.message);
}
