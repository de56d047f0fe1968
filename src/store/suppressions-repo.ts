import { type Kysely, sql, type Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import { toE164 } from "../domain/phone.js";
import { lockMessagesNotHandedOver } from "./events-repo.js";
import { emailEquals, type ListSpec, phoneDigits, phoneEquals } from "./list-query.js";
import type { Database, SuppressionRow } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

// One suppression entry per (organization, channel, recipient). Suppress and release move it between
// "active" and "released" and append to its audit trail; a released entry can be suppressed again.
// An entry on channel "all" blocks the recipient on every channel.

/** Channels a suppression can name: the message channels we send on, plus "all". */
export const SUPPRESSION_CHANNELS = ["sms", "voice", "email", "all"] as const;
export type SuppressionChannel = (typeof SUPPRESSION_CHANNELS)[number];

export const SUPPRESSION_STATUSES = ["active", "released"] as const;

/** An email as entries keep it (lower case); anything else as written. */
const asEmail = (value: string) => (value.includes("@") ? value.trim().toLowerCase() : value);

export const SUPPRESSION_LIST_SPEC: ListSpec = {
  resource: "suppressions",
  table: "suppressions",
  fields: {
    id: { column: "id", kind: "string", order: true, filter: true },
    suppressedAt: { column: "suppressed_at", kind: "timestamp", order: true, range: true },
    releasedAt: { column: "released_at", kind: "timestamp", range: true },
    status: { column: "status", kind: "string", filter: true, values: SUPPRESSION_STATUSES },
    channel: { column: "channel", kind: "string", filter: true, values: SUPPRESSION_CHANNELS },
    source: { column: "source", kind: "string", filter: true },
    // Phone numbers and emails are kept normalized (E.164, lower case): a filter or search in
    // another spelling finds them, as /suppressions/check does.
    recipient: {
      column: "recipient",
      kind: "string",
      filter: true,
      search: true,
      match: (value) => sql`recipient = ${toE164(value) ?? asEmail(value)}`,
      searchTerm: phoneDigits,
    },
    recipientIdentifier: { column: "recipient_identifier", kind: "string", filter: true, search: true },
    normalizedPhoneNumber: {
      column: "phone_number",
      kind: "string",
      filter: true,
      search: true,
      match: phoneEquals("phone_number"),
      searchTerm: phoneDigits,
    },
    normalizedEmail: {
      column: "email",
      kind: "string",
      filter: true,
      search: true,
      match: emailEquals("email"),
    },
    reason: { column: "reason", kind: "string", search: true },
  },
  aliases: {
    phoneNumber: "normalizedPhoneNumber",
    email: "normalizedEmail",
  },
  defaultOrder: { field: "suppressedAt", direction: "desc" },
  tieBreakers: ["id"],
};

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
  /** The client's own identifier for the recipient (recipientIdentifier), when it gave one. */
  clientIdentifier?: string | null;
  source: string;
  reason: string | null;
  actorId: string | null;
  at: number;
}

export type ReleaseInput = Omit<SuppressInput, "phoneNumber" | "email" | "clientIdentifier">;

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

export function auditTrail(row: SuppressionRow): AuditEntry[] {
  return JSON.parse(row.audit) as AuditEntry[];
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

/**
 * The active entry that blocks any of `recipients` on `channel`: an entry on that channel or on
 * "all"; for channel "all", an entry on any channel. Oldest first when several match.
 *
 * An entry on "all" given both a phone number and an email is kept under the phone number, yet it
 * blocks every channel for that person: its email matches too (an email is never an entry's phone
 * number, so only emails are looked up that way). The worker needs no such lookup: it sends SMS to
 * phone numbers, which an "all" entry is kept under.
 */
export async function findActiveSuppression(
  db: Db,
  organizationId: string,
  channel: string,
  recipients: string[],
): Promise<SuppressionRow | undefined> {
  if (recipients.length === 0) return undefined;
  const emails = recipients.filter((r) => r.includes("@"));
  const byRecipient = await activeSuppressions(db, organizationId, channel, recipients)
    .selectAll()
    .orderBy("suppressed_at", "asc")
    .orderBy("id", "asc")
    .executeTakeFirst();
  if (emails.length === 0) return byRecipient;
  // Found through suppressions_by_recipient's (organization, channel) prefix: the "all" entries.
  const byEmail = await db
    .selectFrom("suppressions")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("channel", "=", "all")
    .where("email", "in", emails)
    .where("status", "=", "active")
    .orderBy("suppressed_at", "asc")
    .orderBy("id", "asc")
    .executeTakeFirst();
  if (!byRecipient || !byEmail) return byRecipient ?? byEmail;
  const older =
    Number(byEmail.suppressed_at) < Number(byRecipient.suppressed_at) ||
    (Number(byEmail.suppressed_at) === Number(byRecipient.suppressed_at) && byEmail.id < byRecipient.id);
  return older ? byEmail : byRecipient;
}

/** Which of `recipients` an active entry blocks on `channel` (the rule of findActiveSuppression). */
export async function suppressedAmong(
  db: Db,
  organizationId: string,
  channel: string,
  recipients: string[],
): Promise<Set<string>> {
  if (recipients.length === 0) return new Set();
  const rows = await activeSuppressions(db, organizationId, channel, [...new Set(recipients)])
    .select("recipient")
    .distinct()
    .execute();
  return new Set(rows.map((r) => r.recipient));
}

export async function isSuppressed(
  db: Db,
  organizationId: string,
  channel: string,
  recipient: string,
): Promise<boolean> {
  return (await suppressedAmong(db, organizationId, channel, [recipient])).has(recipient);
}

function activeSuppressions(db: Db, organizationId: string, channel: string, recipients: string[]) {
  const query = db
    .selectFrom("suppressions")
    .where("organization_id", "=", organizationId)
    .where("recipient", "in", recipients)
    .where("status", "=", "active");
  return channel === "all" ? query : query.where("channel", "in", [channel, "all"]);
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

/**
 * Suppresses a recipient; an entry already active is answered unchanged. Safe under concurrency: the insert yields to an
 * entry created meanwhile, and reactivation only applies to an entry that is still released, so two
 * concurrent calls never both append to the audit trail or fail on the unique index.
 */
export async function suppress(db: Db, input: SuppressInput): Promise<SuppressionRow> {
  // A message to this recipient that a worker is gating goes out before this commits, or not at all.
  if (input.channel === "sms" || input.channel === "all")
    await lockMessagesNotHandedOver(db, input.organizationId, { toPhoneNumber: input.recipient });
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await findSuppression(db, input.organizationId, input.channel, input.recipient);
    if (existing?.status === "active") return existing;
    if (existing) {
      const row: SuppressionRow = {
        ...existing,
        status: "active",
        source: input.source,
        reason: input.reason,
        phone_number: input.phoneNumber ?? existing.phone_number,
        email: input.email ?? existing.email,
        recipient_identifier: input.clientIdentifier ?? existing.recipient_identifier,
        suppressed_at: input.at,
        released_at: null,
        audit: JSON.stringify([...auditTrail(existing), audit("active", input)]),
      };
      const updated = await db
        .updateTable("suppressions")
        .set({
          status: row.status,
          source: row.source,
          reason: row.reason,
          phone_number: row.phone_number,
          email: row.email,
          recipient_identifier: row.recipient_identifier,
          suppressed_at: row.suppressed_at,
          released_at: row.released_at,
          audit: row.audit,
        })
        .where("organization_id", "=", existing.organization_id)
        .where("id", "=", existing.id)
        .where("status", "=", existing.status)
        .where("audit", "=", existing.audit)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 1) return row;
      continue; // changed meanwhile: look again
    }
    const row: SuppressionRow = {
      organization_id: input.organizationId,
      id: newId("sup", input.at),
      channel: input.channel,
      recipient: input.recipient,
      recipient_identifier: input.clientIdentifier ?? input.recipient,
      phone_number: input.phoneNumber,
      email: input.email,
      status: "active",
      source: input.source,
      reason: input.reason,
      suppressed_at: input.at,
      released_at: null,
      audit: JSON.stringify([audit("active", input)]),
    };
    const inserted = await db
      .insertInto("suppressions")
      .values(row)
      .onConflict((oc) => oc.columns(["organization_id", "channel", "recipient"]).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return row;
  }
  // Three lost races in a row: the entry exists and someone else keeps changing it; report it as is.
  const current = await findSuppression(db, input.organizationId, input.channel, input.recipient);
  if (!current) throw new Error("suppression entry vanished while suppressing");
  return current;
}

/**
 * Releases an active suppression; returns the entry (or undefined when there is none). An entry that
 * is already released is returned unchanged. The release reason, when given, becomes the entry's reason.
 */
export async function release(db: Db, input: ReleaseInput): Promise<SuppressionRow | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await findSuppression(db, input.organizationId, input.channel, input.recipient);
    if (existing?.status !== "active") return existing;
    const row: SuppressionRow = {
      ...existing,
      status: "released",
      reason: input.reason ?? existing.reason,
      released_at: input.at,
      audit: JSON.stringify([...auditTrail(existing), audit("released", input)]),
    };
    const updated = await db
      .updateTable("suppressions")
      .set({ status: row.status, reason: row.reason, released_at: row.released_at, audit: row.audit })
      .where("organization_id", "=", existing.organization_id)
      .where("id", "=", existing.id)
      .where("status", "=", "active")
      .where("audit", "=", existing.audit)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 1) return row;
  }
  return findSuppression(db, input.organizationId, input.channel, input.recipient);
}
