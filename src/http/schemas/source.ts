import {
  MAX_COST_PER_LEAD_USD,
  MIN_DISTINCT_KEY_CHARACTERS,
  SOURCE_KEY_PATTERN,
  SOURCE_KEY_PREFIX,
} from "../../domain/sources.js";
import {
  DOCUMENTED_PATTERN,
  dateTime,
  nullable,
  nullableDateTime,
  nullableIdNamePair,
  pagedResultSchema,
} from "./common.js";
import { TagSummary } from "./lead.js";

// Lead source shapes (Leadping SourceRequest / SourceResponse / SourceTableRow).

const ns = nullable("string");
const names = { type: ["array", "null"], maxItems: 100, items: { type: "string", maxLength: 100 } };

/**
 * SourceRequest. Only `name` is required (Leadping also requires the four lists; leadtrail takes
 * their absence as "none" on create and "unchanged" on update).
 */
export const SourceRequestSchema = {
  type: "object",
  required: ["name"],
  properties: {
    id: ns,
    name: { type: "string", minLength: 1, maxLength: 255, description: "Not blank; trimmed." },
    description: nullable("string", { maxLength: 2000 }),
    enabled: nullable("boolean"),
    apiKey: nullable("string", {
      // Checked by the route (domain/sources.ts), which lets a source's own key sent back through.
      maxLength: SOURCE_KEY_PREFIX.length + 200,
      [DOCUMENTED_PATTERN]: SOURCE_KEY_PATTERN.source,
      description: `A key of the client's choosing, with at least ${MIN_DISTINCT_KEY_CHARACTERS} different characters after the prefix; left out, one is generated.`,
    }),
    regenerateApiKey: nullable("boolean"),
    costPerLead: nullable("number", { minimum: 0, maximum: MAX_COST_PER_LEAD_USD, description: "USD." }),
    allowedStates: names,
    allowedProducts: names,
    requiresTrustedForm: nullable("boolean"),
    defaultTagIds: names,
    defaultTagNames: names,
  },
};

/** What SourceResponse and SourceTableRow share. */
const sourceProperties = {
  id: { type: "string" },
  name: { type: "string" },
  description: ns,
  enabled: { type: "boolean" },
  apiKey: ns,
  apiKeyPreview: ns,
  firstLeadReceivedAt: nullableDateTime,
  lastLeadReceivedAt: nullableDateTime,
  user: nullableIdNamePair,
  createdByUser: nullableIdNamePair,
  modifiedByUser: nullableIdNamePair,
  organization: nullableIdNamePair,
  costPerLead: nullable("number"),
  allowedStates: { type: "array", items: { type: "string" } },
  allowedProducts: { type: "array", items: { type: "string" } },
  requiresTrustedForm: { type: "boolean" },
  complianceApproved: { type: "boolean" },
  defaultTagIds: { type: "array", items: { type: "string" } },
  defaultTags: { type: "array", items: TagSummary },
  createdAt: dateTime,
  modifiedAt: nullableDateTime,
};

export const SourceResponseSchema = {
  $id: "SourceResponse",
  type: "object",
  properties: { ...sourceProperties, createdByUserEmail: ns },
};

export const SourceTableRowSchema = {
  $id: "SourceTableRow",
  type: "object",
  properties: {
    ...sourceProperties,
    apiKeyLastUsedAt: nullableDateTime,
    apiKeyTotalUses: { type: "integer" },
    organizationId: ns,
  },
};

export const PagedSourcesSchema = pagedResultSchema("PagedResultOfSourceTableRow", "SourceTableRow");
