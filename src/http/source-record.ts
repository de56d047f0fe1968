import { microsToUsd } from "../domain/money.js";
import { sourceKeyPreview } from "../domain/sources.js";
import { toIso } from "../domain/time.js";
import type { SourceRow } from "../store/schema.js";
import { sourceDefaultTags, sourceLists } from "../store/sources-repo.js";
import type { Author } from "../store/user-directory.js";
import { tagSummary } from "./lead-record.js";

// Wire shapes of lead sources (SourceResponse, SourceTableRow).

/** What a source's record names besides its own row: its organization and its users. */
export interface SourceContext {
  organization: { id: string; name: string };
  users: ReadonlyMap<string, Author | null>;
}

/** The user ids a source's record names (its owner, creator and last editor). */
export function sourceUserIds(row: SourceRow): string[] {
  return [row.user_id, row.created_by, ...(row.modified_by ? [row.modified_by] : [])];
}

function userRef(id: string | null, context: SourceContext) {
  if (!id) return null;
  const author = context.users.get(id);
  return author ? { id, name: author.name } : null;
}

function sourceFields(row: SourceRow, context: SourceContext) {
  const tags = sourceDefaultTags(row);
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    enabled: row.enabled === 1,
    apiKey: row.api_key,
    apiKeyPreview: row.api_key ? sourceKeyPreview(row.api_key) : null,
    firstLeadReceivedAt: toIso(row.first_lead_received_at),
    lastLeadReceivedAt: toIso(row.last_lead_received_at),
    user: userRef(row.user_id, context),
    createdByUser: userRef(row.created_by, context),
    modifiedByUser: userRef(row.modified_by, context),
    organization: context.organization,
    costPerLead: microsToUsd(row.cost_per_lead_micros),
    ...sourceLists(row),
    requiresTrustedForm: row.requires_trusted_form === 1,
    // leadtrail has no compliance review of sources: none is reported as passed.
    complianceApproved: false,
    defaultTagIds: tags.map((t) => t.id),
    defaultTags: tags.map(tagSummary),
    createdAt: toIso(row.created_at),
    modifiedAt: toIso(row.modified_at),
  };
}

export function toSourceResponse(row: SourceRow, context: SourceContext) {
  return {
    ...sourceFields(row, context),
    createdByUserEmail: context.users.get(row.created_by)?.email ?? null,
  };
}

export function toSourceTableRow(row: SourceRow, context: SourceContext) {
  return {
    ...sourceFields(row, context),
    // SourceTableRow's description is a string, not nullable as SourceResponse's.
    description: row.description ?? "",
    apiKeyLastUsedAt: toIso(row.api_key_last_used_at),
    apiKeyTotalUses: row.api_key_total_uses,
    organizationId: row.organization_id,
  };
}
