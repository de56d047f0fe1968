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

/** The id a tag named by a lead gets: readable and the same in every organization. */
export function tagIdForName(normalizedName: string): string {
  return `tag_${normalizedName.replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-+|-+$/g, "") || "x"}`;
}

/** The ids of a lead's tags, sorted: what "did the tags change" compares. */
export function tagIdSet(tags: readonly TagRef[]): string {
  return [...new Set(tags.map((t) => t.id))].sort().join("\n");
}
