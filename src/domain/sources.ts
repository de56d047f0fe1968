import { randomBytes } from "node:crypto";
import type { LeadDocument } from "./lead.js";
import { usdToMicros } from "./money.js";
import { exceedsCharacters } from "./plain-text.js";
import { badRequest, ProblemError } from "./problem.js";
import { usStateCode } from "./us-address.js";

// Lead sources: who may deliver leads with a source key (Authorization: Bearer lp_src_…), and what
// a lead they deliver must carry. Validation here; storage in store/sources-repo.ts.

export const SOURCE_KEY_PREFIX = "lp_src_";

/** What a source key looks like: the prefix and 32 to 200 URL-safe characters. */
export const SOURCE_KEY_PATTERN = /^lp_src_[A-Za-z0-9_-]{32,200}$/;

/**
 * A key a client chooses must look like one we would generate: a 43-character random key holds
 * about 30 different characters; "lp_src_aaaa…" or a short pattern repeated is guessable.
 */
export const MIN_DISTINCT_KEY_CHARACTERS = 16;

/** The most a lead may cost (USD). */
export const MAX_COST_PER_LEAD_USD = 1_000_000;

function isAcceptableChosenKey(key: string): boolean {
  return (
    SOURCE_KEY_PATTERN.test(key) &&
    new Set(key.slice(SOURCE_KEY_PREFIX.length)).size >= MIN_DISTINCT_KEY_CHARACTERS
  );
}

/** A new source key: 256 random bits, like an organization key. */
export function generateSourceKey(): string {
  return `${SOURCE_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** The key as lists show it: its prefix and last four characters. */
export function sourceKeyPreview(key: string): string {
  return `${SOURCE_KEY_PREFIX}…${key.slice(-4)}`;
}

/** SourceRequest as the route receives it (types and lengths checked by its JSON schema). */
export interface SourceRequestBody {
  id?: string | null;
  name: string;
  description?: string | null;
  enabled?: boolean | null;
  apiKey?: string | null;
  regenerateApiKey?: boolean | null;
  costPerLead?: number | null;
  allowedStates?: string[] | null;
  allowedProducts?: string[] | null;
  requiresTrustedForm?: boolean | null;
  defaultTagIds?: string[] | null;
  defaultTagNames?: string[] | null;
}

/**
 * A SourceRequest, checked and normalized. Fields a request leaves out (or, for a list, sends as
 * null) are `undefined` here: an update keeps their current value; null clears a nullable one.
 */
export interface SourceSettings {
  name: string;
  description: string | null | undefined;
  enabled: boolean | undefined;
  /** A key the client chose (say, the one its vendors already use), or undefined to keep/generate. */
  apiKey: string | undefined;
  regenerateApiKey: boolean;
  costPerLeadMicros: number | null | undefined;
  allowedStates: string[] | undefined;
  allowedProducts: string[] | undefined;
  requiresTrustedForm: boolean | undefined;
  defaultTagIds: string[] | undefined;
  defaultTagNames: string[] | undefined;
}

/** Trimmed, non-empty, each once (by `fold`); kept folded, or as first written when `keepAsWritten`. */
function distinct(
  values: string[] | null | undefined,
  field: string,
  fold: (value: string) => string,
  keepAsWritten = false,
): string[] | undefined {
  if (values === undefined || values === null) return undefined;
  const seen = new Map<string, string>();
  values.forEach((raw, i) => {
    const value = raw.trim();
    if (value === "") throw badRequest(`${field}[${i}] must not be empty.`, `${field}[${i}]`);
    if (!seen.has(fold(value))) seen.set(fold(value), keepAsWritten ? value : fold(value));
  });
  return [...seen.values()];
}

/** A key a client chooses for a source, else a 400 naming apiKey. */
export function assertAcceptableChosenKey(key: string): void {
  if (!isAcceptableChosenKey(key)) {
    throw badRequest(
      `apiKey must be a source key: 'lp_src_' followed by 32 to 200 letters, digits, '-' or '_', at least ${MIN_DISTINCT_KEY_CHARACTERS} of them different (or leave it out to have one generated).`,
      "apiKey",
    );
  }
}

/**
 * `update`: the apiKey is checked by replaceSource (services/sources.ts), which lets through the key
 * the source holds or held, sent back from a GET: one chosen before these rules may not meet them.
 */
export function normalizeSourceRequest(
  body: SourceRequestBody,
  options: { update?: boolean } = {},
): SourceSettings {
  const name = body.name.trim();
  if (name === "") throw badRequest("name must not be empty.", "name");
  const apiKey = body.apiKey ?? undefined;
  if (apiKey !== undefined && !options.update) assertAcceptableChosenKey(apiKey);
  const cost = body.costPerLead;
  if (
    cost !== undefined &&
    cost !== null &&
    (!Number.isFinite(cost) || cost < 0 || cost > MAX_COST_PER_LEAD_USD)
  ) {
    throw badRequest(`costPerLead must be a number from 0 to ${MAX_COST_PER_LEAD_USD} (USD).`, "costPerLead");
  }
  const description = body.description === undefined ? undefined : body.description?.trim() || null;
  return {
    name,
    description,
    enabled: body.enabled ?? undefined,
    apiKey,
    regenerateApiKey: body.regenerateApiKey === true,
    costPerLeadMicros: cost === undefined ? undefined : cost === null ? null : usdToMicros(cost),
    // States are kept upper-cased ("ca" is CA); products as first named (matched ignoring case).
    allowedStates: distinct(body.allowedStates, "allowedStates", (s) => s.toUpperCase()),
    allowedProducts: distinct(body.allowedProducts, "allowedProducts", (s) => s.toLowerCase(), true),
    requiresTrustedForm: body.requiresTrustedForm ?? undefined,
    defaultTagIds: distinct(body.defaultTagIds, "defaultTagIds", (s) => s),
    defaultTagNames: distinct(body.defaultTagNames, "defaultTagNames", (s) => s),
  };
}

/** The longest metadata.sellerLeadId a source may send (it is indexed; ids are far shorter). */
export const MAX_SELLER_LEAD_ID_LENGTH = 200;

/**
 * What makes a delivered lead the same lead again: its source and the seller's lead id
 * (metadata.sellerLeadId, a string, as the subset types it: a number would silently not
 * deduplicate, so it is a 400). Null when the lead carries none: then every delivery is a new lead.
 */
export function intakeKey(
  sourceId: string,
  metadata: Record<string, unknown> | null | undefined,
): string | null {
  const raw = metadata?.sellerLeadId;
  const field = "metadata.sellerLeadId";
  if (raw !== undefined && raw !== null && typeof raw !== "string") {
    throw badRequest(`${field} must be a string.`, field);
  }
  const seller = text(raw);
  if (seller && exceedsCharacters(seller, MAX_SELLER_LEAD_ID_LENGTH)) {
    throw badRequest(`${field} must be at most ${MAX_SELLER_LEAD_ID_LENGTH} characters.`, field);
  }
  return seller ? `${sourceId}\n${seller}` : null;
}

/** A source key that no source holds (any more). */
export function invalidSourceKey(): ProblemError {
  return new ProblemError(401, "unauthorized", "The source key is not valid.");
}

/** A disabled source's delivery. */
export function sourceDisabled(): ProblemError {
  return new ProblemError(
    403,
    "source-disabled",
    "This source is disabled: it is not allowed to accept traffic.",
  );
}

/** What a source demands of the leads it delivers (whether it takes any at all is checked first). */
export interface SourceRules {
  allowedStates: readonly string[];
  allowedProducts: readonly string[];
  requiresTrustedForm: boolean;
}

function text(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : null;
}

/**
 * Throws the 400 a source's lead is refused with, naming the field the vendor has to fill or change,
 * or returns when the lead meets the source's rules. (A disabled source's traffic is refused before
 * any lead is looked at: services/leads.ts receiveLead.)
 */
export function assertSourceAccepts(rules: SourceRules, lead: LeadDocument): void {
  if (rules.allowedStates.length > 0) {
    const state = text(lead.contact.streetAddress?.state);
    // A state written as its name ("California") is also the state its code names.
    const spellings = state ? [state.toUpperCase(), usStateCode(state)] : [];
    if (!spellings.some((s) => s !== null && rules.allowedStates.includes(s))) {
      const field = "contact.streetAddress.state";
      throw badRequest(
        `${field} must be one of the states this source accepts: ${rules.allowedStates.join(", ")}${state ? ` (got '${state.slice(0, 40)}')` : ""}.`,
        field,
      );
    }
  }
  if (rules.allowedProducts.length > 0) {
    const product = text(lead.metadata.product);
    const fold = (value: string) => value.toLowerCase();
    if (!product || !rules.allowedProducts.some((p) => fold(p) === fold(product))) {
      throw badRequest(
        `metadata.product must be one of the products this source accepts: ${rules.allowedProducts.join(", ")}.`,
        "metadata.product",
      );
    }
  }
  if (rules.requiresTrustedForm && !text(lead.metadata.trustedFormUrl)) {
    throw badRequest(
      "metadata.trustedFormUrl is required: this source requires a TrustedForm certificate with every lead.",
      "metadata.trustedFormUrl",
    );
  }
}
