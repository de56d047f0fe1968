import { sql } from "kysely";
import { badRequest } from "../domain/problem.js";
import { type ListNarrowing, type NarrowingPart, narrowingOf } from "../store/store.js";
import { type LeadTagFilter, leadTagConditions } from "../store/tags-repo.js";

// Query parameters that narrow a list beyond its RequestDataOptions body (the Leadping lists take
// these in the query string). Each becomes SQL conditions plus a part of the key that continuation
// tokens are bound to, so a token only resumes the list it came from.

const ARCHIVE_FILTERS = ["active", "archived", "all"] as const;

/**
 * archiveFilter: Active (default), Archived or All, in any case. leadtrail has no archive operation
 * yet, so nothing is ever archived: Archived is an empty list and Active the same as All.
 */
function archiveConditions(value: string | undefined): NarrowingPart {
  if (value === undefined) return { conditions: [], key: "" };
  const filter = value.toLowerCase();
  if (!(ARCHIVE_FILTERS as readonly string[]).includes(filter)) {
    throw badRequest(
      `archiveFilter '${value.slice(0, 40)}' is not one of Active, Archived, All.`,
      "archiveFilter",
    );
  }
  return { conditions: filter === "archived" ? [sql`1 = 0`] : [], key: `archive=${filter}` };
}

export const ArchiveFilterQuery = {
  type: "object",
  properties: {
    archiveFilter: {
      type: "string",
      maxLength: 40,
      description: "Active (default), Archived or All. Nothing is archived in leadtrail yet.",
    },
  },
} as const;

export const LeadListQuery = {
  type: "object",
  properties: {
    ...ArchiveFilterQuery.properties,
    // A query string carries one value as a string and a repeated one as an array; the body's
    // validator does not coerce types, so both forms are declared and read here.
    tagIds: {
      type: ["array", "string"],
      maxItems: 20,
      items: { type: "string", minLength: 1, maxLength: 100 },
      minLength: 1,
      maxLength: 100,
      description:
        "Only leads with any of these tags (all of them with tagMatchAll); repeat to give several.",
    },
    tagMatchAll: { type: ["boolean", "string"], description: "A lead must carry every tag in tagIds." },
    untagged: { type: ["boolean", "string"], description: "Only leads with no tags." },
  },
} as const;

export interface LeadListQueryParams {
  archiveFilter?: string;
  tagIds?: string | string[];
  tagMatchAll?: boolean | string;
  untagged?: boolean | string;
}

function flag(value: boolean | string | undefined, name: string): boolean {
  if (value === undefined || typeof value === "boolean") return value === true;
  const text = value.toLowerCase();
  if (text === "true" || text === "false") return text === "true";
  throw badRequest(`${name} must be true or false.`, name);
}

export function conversationListNarrowing(
  scope: Record<string, string>,
  query: { archiveFilter?: string },
): ListNarrowing {
  return narrowingOf(scope, [archiveConditions(query.archiveFilter)]);
}

export function leadListNarrowing(query: LeadListQueryParams): ListNarrowing {
  const tags: LeadTagFilter = {
    tagIds: typeof query.tagIds === "string" ? [query.tagIds] : (query.tagIds ?? []),
    matchAll: flag(query.tagMatchAll, "tagMatchAll"),
    untagged: flag(query.untagged, "untagged"),
  };
  if (tags.untagged && tags.tagIds.length > 0) {
    throw badRequest("untagged lists leads with no tags: it cannot be combined with tagIds.", "untagged");
  }
  const tagKey = tags.untagged
    ? "untagged"
    : tags.tagIds.length > 0
      ? `tags=${tags.matchAll ? "all" : "any"}:${JSON.stringify([...new Set(tags.tagIds)].sort())}`
      : "";
  return narrowingOf({}, [
    archiveConditions(query.archiveFilter),
    { conditions: leadTagConditions(tags), key: tagKey },
  ]);
}
