import { type Kysely, sql } from "kysely";
import type { Database } from "./schema.js";

// The inbox status of a conversation (ConversationResponse.status), read from its last message:
// who spoke last, and whether our last message went out. Computed when a page is read, so it follows
// the message as the worker and receipts move it on (Queued → Delivered, or → Failed).

export type ConversationStatus = "needs_reply" | "waiting" | "failed" | "open";

export interface ConversationStatusView {
  status: ConversationStatus;
  statusReason: string | null;
}

/** Statuses of an outbound message that did not and will not reach the lead. */
const FAILED = new Set(["Failed", "Undeliverable", "Blocked", "Opted out"]);

interface LastMessage {
  conversation_id: string;
  direction: string | null;
  status: string | null;
  status_reason: string | null;
  compliance_action: string | null;
}

/**
 * A keyword the lead texted (STOP, START, HELP) is answered automatically, by leadtrail or by the
 * provider (LEADTRAIL_KEYWORD_REPLIES), never by a person: it asks no reply of the inbox.
 */
const KEYWORD_ANSWERED: Record<string, string> = {
  OptOut:
    "The lead opted out (a keyword, answered automatically): nothing more goes to them until they opt back in.",
  OptIn: "The lead opted back in (a keyword, answered automatically).",
  Help: "The lead asked for help (a keyword, answered automatically).",
};

export function conversationStatus(last: LastMessage | undefined): ConversationStatusView {
  if (!last) return { status: "open", statusReason: null };
  const keyword =
    last.direction === "inbound" && last.compliance_action
      ? KEYWORD_ANSWERED[last.compliance_action]
      : undefined;
  if (keyword) return { status: "waiting", statusReason: keyword };
  if (last.direction === "inbound") {
    return { status: "needs_reply", statusReason: "The lead wrote last and has no reply yet." };
  }
  if (last.status !== null && FAILED.has(last.status)) {
    return {
      status: "failed",
      statusReason: last.status_reason ?? `The last message to the lead is ${last.status.toLowerCase()}.`,
    };
  }
  return { status: "waiting", statusReason: "Waiting for the lead to reply." };
}

/**
 * The inbox status of each conversation of one organization, in one query: each conversation's
 * newest SMS/MMS that was meant to reach the lead (warmup traffic, and messages canceled or still
 * scheduled, never were), found through events_by_conversation. A keyword's automatic answer is left
 * out too: the keyword it answers says the conversation's state, and a confirmation the provider
 * refused (its own block rule after a STOP, Telnyx 40300) is no failure of the organization's sending.
 */
export async function conversationStatuses(
  db: Kysely<Database>,
  organizationId: string,
  conversationIds: readonly string[],
): Promise<Map<string, ConversationStatusView>> {
  const ids = [...new Set(conversationIds)];
  if (ids.length === 0) return new Map();
  const rows = await sql<LastMessage>`
    select e.conversation_id, e.direction, e.status, e.status_reason, e.compliance_action from events e
    where e.organization_id = ${organizationId} and e.id in (
      select (
        select m.id from events m
        where m.organization_id = c.organization_id and m.conversation_id = c.id
          and m.activity_type in ('Sms', 'Mms')
          and (m.traffic_type is null or m.traffic_type not in ('Warmup', 'SystemInternal'))
          and (m.status is null or m.status not in ('Cancelled', 'Canceled', 'Scheduled'))
        order by m.created_at desc, m.id desc
        limit 1
      )
      from conversations c
      where c.organization_id = ${organizationId} and c.id in (${sql.join(ids)})
    )`.execute(db);
  const last = new Map(rows.rows.map((r) => [r.conversation_id, r]));
  return new Map(ids.map((id) => [id, conversationStatus(last.get(id))]));
}
