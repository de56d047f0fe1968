import { randomBytes } from "node:crypto";
import { type RawBuilder, sql, type Transaction } from "kysely";
import { normalizeTagName, suffixedTagId, type TagRef, tagIdForName } from "../domain/tags.js";
import { lockForTransaction } from "./locks.js";
import type { Database } from "./schema.js";

type Trx = Transaction<Database>;

async function tagByName(trx: Trx, organizationId: string, normalizedName: string) {
  return trx
    .selectFrom("tags")
    .select(["id", "name"])
    .where("organization_id", "=", organizationId)
    .where("normalized_name", "=", normalizedName)
    .executeTakeFirst();
}

async function tagById(trx: Trx, organizationId: string, id: string) {
  return trx
    .selectFrom("tags")
    .select(["id", "name"])
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .executeTakeFirst();
}

/**
 * Adds a tag unless one with its id or name is there (a concurrent lead may be adding the same one:
 * on PostgreSQL the insert waits for it and then does nothing), then answers the tag of that name.
 */
async function createTag(trx: Trx, organizationId: string, tag: TagRef, normalized: string, now: number) {
  await trx
    .insertInto("tags")
    .values({
      organization_id: organizationId,
      id: tag.id,
      name: tag.name,
      normalized_name: normalized,
      created_at: now,
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
  return tagByName(trx, organizationId, normalized);
}

/** The organization's tag of this name, created on first use ("Hot" and " hot" are one tag). */
async function tagNamed(trx: Trx, organizationId: string, name: string, now: number): Promise<TagRef> {
  const normalized = normalizeTagName(name);
  const existing = await tagByName(trx, organizationId, normalized);
  if (existing) return existing;
  const readable = tagIdForName(normalized);
  const taken = (await tagById(trx, organizationId, readable)) !== undefined;
  const suffixed = suffixedTagId(readable, normalized);
  // Both may be held by tags carried over by id (tagWithId): a random suffix then, as no id is known.
  const fallback = `${readable}-${randomBytes(4).toString("hex")}`;
  for (const id of taken ? [suffixed, fallback] : [readable, suffixed, fallback]) {
    const tag = await createTag(trx, organizationId, { id, name: name.trim() }, normalized, now);
    if (tag) return tag;
  }
  throw new Error(`tag '${normalized}' could not be created`);
}

/**
 * The organization's tag with this id. An id leadtrail has not seen (a client carrying ids over from
 * another system) becomes a tag named by its id rather than a refused lead or a lost tag.
 */
async function tagWithId(trx: Trx, organizationId: string, id: string, now: number): Promise<TagRef> {
  const existing = await tagById(trx, organizationId, id);
  if (existing) return existing;
  const normalized = normalizeTagName(id);
  // A tag of that name (or, concurrently, of that id) may be there already: either serves.
  const created = await createTag(trx, organizationId, { id, name: id.trim() }, normalized, now);
  const tag = created ?? (await tagById(trx, organizationId, id));
  if (!tag) throw new Error(`tag '${id}' could not be created`);
  return tag;
}

/** The organization's tags among these names and ids, in one query. */
async function knownTags(trx: Trx, organizationId: string, names: string[], ids: string[]) {
  const rows = await trx
    .selectFrom("tags")
    .select(["id", "name", "normalized_name"])
    .where("organization_id", "=", organizationId)
    .where((eb) =>
      eb.or([
        ...(names.length > 0 ? [eb("normalized_name", "in", names)] : []),
        ...(ids.length > 0 ? [eb("id", "in", ids)] : []),
      ]),
    )
    .execute();
  return {
    byName: new Map(rows.map((r) => [r.normalized_name, { id: r.id, name: r.name }])),
    byId: new Map(rows.map((r) => [r.id, { id: r.id, name: r.name }])),
  };
}

/**
 * A lead's tags from its request: names first, then ids, each tag once. Tags that exist are read in
 * one query; creating missing ones is serialized per organization, because two leads adding tags
 * (a, b) and (b, a) at once would each hold one and wait for the other (a deadlock on PostgreSQL).
 */
export async function resolveTags(
  trx: Trx,
  organizationId: string,
  request: { tagNames: readonly string[]; tagIds: readonly string[] },
  now: number,
): Promise<TagRef[]> {
  if (request.tagNames.length + request.tagIds.length === 0) return [];
  const names = [...new Set(request.tagNames.map(normalizeTagName))];
  const ids = [...new Set(request.tagIds)];
  const known = await knownTags(trx, organizationId, names, ids);
  const missing =
    names.some((n) => !known.byName.has(n)) ||
    ids.some((id) => !known.byId.has(id) && !known.byName.has(normalizeTagName(id)));
  if (missing) await lockForTransaction(trx, `tags:${organizationId}`);
  const tags = new Map<string, TagRef>();
  for (const name of request.tagNames) {
    const tag = known.byName.get(normalizeTagName(name)) ?? (await tagNamed(trx, organizationId, name, now));
    tags.set(tag.id, tag);
  }
  for (const id of request.tagIds) {
    const tag =
      known.byId.get(id) ??
      known.byName.get(normalizeTagName(id)) ??
      (await tagWithId(trx, organizationId, id, now));
    tags.set(tag.id, tag);
  }
  return [...tags.values()];
}

/** Replaces the lead's rows in lead_tags (the filterable copy of its document's tags). */
export async function setLeadTags(
  trx: Trx,
  organizationId: string,
  leadId: string,
  tags: readonly TagRef[],
  options: { newLead: boolean },
) {
  if (!options.newLead) {
    await trx
      .deleteFrom("lead_tags")
      .where("organization_id", "=", organizationId)
      .where("lead_id", "=", leadId)
      .execute();
  }
  if (tags.length === 0) return;
  await trx
    .insertInto("lead_tags")
    .values(tags.map((t) => ({ organization_id: organizationId, lead_id: leadId, tag_id: t.id })))
    .execute();
}

export interface LeadTagFilter {
  tagIds: readonly string[];
  matchAll: boolean;
  untagged: boolean;
}

/** SQL conditions on `leads` for POST /leads/all/my's tagIds, tagMatchAll and untagged. */
export function leadTagConditions(filter: LeadTagFilter): RawBuilder<unknown>[] {
  const ofLead = sql`lead_tags.organization_id = leads.organization_id and lead_tags.lead_id = leads.id`;
  const conditions: RawBuilder<unknown>[] = [];
  if (filter.untagged) conditions.push(sql`not exists (select 1 from lead_tags where ${ofLead})`);
  const ids = [...new Set(filter.tagIds)];
  if (ids.length > 0) {
    const inIds = sql`lead_tags.tag_id in (${sql.join(ids)})`;
    conditions.push(
      filter.matchAll
        ? sql`(select count(*) from lead_tags where ${ofLead} and ${inIds}) = ${ids.length}`
        : sql`exists (select 1 from lead_tags where ${ofLead} and ${inIds})`,
    );
  }
  return conditions;
}
