import { monotonicFactory } from "ulid";

// Time-ordered, prefixed, opaque ids (CONTRACT.md). A monotonic ULID keeps ids created in the same
// millisecond in creation order, so `id` is a valid tie-breaker after `createdAt`.
const nextUlid = monotonicFactory();

export type IdPrefix = "evt" | "lead" | "conv" | "org" | "usr" | "key" | "trn" | "pn" | "sup" | "wal" | "use";

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${nextUlid(now)}`;
}

/** Cheap shape check so obviously foreign ids never reach the database. */
export function looksLikeId(value: string, prefix: IdPrefix): boolean {
  return value.length === prefix.length + 27 && value.startsWith(`${prefix}_`);
}
