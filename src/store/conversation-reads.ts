import { type Kysely, sql } from "kysely";
import type { Database, EventRow } from "./schema.js";

// Per-user read state of conversations (ConversationResponse.isUnread). A conversation is unread for
// a user while the lead has written something that no timeline page has shown that user yet. Reading
// is marked by what was shown, not by when: a message arriving while a page is being read stays
// unread until a page shows it. Marks only move forward, so reading an older page later, or two
// pages read at once, never makes a conversation unread again.

/** A message's place in a timeline: the (created_at, id) order every event list uses. */
interface TimelinePosition {
  at: number;
  id: string;
}

function isAfter(a: TimelinePosition, b: TimelinePosition): boolean {
  return a.at !== b.at ? a.at > b.at : a.id > b.id;
}

/** Messages the lead sent (warmup traffic between our own numbers is not the lead's). */
function isFromLead(row: EventRow): boolean {
  return (
    (row.activity_type === "Sms" || row.activity_type === "Mms") &&
    row.direction === "inbound" &&
    row.traffic_type !== "Warmup"
  );
}

/**
 * Marks, for one user, each conversation as read through the newest message from its lead among
 * `shown` (a page of a lead's or a conversation's timeline). Writes only marks that move forward.
 */
export async function markShownMessagesRead(
  db: Kysely<Database>,
  organizationId: string,
  userId: string,
  shown: readonly EventRow[],
): Promise<void> {
  const newest = new Map<string, TimelinePosition>();
  for (const row of shown) {
    if (row.conversation_id === null || !isFromLead(row)) continue;
    const position = { at: row.created_at, id: row.id };
    const known = newest.get(row.conversation_id);
    if (!known || isAfter(position, known)) newest.set(row.conversation_id, position);
  }
  if (newest.size === 0) return;
  // Read first, so that re-reading a timeline (the common case) writes nothing.
  const marks = await readMarks(db, organizationId, userId, [...newest.keys()]);
  for (const [conversationId, position] of newest) {
    const mark = marks.get(conversationId);
    if (mark && !isAfter(position, mark)) continue;
    // The update's condition keeps the mark from moving back when two pages are read at once.
    await db
      .insertInto("conversation_reads")
      .values({
        organization_id: organizationId,
        conversation_id: conversationId,
        user_id: userId,
        read_through_at: position.at,
        read_through_id: position.id,
      })
      .onConflict((oc) =>
        oc
          .columns(["organization_id", "conversation_id", "user_id"])
          .doUpdateSet({
            read_through_at: (eb) => eb.ref("excluded.read_through_at"),
            read_through_id: (eb) => eb.ref("excluded.read_through_id"),
          })
          .where((eb) =>
            eb.or([
              eb("excluded.read_through_at", ">", eb.ref("conversation_reads.read_through_at")),
              eb.and([
                eb("excluded.read_through_at", "=", eb.ref("conversation_reads.read_through_at")),
                eb("excluded.read_through_id", ">", eb.ref("conversation_reads.read_through_id")),
              ]),
            ]),
          ),
      )
      .execute();
  }
}

async function readMarks(
  db: Kysely<Database>,
  organizationId: string,
  userId: string,
  conversationIds: readonly string[],
): Promise<Map<string, TimelinePosition>> {
  const rows = await db
    .selectFrom("conversation_reads")
    .select(["conversation_id", "read_through_at", "read_through_id"])
    .where("organization_id", "=", organizationId)
    .where("user_id", "=", userId)
    .where("conversation_id", "in", conversationIds)
    .execute();
  return new Map(
    rows.map((r) => [r.conversation_id, { at: Number(r.read_through_at), id: r.read_through_id }]),
  );
}

/**
 * Which of these conversations are unread for the user, in one query: each one's newest message
 * from the lead (found through events_by_conversation) beside the user's mark.
 */
export async function unreadConversations(
  db: Kysely<Database>,
  organizationId: string,
  userId: string,
  conversationIds: readonly string[],
): Promise<Set<string>> {
  const ids = [...new Set(conversationIds)];
  if (ids.length === 0) return new Set();
  const rows = await sql<{
    conversation_id: string;
    created_at: number | string;
    id: string;
    read_through_at: number | string | null;
    read_through_id: string | null;
  }>`
    select e.conversation_id, e.created_at, e.id, r.read_through_at, r.read_through_id
    from events e
    left join conversation_reads r
      on r.organization_id = e.organization_id and r.conversation_id = e.conversation_id
      and r.user_id = ${userId}
    where e.organization_id = ${organizationId} and e.id in (
      select (
        select m.id from events m
        where m.organization_id = c.organization_id and m.conversation_id = c.id
          and m.activity_type in ('Sms', 'Mms') and m.direction = 'inbound'
          and (m.traffic_type is null or m.traffic_type <> 'Warmup')
        order by m.created_at desc, m.id desc
        limit 1
      )
      from conversations c
      where c.organization_id = ${organizationId} and c.id in (${sql.join(ids)})
    )`.execute(db);
  const unread = new Set<string>();
  for (const row of rows.rows) {
    const newest = { at: Number(row.created_at), id: row.id };
    const mark =
      row.read_through_at === null || row.read_through_id === null
        ? undefined
        : { at: Number(row.read_through_at), id: row.read_through_id };
    if (!mark || isAfter(newest, mark)) unread.add(row.conversation_id);
  }
  return unread;
}
