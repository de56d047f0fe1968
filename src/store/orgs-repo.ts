import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { newId } from "../domain/ids.js";
import { createWallet, DEFAULT_STARTING_CREDIT_MICROS } from "./billing-repo.js";
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
  const userId = newId("usr", now);
  const apiKey = generateApiKey();
  await db.transaction().execute(async (trx) => {
    await trx.insertInto("organizations").values({ id: organizationId, name, created_at: now }).execute();
    await trx
      .insertInto("users")
      .values({ organization_id: organizationId, id: userId, name: userName, email: null, created_at: now })
      .execute();
    await trx
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
    await createWallet(trx, organizationId, startingCreditMicros, now);
  });
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
 * process on the same database signs and verifies continuation tokens alike.
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
