import { type Kysely, PostgresAdapter, sql, type Transaction } from "kysely";
import { OUTCOME_UNKNOWN } from "../domain/message-status.js";
import { latestByKey } from "./latest-by-key.js";
import { emailEquals, type ListField, type ListSpec, phoneDigits, phoneEquals } from "./list-query.js";
import type { ConversationRow, Database, EventRow, LeadRow } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

/**
 * A match for a column LeadTableRow shows as "" when it is null (a lead without an email or phone):
 * a filter for the "" a client read finds those leads, as a null value does.
 */
const orNoneWhenEmpty =
  (column: string, match: NonNullable<ListField["match"]>): ListField["match"] =>
  (value, param) =>
    value.trim() === "" ? sql`${sql.ref(column)} is null` : match(value, param);

export const LEAD_LIST_SPEC: ListSpec = {
  resource: "leads",
  table: "leads",
  fields: {
    id: { column: "id", kind: "string", order: true, filter: true },
    createdAt: { column: "created_at", kind: "timestamp", range: true, order: true },
    updatedAt: { column: "updated_at", kind: "timestamp", range: true, order: true },
    firstName: { column: "first_name", kind: "string", filter: true, search: true },
    lastName: { column: "last_name", kind: "string", filter: true, search: true },
    email: {
      column: "email",
      kind: "string",
      filter: true,
      search: true,
      match: orNoneWhenEmpty("email", emailEquals("email")),
    },
    phone: {
      column: "phone",
      kind: "string",
      filter: true,
      search: true,
      match: orNoneWhenEmpty("phone", phoneEquals("phone")),
      searchTerm: phoneDigits,
    },
    sourceId: { column: "source_id", kind: "string", filter: true },
    enabled: { column: "enabled", kind: "boolean", filter: true },
  },
  defaultOrder: { field: "createdAt", direction: "desc" },
  tieBreakers: ["id"],
};

export const CONVERSATION_LIST_SPEC: ListSpec = {
  resource: "conversations",
  table: "conversations",
  fields: {
    id: { column: "id", kind: "string", order: true, filter: true },
    createdAt: { column: "created_at", kind: "timestamp", range: true, order: true },
    lastEventAt: { column: "last_event_at", kind: "timestamp", range: true, order: true },
    leadId: { column: "lead_id", kind: "string", filter: true },
    leadPhoneNumber: {
      column: "lead_phone",
      kind: "string",
      filter: true,
      search: true,
      match: phoneEquals("lead_phone"),
      searchTerm: phoneDigits,
    },
    lastSnippet: { column: "last_snippet", kind: "string", search: true },
  },
  defaultOrder: { field: "lastEventAt", direction: "desc" },
  tieBreakers: ["id"],
};

export async function getLead(db: Db, organizationId: string, id: string): Promise<LeadRow | undefined> {
  return db
    .selectFrom("leads")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .executeTakeFirst();
}

/**
 * getLead, with the row locked until the transaction ends (PostgreSQL; SQLite runs one writer at a
 * time already): concurrent updates of one lead then each compare against the one before.
 */
export async function lockLead(
  trx: Transaction<Database>,
  organizationId: string,
  id: string,
): Promise<LeadRow | undefined> {
  let query = trx
    .selectFrom("leads")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id);
  if (trx.getExecutor().adapter instanceof PostgresAdapter) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** The index that keeps one lead per source and sellerLeadId (migration 0006). */
export const LEAD_INTAKE_ONCE = { index: "leads_intake_once", columns: "leads.intake_key" };

/** The lead a source delivered under this intake key (domain/sources.ts intakeKey). */
export async function getLeadByIntakeKey(
  db: Db,
  organizationId: string,
  key: string,
): Promise<LeadRow | undefined> {
  return db
    .selectFrom("leads")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("intake_key", "=", key)
    .executeTakeFirst();
}

export async function getLeadsByIds(
  db: Db,
  organizationId: string,
  ids: string[],
): Promise<Map<string, LeadRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom("leads")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "in", [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.id, r]));
}

/** The organization's leads with any of `ids` or at any of `phones`, in one statement. */
export async function getLeadsByIdsOrPhones(
  db: Db,
  organizationId: string,
  ids: string[],
  phones: string[],
): Promise<LeadRow[]> {
  if (ids.length === 0 && phones.length === 0) return [];
  return db
    .selectFrom("leads")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where((eb) =>
      eb.or([
        ...(ids.length > 0 ? [eb("id", "in", [...new Set(ids)])] : []),
        ...(phones.length > 0 ? [eb("phone", "in", [...new Set(phones)])] : []),
      ]),
    )
    .execute();
}

export async function getConversation(
  db: Db,
  organizationId: string,
  id: string,
): Promise<ConversationRow | undefined> {
  return db
    .selectFrom("conversations")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .executeTakeFirst();
}

export async function getConversationForLead(
  db: Db,
  organizationId: string,
  leadId: string,
): Promise<ConversationRow | undefined> {
  return db
    .selectFrom("conversations")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("lead_id", "=", leadId)
    .orderBy("created_at")
    .executeTakeFirst();
}

/**
 * Whether the event (at, id) is not older than the one the conversation shows, in timeline order
 * (createdAt, then id): a webhook that arrives late (its provider time earlier than what is shown)
 * must not move the inbox view back, and of two events in one millisecond the later id wins.
 */
function isNewer(at: number, eventId: string) {
  return sql<boolean>`(last_event_at < ${at} or (last_event_at = ${at}
    and (last_event_id is null or last_event_id <= ${eventId})))`;
}

/** `set column = value` only when the event is newer than the one shown (isNewer). */
function ifNewer<T>(at: number, eventId: string, column: string, value: T) {
  return sql<T>`case when ${isNewer(at, eventId)} then ${value} else ${sql.ref(column)} end`;
}

/** How many characters of an event's text the inbox shows (lastSnippet). */
export const SNIPPET_LENGTH = 160;

/**
 * The first SNIPPET_LENGTH characters of an event's text, counted as code points (as a note's length
 * is): cutting UTF-16 units would split an emoji past the cut into half a surrogate pair, which the
 * database drivers store as U+FFFD, so the preview ended in "\uFFFD".
 */
export function snippetOf(text: string): string {
  if (text.length <= SNIPPET_LENGTH) return text;
  let end = 0;
  let count = 0;
  for (const character of text) {
    if (count === SNIPPET_LENGTH) break;
    end += character.length;
    count++;
  }
  return text.slice(0, end);
}

/** Keeps the inbox view current: the conversation's last event time and snippet (never backwards). */
export async function touchConversation(
  db: Db,
  organizationId: string,
  id: string,
  event: { id: string; at: number; snippet: string; isInternalNote: boolean },
  /** The number this conversation last sent from (sticky sender selection), when it just sent. */
  lastPhoneNumberId?: string,
): Promise<void> {
  const { at } = event;
  await db
    .updateTable("conversations")
    .set({
      last_event_at: ifNewer(at, event.id, "last_event_at", at),
      last_event_id: ifNewer(at, event.id, "last_event_id", event.id),
      last_snippet: ifNewer(at, event.id, "last_snippet", snippetOf(event.snippet)),
      last_event_is_internal_note: ifNewer(
        at,
        event.id,
        "last_event_is_internal_note",
        event.isInternalNote ? 1 : 0,
      ),
      ...(lastPhoneNumberId ? { last_phone_number_id: lastPhoneNumberId } : {}),
    })
    .where("organization_id", "=", organizationId)
    .where("id", "=", id)
    .execute();
}

/**
 * Locks a conversation's row before reading its events (PostgreSQL; SQLite has one writer): once the
 * row is ours, a read sees every event whose touch of it committed before (READ COMMITTED takes each
 * statement's snapshot anew).
 */
async function lockConversationRow(
  trx: Transaction<Database>,
  organizationId: string,
  conversationId: string,
): Promise<void> {
  let lock = trx
    .selectFrom("conversations")
    .select("id")
    .where("organization_id", "=", organizationId)
    .where("id", "=", conversationId);
  if (trx.getExecutor().adapter instanceof PostgresAdapter) lock = lock.forUpdate();
  await lock.execute();
}

/**
 * After a message of the conversation is canceled: its preview (lastSnippet, lastEventIsInternalNote)
 * shows the newest event that was not canceled, as an inbox shows what was said, not what was taken
 * back. lastEventAt stays the newest event's time (the canceled one is still on the timeline).
 */
export async function previewNewestNotCanceled(
  trx: Transaction<Database>,
  organizationId: string,
  conversationId: string,
): Promise<void> {
  await lockConversationRow(trx, organizationId, conversationId);
  const newest = await trx
    .selectFrom("events")
    .select(["summary", "description", "activity_type"])
    .where("organization_id", "=", organizationId)
    .where("conversation_id", "=", conversationId)
    .where((eb) => eb.or([eb("status", "is", null), eb("status", "<>", "Canceled")]))
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  await trx
    .updateTable("conversations")
    .set({
      last_snippet: newest ? snippetOf(newest.summary ?? newest.description) : null,
      last_event_is_internal_note: newest?.activity_type === "Note" ? 1 : 0,
    })
    .where("organization_id", "=", organizationId)
    .where("id", "=", conversationId)
    .execute();
}

/** Outbound statuses of a message that never reached a provider, and never will. */
const NEVER_HANDED_OVER = ["Canceled", "Blocked"] as const;

/**
 * After a message of the conversation is canceled, blocked or refused at the send call: the sticky
 * sender (last_phone_number_id) goes back to the number of the newest outbound message the person
 * may have received (mayHaveReachedThePerson) or still may, so they keep hearing from the number
 * they know rather than from one that never wrote to them. Null when there is none (or that number
 * was deleted).
 */
export async function stickToLastPossiblyReceived(
  trx: Transaction<Database>,
  organizationId: string,
  conversationId: string,
): Promise<void> {
  await lockConversationRow(trx, organizationId, conversationId);
  const newest = await trx
    .selectFrom("events")
    .innerJoin("phone_numbers", (join) =>
      join
        .onRef("phone_numbers.organization_id", "=", "events.organization_id")
        .onRef("phone_numbers.id", "=", "events.from_phone_number_id"),
    )
    .select("events.from_phone_number_id")
    .where("events.organization_id", "=", organizationId)
    .where("events.conversation_id", "=", conversationId)
    .where("events.direction", "=", "outbound")
    .where("events.activity_type", "in", ["Sms", "Mms"])
    .where("events.status", "not in", NEVER_HANDED_OVER)
    .where((eb) =>
      // Not refused at the send call (refusedAtTheCall in domain/message-status.ts, as SQL).
      eb.or([
        eb("events.status", "<>", "Failed"),
        eb("events.provider_message_id", "is not", null),
        eb("events.error_code", "=", OUTCOME_UNKNOWN),
      ]),
    )
    .orderBy("events.created_at", "desc")
    .orderBy("events.id", "desc")
    .limit(1)
    .executeTakeFirst();
  await trx
    .updateTable("conversations")
    .set({ last_phone_number_id: newest?.from_phone_number_id ?? null })
    .where("organization_id", "=", organizationId)
    .where("id", "=", conversationId)
    .execute();
}

/** Conversations whose sticky sender is to be restored, by "organization conversation". */
export type ConversationsToRestick = Map<string, { organizationId: string; conversationId: string }>;

/** Adds a conversation to `conversations` (a message without one, warmup, adds nothing). */
export function addConversationToRestick(
  conversations: ConversationsToRestick,
  event: Pick<EventRow, "organization_id" | "conversation_id">,
): void {
  const { organization_id: organizationId, conversation_id: conversationId } = event;
  if (conversationId)
    conversations.set(`${organizationId} ${conversationId}`, { organizationId, conversationId });
}

/**
 * stickToLastPossiblyReceived for each conversation, in one order (their keys sorted), so two
 * workers restoring the same conversations lock their rows alike and never deadlock.
 */
export async function restickConversations(
  trx: Transaction<Database>,
  conversations: ConversationsToRestick,
): Promise<void> {
  for (const key of [...conversations.keys()].sort()) {
    const { organizationId, conversationId } = conversations.get(key)!;
    await stickToLastPossiblyReceived(trx, organizationId, conversationId);
  }
}

export interface ConversationTouch {
  organizationId: string;
  id: string;
  eventId: string;
  at: number;
  snippet: string;
  lastPhoneNumberId: string;
}

/**
 * touchConversation for messages sent together (never internal notes): one UPDATE … FROM VALUES.
 * A conversation touched twice keeps the later touch; an older touch than the shown one only moves
 * the sticky sender.
 */
export async function touchConversations(
  db: Transaction<Database>,
  touches: ConversationTouch[],
): Promise<void> {
  const all = latestByKey(
    touches,
    (t) => `${t.organizationId} ${t.id}`,
    (t) => t.at,
  );
  for (let start = 0; start < all.length; start += 500) {
    const rows = all.slice(start, start + 500).map(
      (t) =>
        sql`(cast(${t.organizationId} as text), cast(${t.id} as text), cast(${t.at} as bigint),
          cast(${t.eventId} as text), cast(${snippetOf(t.snippet)} as text),
          cast(${t.lastPhoneNumberId} as text))`,
    );
    // isNewer, with the values' columns.
    const newer = sql`(last_event_at < v.v_at or (last_event_at = v.v_at
      and (last_event_id is null or last_event_id <= v.v_event)))`;
    await sql`with v(v_org, v_id, v_at, v_event, v_snippet, v_phone) as (values ${sql.join(rows)})
      update conversations set
        last_event_at = case when ${newer} then v.v_at else last_event_at end,
        last_event_id = case when ${newer} then v.v_event else last_event_id end,
        last_snippet = case when ${newer} then v.v_snippet else last_snippet end,
        last_event_is_internal_note = case when ${newer} then 0 else last_event_is_internal_note end,
        last_phone_number_id = v.v_phone
      from v where conversations.organization_id = v.v_org and conversations.id = v.v_id`.execute(db);
  }
}
