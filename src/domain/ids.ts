import { randomFillSync } from "node:crypto";
import { monotonicFactory } from "ulid";

// Time-ordered, prefixed, opaque ids (CONTRACT.md). A monotonic ULID keeps ids created in the same
// millisecond in creation order, so `id` is a valid tie-breaker after `createdAt`.
//
// ulid's default random source asks the OS for one byte per character (16 calls per id); this one
// draws the same cryptographic randomness from a pool filled 4 KiB at a time.
const pool = new Uint32Array(1024);
let poolIndex = pool.length;

function pooledCryptoRandom(): number {
  if (poolIndex === pool.length) {
    randomFillSync(pool);
    poolIndex = 0;
  }
  return pool[poolIndex++]! / 2 ** 32;
}

const nextUlid = monotonicFactory(pooledCryptoRandom);

export type IdPrefix =
  | "evt"
  | "lead"
  | "conv"
  | "org"
  | "usr"
  | "key"
  | "trn"
  | "pn"
  | "sup"
  | "wal"
  | "use"
  | "src";

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${nextUlid(now)}`;
}

/** Cheap shape check so obviously foreign ids never reach the database. */
export function looksLikeId(value: string, prefix: IdPrefix): boolean {
  return value.length === prefix.length + 27 && value.startsWith(`${prefix}_`);
}
