import { type Kysely, type Migration, sql } from "kysely";
import { normalizeTagName, suffixedTagId, type TagRef, tagIdForName } from "../domain/tags.js";

// The tags of an organization, and which lead carries which: what POST /leads/all/my filters by
// (tagIds, tagMatchAll, untagged). Each lead's document also keeps its resolved tags (id and name),
// so answering a lead needs no join; lead_tags is the index of that list.
//
// Every step can run again: on SQLite a migration is not one transaction (Kysely runs DDL there
// outside one), so a process killed half-way must find a database it can finish, not one it cannot
// open.
export const leadTags: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`create table if not exists tags (
      organization_id text not null, id text not null, name text not null,
      normalized_name text not null, created_at bigint not null,
      constraint tags_pk primary key (organization_id, id))`.execute(db);
    await sql`create unique index if not exists tags_by_name on tags (organization_id, normalized_name)`.execute(
      db,
    );
    await sql`create table if not exists lead_tags (
      organization_id text not null, lead_id text not null, tag_id text not null,
      constraint lead_tags_pk primary key (organization_id, lead_id, tag_id))`.execute(db);
    await sql`create index if not exists lead_tags_by_tag on lead_tags (organization_id, tag_id, lead_id)`.execute(
      db,
    );
    await backfill(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop table if exists lead_tags`.execute(db);
    await sql`drop table if exists tags`.execute(db);
  },
};

interface TaggedLead {
  organization_id: string;
  id: string;
  document: string;
  created_at: number | string;
}

interface LeadDoc {
  tagIds?: unknown;
  tagNames?: unknown;
  tags?: TagRef[];
}

const BATCH = 500;

function strings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === "string" && v.trim() !== "")
    : [];
}

/** Leads that name any tag, in keyset batches (documents of leads without tags are never read). */
async function* taggedLeads(db: Kysely<unknown>): AsyncGenerator<TaggedLead[]> {
  let after: [string, string] = ["", ""];
  for (;;) {
    const { rows } = await sql<TaggedLead>`select organization_id, id, document, created_at from leads
      where (organization_id > ${after[0]} or (organization_id = ${after[0]} and id > ${after[1]}))
        and document not like ${'%"tagIds":[],"tagNames":[]}'}
      order by organization_id, id limit ${BATCH}`.execute(db);
    if (rows.length === 0) return;
    yield rows;
    const last = rows[rows.length - 1]!;
    after = [last.organization_id, last.id];
  }
}

/** The tags registry being rebuilt, per organization: by normalized name and by id. */
class Registry {
  readonly byName = new Map<string, TagRef>();
  readonly byId = new Map<string, TagRef>();

  constructor(private readonly db: Kysely<unknown>) {}

  private key(organizationId: string, value: string) {
    return `${organizationId}\n${value}`;
  }

  async add(organizationId: string, tag: TagRef, normalized: string, at: number) {
    this.byName.set(this.key(organizationId, normalized), tag);
    this.byId.set(this.key(organizationId, tag.id), tag);
    await sql`insert into tags (organization_id, id, name, normalized_name, created_at)
      values (${organizationId}, ${tag.id}, ${tag.name}, ${normalized}, ${at}) on conflict do nothing`.execute(
      this.db,
    );
  }

  named(organizationId: string, normalized: string) {
    return this.byName.get(this.key(organizationId, normalized));
  }

  withId(organizationId: string, id: string) {
    return this.byId.get(this.key(organizationId, id));
  }
}

/**
 * Leads written before this migration carry tag names (shown as tags, their ids derived from the
 * name) and tag ids (kept, not shown). Names are registered first, across all leads, so that an id a
 * client copied from a lead's `tags` (tag_hot) finds the tag that lead showed; an id no name gives
 * becomes a tag named by its id, as it would be now.
 */
async function backfill(db: Kysely<unknown>): Promise<void> {
  const registry = new Registry(db);
  for await (const leads of taggedLeads(db)) {
    for (const lead of leads) {
      for (const name of strings((JSON.parse(lead.document) as LeadDoc).tagNames)) {
        const normalized = normalizeTagName(name);
        if (registry.named(lead.organization_id, normalized)) continue;
        let id = tagIdForName(normalized);
        if (registry.withId(lead.organization_id, id)) id = suffixedTagId(id, normalized);
        await registry.add(
          lead.organization_id,
          { id, name: name.trim() },
          normalized,
          Number(lead.created_at),
        );
      }
    }
  }
  for await (const leads of taggedLeads(db)) {
    for (const lead of leads) {
      const doc = JSON.parse(lead.document) as LeadDoc;
      const tags = new Map<string, TagRef>();
      for (const name of strings(doc.tagNames)) {
        const tag = registry.named(lead.organization_id, normalizeTagName(name))!;
        tags.set(tag.id, tag);
      }
      for (const id of strings(doc.tagIds)) {
        let tag =
          registry.withId(lead.organization_id, id) ??
          registry.named(lead.organization_id, normalizeTagName(id));
        if (!tag) {
          tag = { id, name: id.trim() };
          await registry.add(lead.organization_id, tag, normalizeTagName(id), Number(lead.created_at));
        }
        tags.set(tag.id, tag);
      }
      for (const tag of tags.values()) {
        await sql`insert into lead_tags (organization_id, lead_id, tag_id)
          values (${lead.organization_id}, ${lead.id}, ${tag.id}) on conflict do nothing`.execute(db);
      }
      doc.tags = [...tags.values()];
      await sql`update leads set document = ${JSON.stringify(doc)}
        where organization_id = ${lead.organization_id} and id = ${lead.id}`.execute(db);
    }
  }
}
