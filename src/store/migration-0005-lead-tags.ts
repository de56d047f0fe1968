import { type Kysely, type Migration, sql } from "kysely";
import { normalizeTagName, type TagRef, tagIdForName } from "../domain/tags.js";

// The tags of an organization, and which lead carries which: what POST /leads/all/my filters by
// (tagIds, tagMatchAll, untagged). Each lead's document also keeps its resolved tags (id and name),
// so answering a lead needs no join; lead_tags is the index of that list.
export const leadTags: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("tags")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("normalized_name", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("tags_pk", ["organization_id", "id"])
      .execute();
    await sql`create unique index tags_by_name on tags (organization_id, normalized_name)`.execute(db);
    await db.schema
      .createTable("lead_tags")
      .addColumn("organization_id", "text", (c) => c.notNull())
      .addColumn("lead_id", "text", (c) => c.notNull())
      .addColumn("tag_id", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("lead_tags_pk", ["organization_id", "lead_id", "tag_id"])
      .execute();
    await sql`create index lead_tags_by_tag on lead_tags (organization_id, tag_id, lead_id)`.execute(db);
    await backfill(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop table if exists lead_tags`.execute(db);
    await sql`drop table if exists tags`.execute(db);
  },
};

interface LeadDocumentRow {
  organization_id: string;
  id: string;
  document: string;
  created_at: number | string;
}

/**
 * Leads written before this migration carry tag names (shown as tags, ids derived from the name) and
 * tag ids (not shown). Both become tags of the lead, as a lead written now would get them.
 */
async function backfill(db: Kysely<unknown>): Promise<void> {
  const leads = await sql<LeadDocumentRow>`select organization_id, id, document, created_at from leads
    where document not like ${'%"tagIds":[],"tagNames":[]}'} order by organization_id, id`.execute(db);
  const known = new Map<string, TagRef>(); // organization_id + normalized name → tag
  for (const lead of leads.rows) {
    const doc = JSON.parse(lead.document) as { tagIds?: unknown; tagNames?: unknown; tags?: TagRef[] };
    const names = Array.isArray(doc.tagNames) ? doc.tagNames.filter((n) => typeof n === "string") : [];
    const ids = Array.isArray(doc.tagIds) ? doc.tagIds.filter((n) => typeof n === "string") : [];
    if (names.length + ids.length === 0) continue;
    const tags = new Map<string, TagRef>();
    for (const name of [...names, ...ids]) {
      const normalized = normalizeTagName(name);
      if (!normalized) continue;
      const key = `${lead.organization_id}\n${normalized}`;
      let tag = known.get(key);
      if (!tag) {
        tag = { id: names.includes(name) ? tagIdForName(normalized) : name, name: name.trim() };
        known.set(key, tag);
        await sql`insert into tags (organization_id, id, name, normalized_name, created_at)
          values (${lead.organization_id}, ${tag.id}, ${tag.name}, ${normalized}, ${Number(lead.created_at)})
          on conflict do nothing`.execute(db);
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
