import { type Kysely, PostgresAdapter, sql, type Transaction } from "kysely";
import { newId } from "../domain/ids.js";
import { type HealthStatus, healthFromCounts } from "../domain/sender-selection.js";
import { rampAcross } from "../domain/warmup.js";
import { transactKnowingCommit } from "./commit-outcome.js";
import type { Engine } from "./database.js";
import { isUniqueViolation } from "./errors.js";
import { lockMessagesNotHandedOver } from "./events-repo.js";
import type { ListSpec } from "./list-query.js";
import { lockForTransaction } from "./locks.js";
import type { Database, PhoneNumberRow } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

const DAY_MS = 86_400_000;
export const HEALTH_WINDOW_DAYS = 7;

export function dayOf(at: number): number {
  return Math.floor(at / DAY_MS);
}

/** Some numbers of one organization, by id (ids that are not found are left out). */
export async function getPhoneNumbersByIds(
  db: Db,
  organizationId: string,
  ids: string[],
): Promise<Map<string, PhoneNumberRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "in", [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.id, r]));
}

export async function getPhoneNumber(
  db: Db,
  organizationId: string,
  id: string,
): Promise<PhoneNumberRow | undefined> {
  return db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .executeTakeFirst();
}

/**
 * The organization that owns a number (inbound messages arrive addressed to a number). A number is
 * saved in one organization only; a database from before that rule may hold it twice, and then the
 * organization that registered it first keeps receiving.
 */
export async function findPhoneNumberByNumber(db: Db, number: string): Promise<PhoneNumberRow | undefined> {
  return db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("number", "=", number)
    .orderBy("created_at")
    .executeTakeFirst();
}

export type OutcomeKind = "sent" | "failed" | "carrier_blocked";

/** Counts delivery outcomes (one unless told) toward the number's health (per UTC day). */
export async function recordOutcome(
  db: Db,
  organizationId: string,
  phoneNumberId: string,
  kind: OutcomeKind,
  at: number,
  count = 1,
): Promise<void> {
  const counts = {
    sent: kind === "sent" ? count : 0,
    failed: kind === "failed" ? count : 0,
    carrier_blocked: kind === "carrier_blocked" ? count : 0,
  };
  await db
    .insertInto("phone_number_health_days")
    .values({ organization_id: organizationId, phone_number_id: phoneNumberId, day: dayOf(at), ...counts })
    .onConflict((oc) =>
      oc.columns(["organization_id", "phone_number_id", "day"]).doUpdateSet({
        sent: sql`phone_number_health_days.sent + ${counts.sent}`,
        failed: sql`phone_number_health_days.failed + ${counts.failed}`,
        carrier_blocked: sql`phone_number_health_days.carrier_blocked + ${counts.carrier_blocked}`,
      }),
    )
    .execute();
}

/** Each number's outcome counts over the last seven days (the input of healthFromCounts). */
function healthCounts(db: Db, organizationId: string, now: number) {
  return db
    .selectFrom("phone_number_health_days")
    .select((eb) => [
      "phone_number_id",
      eb.fn.sum<number | string>("sent").as("sent"),
      eb.fn.sum<number | string>("failed").as("failed"),
      eb.fn.sum<number | string>("carrier_blocked").as("carrier_blocked"),
    ])
    .where("organization_id", "=", organizationId)
    .where("day", ">", dayOf(now) - HEALTH_WINDOW_DAYS)
    .groupBy("phone_number_id");
}

/** Health of every number of the organization from its last seven days of outcomes. */
export async function healthByNumber(
  db: Db,
  organizationId: string,
  now = Date.now(),
): Promise<Map<string, HealthStatus>> {
  const rows = await healthCounts(db, organizationId, now).execute();
  return new Map(
    rows.map((r) => [
      r.phone_number_id,
      healthFromCounts(Number(r.sent), Number(r.failed), Number(r.carrier_blocked)),
    ]),
  );
}

/**
 * The organization's numbers with their health, in one statement (sender selection reads both on
 * every send; on PostgreSQL each statement is a round trip).
 */
export async function phoneNumbersWithHealth(
  db: Db,
  organizationId: string,
  now = Date.now(),
): Promise<{ rows: PhoneNumberRow[]; health: Map<string, HealthStatus> }> {
  const joined = await db
    .selectFrom("phone_numbers as p")
    .leftJoin(healthCounts(db, organizationId, now).as("h"), "h.phone_number_id", "p.id")
    .selectAll("p")
    .select(["h.sent as h_sent", "h.failed as h_failed", "h.carrier_blocked as h_carrier_blocked"])
    .where("p.organization_id", "=", organizationId)
    .orderBy("p.id")
    .execute();
  const rows: PhoneNumberRow[] = [];
  const health = new Map<string, HealthStatus>();
  for (const { h_sent, h_failed, h_carrier_blocked, ...row } of joined) {
    rows.push(row);
    if (h_sent !== null)
      health.set(row.id, healthFromCounts(Number(h_sent), Number(h_failed), Number(h_carrier_blocked)));
  }
  return { rows, health };
}

export async function touchLastUsed(db: Db, organizationId: string, id: string, at: number): Promise<void> {
  await db
    .updateTable("phone_numbers")
    .set({ last_used_at: at })
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .execute();
}

// ---- The phone-number API (issue 3, item 1) ----

/** What POST /phone-numbers/all/organization accepts in filters / rangeFilters / orderBy / search. */
export const PHONE_NUMBER_LIST_SPEC: ListSpec = {
  resource: "phone numbers",
  table: "phone_numbers",
  fields: {
    id: { column: "id", kind: "string", order: true, filter: true },
    createdAt: { column: "created_at", kind: "timestamp", range: true, order: true },
    updatedAt: { column: "updated_at", kind: "timestamp", range: true },
    number: { column: "number", kind: "string", filter: true, search: true },
    name: { column: "name", kind: "string", filter: true, search: true },
    campaignId: { column: "campaign_id", kind: "string", filter: true },
    sourceId: { column: "source_id", kind: "string", filter: true },
    tenDlcCampaignId: { column: "ten_dlc_campaign_id", kind: "string", filter: true },
  },
  aliases: { tenDlcApplicationId: "tenDlcCampaignId" },
  defaultOrder: { field: "createdAt", direction: "desc" },
  tieBreakers: ["id"],
};

/** The settings a client sends (PhoneNumberRequest and our extensions), already normalized. */
export type PhoneNumberSettings = Pick<
  PhoneNumberRow,
  | "number"
  | "name"
  | "enabled"
  | "sms_enabled"
  | "source_id"
  | "campaign_id"
  | "ten_dlc_campaign_id"
  | "is_preferred"
  | "is_default"
  | "warmup_enabled"
>;

/** A new number's row: its settings, no usage yet, no warmup ramp started. */
export function newPhoneNumberRow(
  organizationId: string,
  settings: PhoneNumberSettings,
  now: number = Date.now(),
): PhoneNumberRow {
  return {
    organization_id: organizationId,
    id: newId("pn", now),
    ...settings,
    warmup_started_at: null,
    warmup_paused_at: null,
    last_used_at: null,
    created_at: now,
    updated_at: now,
    warmup_day_start: null,
    warmup_sent_today: 0,
    warmup_last_sent_at: null,
    warmup_total_sent: 0,
  };
}

/**
 * Why a number cannot be saved: the organization has it already, or another organization does (a
 * number belongs to one organization: the messages sent to it are that organization's).
 */
export type NumberConflict = "duplicate-number" | "number-of-another-organization";

export type SaveResult = { row: PhoneNumberRow } | { conflict: NumberConflict } | { missing: true };

/**
 * A create or update: number and name always given; a setting left undefined takes its default on
 * create and keeps its current value on update.
 */
export type PhoneNumberChanges = Pick<PhoneNumberSettings, "number" | "name"> & Partial<PhoneNumberSettings>;

/** What a new number gets for the settings its request left out. */
const NEW_NUMBER_DEFAULTS: Omit<PhoneNumberSettings, "number" | "name"> = {
  enabled: 1,
  sms_enabled: 1,
  source_id: null,
  campaign_id: null,
  ten_dlc_campaign_id: null,
  is_preferred: 0,
  is_default: 0,
  warmup_enabled: 0,
};

/** `base` overlaid with the changes that are not undefined. */
function applyChanges(base: PhoneNumberSettings, changes: PhoneNumberChanges): PhoneNumberSettings {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(changes)) if (value !== undefined) merged[key] = value;
  return merged as PhoneNumberSettings;
}

function settingsOf(row: PhoneNumberRow): PhoneNumberSettings {
  return {
    number: row.number,
    name: row.name,
    enabled: row.enabled,
    sms_enabled: row.sms_enabled,
    source_id: row.source_id,
    campaign_id: row.campaign_id,
    ten_dlc_campaign_id: row.ten_dlc_campaign_id,
    is_preferred: row.is_preferred,
    is_default: row.is_default,
    warmup_enabled: row.warmup_enabled,
  };
}

/**
 * Serializes phone-number writes of one organization (PostgreSQL: a row lock on the organization;
 * SQLite has a single writer already), so "at most one default number" holds under concurrency.
 */
async function lockOrganization(trx: Transaction<Database>, engine: Engine, organizationId: string) {
  if (engine === "postgresql") {
    await trx.selectFrom("organizations").select("id").where("id", "=", organizationId).forUpdate().execute();
  }
}

/** Who else holds this number already, if anyone: this organization (another record) or another one. */
async function numberTaken(
  trx: Db,
  organizationId: string,
  number: string,
  exceptId: string | null,
): Promise<NumberConflict | null> {
  const holders = await trx
    .selectFrom("phone_numbers")
    .select(["organization_id", "id"])
    .where("number", "=", number)
    .execute();
  const isSelf = (h: { organization_id: string; id: string }) =>
    h.organization_id === organizationId && h.id === exceptId;
  const others = holders.filter((h) => !isSelf(h));
  if (others.some((h) => h.organization_id === organizationId)) return "duplicate-number";
  // A record that keeps its number may always be saved: a database from before numbers belonged to
  // one organization can hold one twice, and its holders must still be able to rename it or add a
  // 10DLC campaign.
  if (holders.some(isSelf)) return null;
  return others.length > 0 ? "number-of-another-organization" : null;
}

async function clearOtherDefaults(trx: Db, organizationId: string, keepId: string, now: number) {
  await trx
    .updateTable("phone_numbers")
    .set({ is_default: 0, updated_at: now })
    .where("organization_id", "=", organizationId)
    .where("id", "!=", keepId)
    .where("is_default", "=", 1)
    .execute();
}

/**
 * Creates (id null) or updates (id given) a number of the organization. On update, settings the
 * changes leave undefined keep their current values, read in the same transaction. A number already
 * used by another of the organization's numbers is a conflict; making one the default clears the
 * flag on the others, in the same transaction.
 */
export async function savePhoneNumber(
  db: Kysely<Database>,
  engine: Engine,
  organizationId: string,
  id: string | null,
  changes: PhoneNumberChanges,
  now: number = Date.now(),
): Promise<SaveResult> {
  try {
    return await transactKnowingCommit(db, async (trx): Promise<SaveResult> => {
      await lockOrganization(trx, engine, organizationId);
      // Organizations do not share numbers, so the number itself is locked too (PostgreSQL: the
      // organization's lock does not stop another organization adding it at the same moment).
      await lockForTransaction(trx, `phone-number:${changes.number}`);
      const conflict = await numberTaken(trx, organizationId, changes.number, id);
      if (conflict) return { conflict };
      let row: PhoneNumberRow;
      if (id === null) {
        const { number, name } = changes;
        const settings = applyChanges({ ...NEW_NUMBER_DEFAULTS, number, name }, changes);
        row = newPhoneNumberRow(organizationId, settings, now);
        await trx.insertInto("phone_numbers").values(row).execute();
      } else {
        const existing = await getPhoneNumber(trx, organizationId, id);
        if (!existing) return { missing: true };
        const settings = applyChanges(settingsOf(existing), changes);
        const changed = (Object.keys(settings) as Array<keyof PhoneNumberSettings>).some(
          (k) => existing[k] !== settings[k],
        );
        if (!changed) return { row: existing };
        // A message from it that a worker is gating goes out before a change that can block it
        // (SenderUnavailable, MissingTenDlcCampaign) commits, or is blocked by it.
        if (
          existing.enabled !== settings.enabled ||
          existing.sms_enabled !== settings.sms_enabled ||
          existing.ten_dlc_campaign_id !== settings.ten_dlc_campaign_id
        ) {
          await lockMessagesNotHandedOver(trx, organizationId, { fromPhoneNumberId: id });
        }
        // Carrier reputation belongs to the number, not the record: another number starts afresh,
        // without the old one's delivery history, usage or warmup ramp.
        const renumbered = existing.number !== settings.number;
        if (renumbered) {
          await trx
            .deleteFrom("phone_number_health_days")
            .where("organization_id", "=", organizationId)
            .where("phone_number_id", "=", id)
            .execute();
        }
        // Turning warmup off ends the ramp: turning it on again starts a new one. A number that
        // cannot send pauses its ramp, and resumes it where it stopped once it can.
        const ramp = rampAcross(
          {
            startedAt: settings.warmup_enabled === 1 && !renumbered ? existing.warmup_started_at : null,
            pausedAt: existing.warmup_paused_at,
            dayStart: existing.warmup_day_start,
          },
          settings.enabled === 1 && settings.sms_enabled === 1,
          now,
        );
        const reset = {
          warmup_started_at: ramp.startedAt,
          warmup_paused_at: ramp.pausedAt,
          warmup_day_start: ramp.dayStart,
          ...(renumbered
            ? { last_used_at: null, warmup_day_start: null, warmup_sent_today: 0, warmup_last_sent_at: null }
            : {}),
        };
        await trx
          .updateTable("phone_numbers")
          .set({ ...settings, ...reset, updated_at: now })
          .where("organization_id", "=", organizationId)
          .where("id", "=", id)
          .execute();
        row = { ...existing, ...settings, ...reset, updated_at: now };
      }
      if (row.is_default === 1) await clearOtherDefaults(trx, organizationId, row.id, now);
      return { row };
    });
  } catch (error) {
    // Two requests adding the same number at once: the unique index decides, the loser is a conflict.
    if (isUniqueViolation(error)) return { conflict: "duplicate-number" };
    throw error;
  }
}

/**
 * Deletes a number with its health history, and forgets it as any conversation's override or sticky
 * sender. Events that name it keep their history; a message still queued from it is blocked by the
 * worker (SenderUnavailable). Returns false when the organization has no such number.
 */
export async function deletePhoneNumber(
  db: Kysely<Database>,
  organizationId: string,
  id: string,
): Promise<boolean> {
  return transactKnowingCommit(db, async (trx) => {
    // As for a number turned off (savePhoneNumber).
    await lockMessagesNotHandedOver(trx, organizationId, { fromPhoneNumberId: id });
    const deleted = await trx
      .deleteFrom("phone_numbers")
      .where("organization_id", "=", organizationId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) return false;
    await trx
      .deleteFrom("phone_number_health_days")
      .where("organization_id", "=", organizationId)
      .where("phone_number_id", "=", id)
      .execute();
    await trx
      .updateTable("conversations")
      .set({ override_phone_number_id: null })
      .where("organization_id", "=", organizationId)
      .where("override_phone_number_id", "=", id)
      .execute();
    await trx
      .updateTable("conversations")
      .set({ last_phone_number_id: null })
      .where("organization_id", "=", organizationId)
      .where("last_phone_number_id", "=", id)
      .execute();
    return true;
  });
}

/** Sets (or, with null, clears) a conversation's manual sender. False when there is no such conversation. */
export async function setConversationOverride(
  db: Db,
  organizationId: string,
  conversationId: string,
  phoneNumberId: string | null,
): Promise<boolean> {
  const updated = await db
    .updateTable("conversations")
    .set({ override_phone_number_id: phoneNumberId })
    .where("organization_id", "=", organizationId)
    .where("id", "=", conversationId)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

export type OverrideOutcome = "set" | "no-number" | "cannot-send";

/**
 * Makes a number of the organization a conversation's manual sender, if it can send: checked and
 * written in one transaction with the number's row locked (PostgreSQL; SQLite has one writer), so a
 * DELETE or a disable committing meanwhile is seen, never left with the conversation pointing at it.
 */
export async function overrideConversationSender(
  db: Kysely<Database>,
  organizationId: string,
  conversationId: string,
  phoneNumberId: string,
): Promise<OverrideOutcome> {
  return transactKnowingCommit(db, async (trx) => {
    let query = trx
      .selectFrom("phone_numbers")
      .select(["enabled", "sms_enabled"])
      .where("organization_id", "=", organizationId)
      .where("id", "=", phoneNumberId);
    if (trx.getExecutor().adapter instanceof PostgresAdapter) query = query.forUpdate();
    const number = await query.executeTakeFirst();
    if (!number) return "no-number";
    if (number.enabled !== 1 || number.sms_enabled !== 1) return "cannot-send";
    await setConversationOverride(trx, organizationId, conversationId, phoneNumberId);
    return "set";
  });
}
