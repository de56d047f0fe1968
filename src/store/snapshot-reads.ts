import type { CompiledQuery } from "kysely";

/** Read queries run on one connection, inside one snapshot of the database (see ReadSnapshot). */
export interface SnapshotReads {
  /** The rows as objects keyed by column name, as the driver builds them. */
  objects(query: CompiledQuery): Promise<Record<string, unknown>[]>;
  /** The rows as arrays of values in select order (see ArrayRowReader). */
  arrays(query: CompiledQuery): Promise<unknown[][]>;
}

/**
 * Runs `work`, whose reads all see the same committed state: a write committed while it runs is seen
 * by none of them. For answers made of several reads that must agree (a list page and its totalCount).
 */
export type ReadSnapshot = <T>(work: (reads: SnapshotReads) => Promise<T>) => Promise<T>;
