import { createHash } from "node:crypto";

// Tags of leads. The API has no tag endpoints: a tag comes into being when a lead names it
// (LeadRequest.tagNames, matched case-insensitively) or refers to it by id (tagIds).

/** A tag as a lead document keeps it, resolved when the lead was written. */
export interface TagRef {
  id: string;
  name: string;
}

/** The name tags are matched by: "Hot Lead " and "hot lead" are one tag. */
export function normalizeTagName(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * The id a tag named by a lead gets: readable and the same in every organization. The formula is the
 * one leads have shown since tags were first answered ("VIP client" → tag_vip-client, "Café" →
 * tag_caf-), so the ids clients already hold keep naming the same tags.
 */
export function tagIdForName(normalizedName: string): string {
  return `tag_${normalizedName.replace(/[^a-z0-9]+/g, "-")}`;
}

/** A second id for a name whose readable id another name took ("hot lead" and "hot-lead"). */
export function suffixedTagId(readableId: string, normalizedName: string): string {
  return `${readableId}-${createHash("sha256").update(normalizedName).digest("hex").slice(0, 8)}`;
}

/** The ids of a lead's tags, sorted: what "did the tags change" compares. */
export function tagIdSet(tags: readonly TagRef[]): string {
  return [...new Set(tags.map((t) => t.id))].sort().join("\n");
}
