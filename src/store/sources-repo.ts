import { type Kysely, sql, type Transaction } from "kysely";
import type { SourceRules } from "../domain/sources.js";
import type { TagRef } from "../domain/tags.js";
import { transactKnowingCommit } from "./commit-outcome.js";
import type { ListSpec } from "./list-query.js";
import { lockForTransaction, shareLockForTransaction } from "./locks.js";
import type { Database, SourceRow } from "./schema.js";
import type { ListNarrowing } from "./store.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The index that keeps a source key to one source. */
export const SOURCE_KEY_INDEX = { index: "sources_by_key", columns: "sources.api_key_hash" };

export const SOURCE_LIST_SPEC: ListSpec = {
  resource: "sources",
  table: "sources",
  fields: {
    id: { column: "id", kind: "string", order: true, filter: true },
    createdAt: { column: "created_at", kind: "timestamp", range: true, order: true },
    modifiedAt: { column: "modified_at", kind: "timestamp", range: true },
    name: { column: "name", kind: "string", order: true, filter: true, search: true },
    description: { column: "description", kind: "string", search: true },
    enabled: { column: "enabled", kind: "boolean", filter: true },
    firstLeadReceivedAt: { column: "first_lead_received_at", kind: "timestamp", range: true },
    lastLeadReceivedAt: { column: "last_lead_received_at", kind: "timestamp", range: true },
    apiKeyLastUsedAt: { column: "api_key_last_used_at", kind: "timestamp", range: true },
  },
  defaultOrder: { field: "createdAt", direction: "desc" },
  tieBreakers: ["id"],
};

/** Lists show the sources that are not deleted. */
export const LIVE_SOURCES: ListNarrowing = { conditions: [sql`deleted_at is null`], key: "" };

/** The source's allowlists (JSON text columns). */
export function sourceLists(row: Pick<SourceRow, "allowed_states" | "allowed_products">) {
  return {
    allowedStates: JSON.parse(row.allowed_states) as string[],
    allowedProducts: JSON.parse(row.allowed_products) as string[],
  };
}

export function sourceRules(row: SourceRow): SourceRules {
  return {
    ...sourceLists(row),
    requiresTrustedForm: row.requires_trusted_form === 1,
  };
}

export function sourceDefaultTags(row: Pick<SourceRow, "default_tags">): TagRef[] {
  return JSON.parse(row.default_tags) as TagRef[];
}

export async function insertSource(db: Db, row: SourceRow): Promise<void> {
  await db.insertInto("sources").values(row).execute();
}

/** A source of the organization that is not deleted. */
export async function getSource(db: Db, organizationId: string, id: string): Promise<SourceRow | undefined> {
  return db
    .selectFrom("sources")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
}

/** The source a key belongs to (deleted sources hold no key). */
export async function findSourceByKeyHash(db: Db, keyHash: string): Promise<SourceRow | undefined> {
  return db.selectFrom("sources").selectAll().where("api_key_hash", "=", keyHash).executeTakeFirst();
}

/**
 * Whether a source (of any organization) holds this key now, or ever held it. Live first: a key
 * being retired by a transaction committing meanwhile is seen live before, retired after.
 */
export async function isSourceKeyUsed(db: Db, keyHash: string): Promise<boolean> {
  const live = await db
    .selectFrom("sources")
    .select("id")
    .where("api_key_hash", "=", keyHash)
    .executeTakeFirst();
  if (live) return true;
  const retired = await db
    .selectFrom("retired_source_keys")
    .select("key_hash")
    .where("key_hash", "=", keyHash)
    .executeTakeFirst();
  return retired !== undefined;
}

/** Whether this source held this key before (a stale copy of the source may send it back). */
export async function wasKeyOfSource(db: Db, keyHash: string, organizationId: string, sourceId: string) {
  const row = await db
    .selectFrom("retired_source_keys")
    .select("key_hash")
    .where("key_hash", "=", keyHash)
    .where("organization_id", "=", organizationId)
    .where("source_id", "=", sourceId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Records a key the source gives up, so that it is never accepted or issued again. */
export async function retireSourceKey(db: Db, source: SourceRow, now: number): Promise<void> {
  if (!source.api_key_hash) return;
  await db
    .insertInto("retired_source_keys")
    .values({
      key_hash: source.api_key_hash,
      organization_id: source.organization_id,
      source_id: source.id,
      retired_at: now,
    })
    .onConflict((oc) => oc.column("key_hash").doNothing())
    .execute();
}

/**
 * Names of sources by id, deleted ones included: a lead keeps naming the source that delivered it.
 * Ids that are no source (free-form attribution in older leads' metadata) are left out.
 */
export async function sourceNames(
  db: Db,
  organizationId: string,
  ids: string[],
): Promise<Map<string, string>> {
  const wanted = [...new Set(ids)].filter((id) => id.startsWith("src_"));
  if (wanted.length === 0) return new Map();
  const rows = await db
    .selectFrom("sources")
    .select(["id", "name"])
    .where("organization_id", "=", organizationId)
    .where("id", "in", wanted)
    .execute();
  return new Map(rows.map((r) => [r.id, r.name]));
}

export type SourceChanges = Partial<
  Omit<SourceRow, "organization_id" | "id" | "created_at" | "created_by" | "user_id">
>;

export async function updateSource(
  db: Db,
  organizationId: string,
  id: string,
  changes: SourceChanges,
): Promise<void> {
  await db
    .updateTable("sources")
    .set(changes)
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .execute();
}

/** Serializes the transactions that change one source (PUT, DELETE), until each ends. */
export async function lockSource(trx: Transaction<Database>, organizationId: string, id: string) {
  await lockForTransaction(trx, `source:${organizationId}:${id}`);
}

/**
 * What lead intake holds while it writes a lead with the source's key: deliveries of one source run
 * side by side, but a re-keying or a delete (lockSource) waits for them, and they for it, so no lead
 * is written with a key that a PUT has already answered as retired.
 */
export async function shareLockSource(trx: Transaction<Database>, organizationId: string, id: string) {
  await shareLockForTransaction(trx, `source:${organizationId}:${id}`);
}

/**
 * Deletes a source: it leaves lists and its key is retired; its name stays for its leads. False when
 * there is no such source.
 */
export async function deleteSource(db: Kysely<Database>, organizationId: string, id: string, now: number) {
  return transactKnowingCommit(db, async (trx) => {
    await lockSource(trx, organizationId, id);
    const source = await getSource(trx, organizationId, id);
    if (!source) return false;
    await retireSourceKey(trx, source, now);
    await updateSource(trx, organizationId, id, {
      deleted_at: now,
      api_key: null,
      api_key_hash: null,
      enabled: 0,
    });
    return true;
  });
}

type StampColumn = "api_key_last_used_at" | "first_lead_received_at" | "last_lead_received_at";

/**
 * A time column moved to `at` only outwards: to a later time ("later") or an earlier one ("earlier"),
 * or set when it is null. Requests running side by side write their stamps in any order, and one
 * that lands last must not move the stamp back.
 */
function outwardsTo(column: StampColumn, at: number, towards: "later" | "earlier") {
  const time = sql<number>`cast(${at} as bigint)`;
  const op = sql.raw(towards === "later" ? "<" : ">");
  return sql<number>`case when ${sql.ref(column)} is null or ${sql.ref(column)} ${op} ${time}
    then ${time} else ${sql.ref(column)} end`;
}

/** Counts one authenticated request made with the source's key (its last use only moves forward). */
export async function noteSourceKeyUse(
  db: Db,
  organizationId: string,
  id: string,
  now: number,
): Promise<void> {
  await db
    .updateTable("sources")
    .set({
      api_key_last_used_at: outwardsTo("api_key_last_used_at", now, "later"),
      api_key_total_uses: sql`api_key_total_uses + 1`,
    })
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .execute();
}

/**
 * Stamps a lead the source delivered (first and last received). Deliveries running side by side
 * stamp in any order, so each stamp only moves outwards: first never later, last never earlier.
 */
export async function noteSourceLead(db: Db, organizationId: string, id: string, now: number): Promise<void> {
  await db
    .updateTable("sources")
    .set({
      first_lead_received_at: outwardsTo("first_lead_received_at", now, "earlier"),
      last_lead_received_at: outwardsTo("last_lead_received_at", now, "later"),
    })
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .execute();
}
