import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { newId } from "../domain/ids.js";
import { createWallet, DEFAULT_STARTING_CREDIT_MICROS } from "./billing-repo.js";
import { transactKnowingCommit } from "./commit-outcome.js";
import type { Database } from "./schema.js";

export interface CreatedOrganization {
  organizationId: string;
  userId: string;
  apiKey: string;
}

export interface ApiKeyOwner {
  organizationId: string;
  userId: string;
}

/** Keys are 256 random bits, so a fast unsalted SHA-256 is a safe way to store and look them up. */
export function hashApiKey(apiKey: string): string {
  return createHash("sha256").update(apiKey).digest("hex");
}

export function generateApiKey(): string {
  return `sk_${randomBytes(32).toString("base64url")}`;
}

export interface CreateOrganizationOptions {
  /** The first user's name (default "Owner"). */
  userName?: string;
  /** The wallet's starting credit in micro-dollars (default 10 USD; config: LEADTRAIL_STARTING_CREDIT). */
  startingCreditMicros?: number;
}

/**
 * Creates an organization with its first user, an API key and its wallet, in one transaction. The
 * third argument is the user's name, or options (user name, starting credit).
 */
export async function createOrganization(
  db: Kysely<Database>,
  name: string,
  options: string | CreateOrganizationOptions = {},
): Promise<CreatedOrganization> {
  const { userName = "Owner", startingCreditMicros = DEFAULT_STARTING_CREDIT_MICROS } =
    typeof options === "string" ? { userName: options } : options;
  if (!Number.isSafeInteger(startingCreditMicros) || startingCreditMicros < 0) {
    throw new Error(`the starting credit must be a non-negative whole number of micro-dollars`);
  }
  const now = Date.now();
  const organizationId = newId("org", now);
  return transactKnowingCommit(db, async (trx) => {
    await trx.insertInto("organizations").values({ id: organizationId, name, created_at: now }).execute();
    const user = await insertUserWithKey(trx, organizationId, { name: userName }, now);
    await createWallet(trx, organizationId, startingCreditMicros, now);
    return user;
  });
}

export interface NewUser {
  name: string;
  email?: string | null;
}

/**
 * Adds a user with their own API key to an existing organization (a team member: what they write
 * carries their name, and conversations are read or unread for each user). Null when there is no
 * such organization.
 */
export async function addUser(
  db: Kysely<Database>,
  organizationId: string,
  user: NewUser,
): Promise<CreatedOrganization | null> {
  return transactKnowingCommit(db, async (trx) => {
    if (!(await getOrganization(trx, organizationId))) return null;
    return insertUserWithKey(trx, organizationId, user, Date.now());
  });
}

/** A user by id alone (ids are unique across organizations), for the operator's CLI. */
export async function findUser(db: Kysely<Database>, userId: string) {
  return db.selectFrom("users").select(["organization_id", "id"]).where("id", "=", userId).executeTakeFirst();
}

/** A new API key for an existing user (to rotate one); null when there is no such user. */
export async function addApiKey(db: Kysely<Database>, userId: string): Promise<CreatedOrganization | null> {
  const user = await findUser(db, userId);
  if (!user) return null;
  const apiKey = generateApiKey();
  await insertApiKey(db, user.organization_id, user.id, apiKey, Date.now());
  return { organizationId: user.organization_id, userId: user.id, apiKey };
}

export interface RevokedKeys {
  organizationId: string;
  userId: string;
  /** The first characters of each key revoked (`sk_abcd`), as stored. */
  keyPrefixes: string[];
}

/**
 * Revokes an organization API key (given whole), or every one of a user. Null when nothing live
 * matched. A running server stops accepting a revoked key once its cache entry for it ends: within a
 * minute. Source keys (lp_src_…) belong to their sources, not to a user: re-key or delete the source.
 */
export async function revokeApiKeys(
  db: Kysely<Database>,
  target: { apiKey: string } | { userId: string },
  now: number = Date.now(),
): Promise<RevokedKeys | null> {
  const revoked = await db
    .updateTable("api_keys")
    .set({ revoked_at: now })
    .where("revoked_at", "is", null)
    .where((eb) =>
      "apiKey" in target ? eb("key_hash", "=", hashApiKey(target.apiKey)) : eb("user_id", "=", target.userId),
    )
    .returning(["organization_id", "user_id", "key_prefix"])
    .execute();
  const first = revoked[0];
  if (!first) return null;
  return {
    organizationId: first.organization_id,
    userId: first.user_id,
    keyPrefixes: revoked.map((r) => r.key_prefix),
  };
}

async function insertApiKey(
  db: Kysely<Database>,
  organizationId: string,
  userId: string,
  apiKey: string,
  now: number,
): Promise<void> {
  await db
    .insertInto("api_keys")
    .values({
      id: newId("key", now),
      organization_id: organizationId,
      user_id: userId,
      key_hash: hashApiKey(apiKey),
      key_prefix: apiKey.slice(0, 7),
      created_at: now,
      revoked_at: null,
    })
    .execute();
}

async function insertUserWithKey(
  db: Kysely<Database>,
  organizationId: string,
  user: NewUser,
  now: number,
): Promise<CreatedOrganization> {
  const userId = newId("usr", now);
  const apiKey = generateApiKey();
  await db
    .insertInto("users")
    .values({
      organization_id: organizationId,
      id: userId,
      name: user.name,
      email: user.email ?? null,
      created_at: now,
    })
    .execute();
  await insertApiKey(db, organizationId, userId, apiKey, now);
  return { organizationId, userId, apiKey };
}

export async function findApiKeyOwner(db: Kysely<Database>, keyHash: string): Promise<ApiKeyOwner | null> {
  const row = await db
    .selectFrom("api_keys")
    .select(["organization_id", "user_id"])
    .where("key_hash", "=", keyHash)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return row ? { organizationId: row.organization_id, userId: row.user_id } : null;
}

export async function getOrganization(db: Kysely<Database>, id: string) {
  return db.selectFrom("organizations").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function countOrganizations(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom("organizations")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * A process-wide secret kept in the database (created once, race-safe), so every server and worker
 * process on the same database signs and verifies alike (continuation tokens, Telnyx webhook URLs).
 */
export async function getOrCreateSecret(db: Kysely<Database>, key: string): Promise<Buffer> {
  await db
    .insertInto("settings")
    .values({ key, value: randomBytes(32).toString("base64url") })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
  const row = await db
    .selectFrom("settings")
    .select("value")
    .where("key", "=", key)
    .executeTakeFirstOrThrow();
  return Buffer.from(row.value, "base64url");
}

export async function organizationName(db: Kysely<Database>, organizationId: string): Promise<string | null> {
  return (await getOrganization(db, organizationId))?.name ?? null;
}
