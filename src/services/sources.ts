import type { Kysely, Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import { ProblemError } from "../domain/problem.js";
import { generateSourceKey, type SourceSettings } from "../domain/sources.js";
import { isUniqueViolation } from "../store/errors.js";
import { hashApiKey } from "../store/orgs-repo.js";
import type { Database, SourceRow } from "../store/schema.js";
import {
  getSource,
  insertSource,
  isSourceKeyTaken,
  SOURCE_KEY_INDEX,
  type SourceChanges,
  updateSource,
} from "../store/sources-repo.js";
import { resolveTags } from "../store/tags-repo.js";
import type { Actor } from "./leads.js";

// Creating and changing lead sources: their key (generated, chosen by the client, or regenerated)
// and their default tags, resolved to the organization's tags as a lead's are.

function keyTaken(): ProblemError {
  return new ProblemError(409, "source-key-taken", "Another source already uses this apiKey.");
}

/** The key columns for a key, refusing one another source holds (409). */
async function keyColumns(trx: Transaction<Database>, key: string, sourceId: string) {
  const hash = hashApiKey(key);
  if (await isSourceKeyTaken(trx, hash, sourceId)) throw keyTaken();
  return { api_key: key, api_key_hash: hash };
}

async function defaultTags(trx: Transaction<Database>, actor: Actor, settings: SourceSettings, now: number) {
  const tags = await resolveTags(
    trx,
    actor.organizationId,
    { tagNames: settings.defaultTagNames ?? [], tagIds: settings.defaultTagIds ?? [] },
    now,
  );
  return JSON.stringify(tags);
}

/** A unique violation on the key index is a concurrent request taking the same key: a 409 too. */
async function mapKeyRace<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUniqueViolation(error, SOURCE_KEY_INDEX)) throw keyTaken();
    throw error;
  }
}

export async function createSource(
  db: Kysely<Database>,
  actor: Actor,
  settings: SourceSettings,
  now: number = Date.now(),
): Promise<SourceRow> {
  return mapKeyRace(() =>
    db.transaction().execute(async (trx) => {
      const id = newId("src", now);
      const row: SourceRow = {
        organization_id: actor.organizationId,
        id,
        name: settings.name,
        description: settings.description ?? null,
        enabled: settings.enabled === false ? 0 : 1,
        ...(await keyColumns(trx, settings.apiKey ?? generateSourceKey(), id)),
        api_key_last_used_at: null,
        api_key_total_uses: 0,
        cost_per_lead_micros: settings.costPerLeadMicros ?? null,
        allowed_states: JSON.stringify(settings.allowedStates ?? []),
        allowed_products: JSON.stringify(settings.allowedProducts ?? []),
        requires_trusted_form: settings.requiresTrustedForm ? 1 : 0,
        default_tags: await defaultTags(trx, actor, settings, now),
        user_id: actor.userId,
        created_by: actor.userId,
        modified_by: null,
        created_at: now,
        modified_at: null,
        first_lead_received_at: null,
        last_lead_received_at: null,
        deleted_at: null,
      };
      await insertSource(trx, row);
      return row;
    }),
  );
}

/**
 * Replaces a source's settings: the name, and every field the request sends; a field it leaves out
 * keeps its value (default tags are replaced when either defaultTagIds or defaultTagNames is sent).
 * The key changes only for a different apiKey or regenerateApiKey: true. Undefined when there is no
 * such source.
 */
export async function replaceSource(
  db: Kysely<Database>,
  actor: Actor,
  id: string,
  settings: SourceSettings,
  now: number = Date.now(),
): Promise<SourceRow | undefined> {
  return mapKeyRace(() =>
    db.transaction().execute(async (trx) => {
      const existing = await getSource(trx, actor.organizationId, id);
      if (!existing) return undefined;
      const newKey = settings.regenerateApiKey
        ? generateSourceKey()
        : settings.apiKey !== undefined && settings.apiKey !== existing.api_key
          ? settings.apiKey
          : undefined;
      const keepsTags = settings.defaultTagIds === undefined && settings.defaultTagNames === undefined;
      const changes: SourceChanges = {
        name: settings.name,
        ...(settings.allowedStates === undefined
          ? {}
          : { allowed_states: JSON.stringify(settings.allowedStates) }),
        ...(settings.allowedProducts === undefined
          ? {}
          : { allowed_products: JSON.stringify(settings.allowedProducts) }),
        ...(keepsTags ? {} : { default_tags: await defaultTags(trx, actor, settings, now) }),
        ...(settings.description === undefined ? {} : { description: settings.description }),
        ...(settings.enabled === undefined ? {} : { enabled: settings.enabled ? 1 : 0 }),
        ...(settings.costPerLeadMicros === undefined
          ? {}
          : { cost_per_lead_micros: settings.costPerLeadMicros }),
        ...(settings.requiresTrustedForm === undefined
          ? {}
          : { requires_trusted_form: settings.requiresTrustedForm ? 1 : 0 }),
        ...(newKey === undefined ? {} : await keyColumns(trx, newKey, id)),
        modified_by: actor.userId,
        modified_at: now,
      };
      await updateSource(trx, actor.organizationId, id, changes);
      return getSource(trx, actor.organizationId, id);
    }),
  );
}
