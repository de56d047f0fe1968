import type { Kysely, Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import type { Database, SuppressionRow } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

// One suppression entry per (organization, channel, recipient). Suppress and release move it between
// "active" and "released" and append to its audit trail; a released entry can be suppressed again.

export interface AuditEntry {
  id: string;
  status: string;
  source: string;
  timestamp: string;
  actorId: string | null;
  reason: string | null;
  safeMetadata: Record<string, string>;
}

export interface SuppressInput {
  organizationId: string;
  channel: string;
  recipient: string;
  phoneNumber: string | null;
  email: string | null;
  source: string;
  reason: string | null;
  actorId: string | null;
  at: number;
}

function audit(
  status: string,
  input: Pick<SuppressInput, "source" | "reason" | "actorId" | "at">,
): AuditEntry {
  return {
    id: newId("sup", input.at),
    status,
    source: input.source,
    timestamp: new Date(input.at).toISOString(),
    actorId: input.actorId,
    reason: input.reason,
    safeMetadata: {},
  };
}

export async function findSuppression(
  db: Db,
  organizationId: string,
  channel: string,
  recipient: string,
): Promise<SuppressionRow | undefined> {
  return db
    .selectFrom("suppressions")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("channel", "=", channel)
    .where("recipient", "=", recipient)
    .executeTakeFirst();
}

export async function isSuppressed(
  db: Db,
  organizationId: string,
  channel: string,
  recipient: string,
): Promise<boolean> {
  return (await findSuppression(db, organizationId, channel, recipient))?.status === "active";
}

export async function getSuppression(
  db: Db,
  organizationId: string,
  id: string,
): Promise<SuppressionRow | undefined> {
  return db
    .selectFrom("suppressions")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .executeTakeFirst();
}

/** Suppresses a recipient (idempotent while active). */
export async function suppress(db: Db, input: SuppressInput): Promise<SuppressionRow> {
  const existing = await findSuppression(db, input.organizationId, input.channel, input.recipient);
  if (existing?.status === "active") return existing;
  if (existing) {
    const trail = [...(JSON.parse(existing.audit) as AuditEntry[]), audit("active", input)];
    const row: SuppressionRow = {
      ...existing,
      status: "active",
      source: input.source,
      reason: input.reason,
      suppressed_at: input.at,
      released_at: null,
      audit: JSON.stringify(trail),
    };
    await db
      .updateTable("suppressions")
      .set(row)
      .where("organization_id", "=", existing.organization_id)
      .where("id", "=", existing.id)
      .execute();
    return row;
  }
  const row: SuppressionRow = {
    organization_id: input.organizationId,
    id: newId("sup", input.at),
    channel: input.channel,
    recipient: input.recipient,
    phone_number: input.phoneNumber,
    email: input.email,
    status: "active",
    source: input.source,
    reason: input.reason,
    suppressed_at: input.at,
    released_at: null,
    audit: JSON.stringify([audit("active", input)]),
  };
  await db.insertInto("suppressions").values(row).execute();
  return row;
}

/** Releases an active suppression; returns the entry (or undefined when there is none). */
export async function release(
  db: Db,
  input: Omit<SuppressInput, "phoneNumber" | "email">,
): Promise<SuppressionRow | undefined> {
  const existing = await findSuppression(db, input.organizationId, input.channel, input.recipient);
  if (!existing || existing.status !== "active") return existing;
  const trail = [...(JSON.parse(existing.audit) as AuditEntry[]), audit("released", input)];
  const row: SuppressionRow = {
    ...existing,
    status: "released",
    released_at: input.at,
    audit: JSON.stringify(trail),
  };
  await db
    .updateTable("suppressions")
    .set({ status: row.status, released_at: row.released_at, audit: row.audit })
    .where("organization_id", "=", existing.organization_id)
    .where("id", "=", existing.id)
    .execute();
  return row;
}
