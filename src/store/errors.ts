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
