import type { Kysely, Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import { badRequest, ProblemError } from "../domain/problem.js";
import { assertAcceptableChosenKey, generateSourceKey, type SourceSettings } from "../domain/sources.js";
import { type TagRef, tagIdSet } from "../domain/tags.js";
import { transactKnowingCommit } from "../store/commit-outcome.js";
import { isUniqueViolation } from "../store/errors.js";
import { lockForTransaction } from "../store/locks.js";
import { hashApiKey } from "../store/orgs-repo.js";
import type { Database, SourceRow } from "../store/schema.js";
import {
  getSource,
  insertSource,
  isSourceKeyUsed,
  lockSource,
  retireSourceKey,
  SOURCE_KEY_INDEX,
  type SourceChanges,
  updateSource,
  wasKeyOfSource,
} from "../store/sources-repo.js";
import { resolveTags } from "../store/tags-repo.js";
import type { Actor } from "./leads.js";

// Creating and changing lead sources: their key (generated, chosen by the client, or regenerated)
// and their default tags, resolved to the organization's tags as a lead's are.

// The 409 does not say whose key it is, nor whether it is held now or was held before.
function keyTaken(): ProblemError {
  return new ProblemError(
    409,
    "source-key-taken",
    "This apiKey is or was the key of a source; choose another, or leave apiKey out to have one generated.",
  );
}

function bothKeys(): ProblemError {
  return badRequest("Send either a new apiKey or regenerateApiKey: true, not both.", "regenerateApiKey");
}

/**
 * The key columns for a new key of a source, refusing one any source holds or ever held (409). Two
 * requests choosing the same new key at once are serialized here (one 201, one 409). A key being
 * retired meanwhile is seen either live or retired, as the retirement commits with the re-keying.
 */
async function keyColumns(trx: Transaction<Database>, key: string) {
  const hash = hashApiKey(key);
  await lockForTransaction(trx, `source-key:${hash}`);
  if (await isSourceKeyUsed(trx, hash)) throw keyTaken();
  return { api_key: key, api_key_hash: hash };
}

/**
 * The key a PUT gives the source, or undefined to keep its own. An apiKey the source holds or held
 * before is a copy of the source read earlier and sent back: it keeps the current key (a stale copy
 * must not bring back a key that was retired). regenerateApiKey: true issues a new one.
 */
async function requestedKey(trx: Transaction<Database>, existing: SourceRow, settings: SourceSettings) {
  const sent = settings.apiKey;
  const echoed =
    sent === undefined ||
    sent === existing.api_key ||
    (await wasKeyOfSource(trx, hashApiKey(sent), existing.organization_id, existing.id));
  if (settings.regenerateApiKey) {
    if (!echoed) throw bothKeys();
    return generateSourceKey();
  }
  if (echoed) return undefined;
  // Only a new key must meet the rules for a chosen one: the source's own may predate them.
  assertAcceptableChosenKey(sent);
  return sent;
}

/**
 * The source's default tags as stored. `current`: the stored value, kept when the request names the
 * same tags in another order (they are a set, as a lead's tags are).
 */
async function defaultTags(
  trx: Transaction<Database>,
  actor: Actor,
  settings: SourceSettings,
  now: number,
  current?: string,
) {
  const tags = await resolveTags(
    trx,
    actor.organizationId,
    { tagNames: settings.defaultTagNames ?? [], tagIds: settings.defaultTagIds ?? [] },
    now,
  );
  if (current !== undefined && tagIdSet(JSON.parse(current) as TagRef[]) === tagIdSet(tags)) return current;
  return JSON.stringify(tags);
}

/** A list of allowed states or products as stored: the stored value when it holds the same values. */
function allowedList(values: string[], current: string): string {
  const canonical = (list: string[]) => JSON.stringify([...new Set(list)].sort());
  return canonical(values) === canonical(JSON.parse(current) as string[]) ? current : JSON.stringify(values);
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
  // A new source has no key of its own that the body could be echoing (as a PUT's may).
  if (settings.apiKey !== undefined && settings.regenerateApiKey) throw bothKeys();
  return mapKeyRace(() =>
    transactKnowingCommit(db, async (trx) => {
      const id = newId("src", now);
      const row: SourceRow = {
        organization_id: actor.organizationId,
        id,
        name: settings.name,
        description: settings.description ?? null,
        enabled: settings.enabled === false ? 0 : 1,
        ...(await keyColumns(trx, settings.apiKey ?? generateSourceKey())),
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
 * The key changes only for a new apiKey or regenerateApiKey: true (requestedKey); the key it
 * replaces is retired. A request that changes nothing leaves the source as it was (modifiedAt
 * included). Undefined when there is no such source.
 */
export async function replaceSource(
  db: Kysely<Database>,
  actor: Actor,
  id: string,
  settings: SourceSettings,
  now: number = Date.now(),
): Promise<SourceRow | undefined> {
  return mapKeyRace(() =>
    transactKnowingCommit(db, async (trx) => {
      // One change of a source at a time (a PUT racing a DELETE or another re-keying would
      // otherwise write to a deleted source, or hand out a key that never worked).
      await lockSource(trx, actor.organizationId, id);
      const existing = await getSource(trx, actor.organizationId, id);
      if (!existing) {
        // A bad body is a 400 even for a source that does not exist (the body first).
        if (settings.apiKey !== undefined) assertAcceptableChosenKey(settings.apiKey);
        return undefined;
      }
      const newKey = await requestedKey(trx, existing, settings);
      const keepsTags = settings.defaultTagIds === undefined && settings.defaultTagNames === undefined;
      const changes: SourceChanges = {
        name: settings.name,
        ...(settings.allowedStates === undefined
          ? {}
          : { allowed_states: allowedList(settings.allowedStates, existing.allowed_states) }),
        ...(settings.allowedProducts === undefined
          ? {}
          : { allowed_products: allowedList(settings.allowedProducts, existing.allowed_products) }),
        ...(keepsTags
          ? {}
          : { default_tags: await defaultTags(trx, actor, settings, now, existing.default_tags) }),
        ...(settings.description === undefined ? {} : { description: settings.description }),
        ...(settings.enabled === undefined ? {} : { enabled: settings.enabled ? 1 : 0 }),
        ...(settings.costPerLeadMicros === undefined
          ? {}
          : { cost_per_lead_micros: settings.costPerLeadMicros }),
        ...(settings.requiresTrustedForm === undefined
          ? {}
          : { requires_trusted_form: settings.requiresTrustedForm ? 1 : 0 }),
        ...(newKey === undefined ? {} : await keyColumns(trx, newKey)),
      };
      const changed = Object.entries(changes).filter(
        ([column, value]) => existing[column as keyof SourceRow] !== value,
      );
      if (changed.length === 0) return existing;
      if (newKey !== undefined) await retireSourceKey(trx, existing, now);
      await updateSource(trx, actor.organizationId, id, {
        ...Object.fromEntries(changed),
        modified_by: actor.userId,
        modified_at: now,
      });
      return getSource(trx, actor.organizationId, id);
    }),
  );
}
