import { type Kysely, sql, type Transaction } from "kysely";
import type { KeywordReplies } from "../config.js";
import { ACTIVITY_CATEGORY } from "../domain/event-vocabulary.js";
import { type KeywordAction, keywordAction } from "../domain/keywords.js";
import { toE164 } from "../domain/phone.js";
import { withSmsConsent } from "../domain/sms-consent.js";
import { lockLeadsAtPhone, recordSmsConsent } from "../services/lead-consent.js";
import { insertLead } from "../services/leads.js";
import { recordEvent } from "../services/timeline.js";
import { isUniqueViolation } from "../store/errors.js";
import { runTransaction } from "../store/group-commit.js";
import { getConversationForLead } from "../store/leads-repo.js";
import { lockForTransaction } from "../store/locks.js";
import { INBOUND_ONCE } from "../store/migration-0004-inbound-once.js";
import { findPhoneNumberByNumber } from "../store/phone-numbers-repo.js";
import type { Database, EventRow, LeadRow, PhoneNumberRow } from "../store/schema.js";
import { findSuppression, isSuppressed, release, suppress } from "../store/suppressions-repo.js";
import { SYSTEM_AUTHOR_ID } from "../store/user-directory.js";
import type { Prices } from "./billing.js";
import { type FormerSender, formerSenders } from "./former-number.js";
import type { InboundMessage } from "./provider.js";
import { queueOutbound } from "./send.js";

/** The author of what the system writes by itself (see UserDirectory). */
export const SYSTEM_ACTOR = SYSTEM_AUTHOR_ID;

export const REPLIES = {
  "opt-out": "You have been unsubscribed and will receive no more messages. Reply START to resubscribe.",
  "opt-in": "You have been resubscribed. Reply STOP to unsubscribe, HELP for help.",
  help: "Reply STOP to unsubscribe, START to resubscribe. Msg & data rates may apply.",
} as const;

/** Whether `number` is one of the organization's own numbers (a warmup partner, not a lead). */
export async function isOwnNumber(
  db: Kysely<Database>,
  organizationId: string,
  number: string,
): Promise<boolean> {
  const own = await db
    .selectFrom("phone_numbers")
    .select("id")
    .where("organization_id", "=", organizationId)
    .where("number", "=", number)
    .executeTakeFirst();
  return own !== undefined;
}

/**
 * The lead an inbound message from `from` to our number answers. Several leads may share a phone
 * (a vendor's repeat delivery is a lead of its own): the reply belongs to the lead we last texted
 * (a message that went out) at that phone from this number of ours, else to the one with the latest activity (the newest lead
 * when nothing was said yet: the latest inquiry). Undefined for a sender no lead has.
 */
async function leadRepliedTo(
  trx: Transaction<Database>,
  organizationId: string,
  from: string,
  ourNumber: string,
): Promise<LeadRow | undefined> {
  // Sorted here, newest first: an ORDER BY created_at made SQLite read the organization's leads by
  // creation instead of by phone.
  const leads = (
    await trx
      .selectFrom("leads")
      .selectAll()
      .where("organization_id", "=", organizationId)
      .where("phone", "=", from)
      .execute()
  ).sort((a, b) => Number(b.created_at) - Number(a.created_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  if (leads.length <= 1) return leads[0];
  const ids = leads.map((l) => l.id);
  // Our last message to that phone from this number that went out (a scheduled, blocked or canceled
  // one texted nobody). Read through events_by_to_phone, newest first: the sender is compared through
  // coalesce, which no index serves, because SQLite (without statistics) would otherwise walk
  // events_by_from_phone, everything ever sent from our number, inside this write transaction.
  const lastTexted = await trx
    .selectFrom("events")
    .select("lead_id")
    .where("organization_id", "=", organizationId)
    .where("to_phone_number", "=", from)
    .where(sql<string>`coalesce(from_phone_number, '')`, "=", ourNumber)
    .where("direction", "=", "outbound")
    .where("sent_at", "is not", null)
    .where("lead_id", "in", ids)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  const texted = leads.find((l) => l.id === lastTexted?.lead_id);
  if (texted) return texted;
  const conversations = await trx
    .selectFrom("conversations")
    .select(["lead_id", "last_event_at"])
    .where("organization_id", "=", organizationId)
    .where("lead_id", "in", ids)
    .execute();
  const activity = (lead: LeadRow) =>
    Math.max(
      Number(conversations.find((c) => c.lead_id === lead.id)?.last_event_at ?? 0),
      Number(lead.created_at),
    );
  // Newest first among equals (the leads are read newest first, and the sort is stable).
  return [...leads].sort((a, b) => activity(b) - activity(a))[0];
}

/**
 * Whether the person already has the one confirmation of their opt-out: one queued to them since
 * the active entry was made and not given up on (a Failed or Blocked one reached nobody, so a STOP
 * repeated for want of it gets another). A STOP from a person already opted out and confirmed is
 * recorded, unanswered: CTIA allows one confirmation, Twilio's and Telnyx's block rules let nothing
 * more reach an opted-out number (Twilio answers not even their HELP), and a reply to every STOP
 * would text someone who asked for no more texts.
 */
async function optOutConfirmedSince(
  trx: Transaction<Database>,
  organizationId: string,
  phone: string,
  since: number,
): Promise<boolean> {
  // Read through events_by_to_phone (organization, recipient, time).
  const confirmation = await trx
    .selectFrom("events")
    .select("id")
    .where("organization_id", "=", organizationId)
    .where("to_phone_number", "=", phone)
    .where("created_at", ">=", since)
    .where("direction", "=", "outbound")
    .where("traffic_type", "=", "SystemInternal")
    .where("body", "=", REPLIES["opt-out"])
    .where("status", "not in", ["Failed", "Undeliverable", "Blocked", "Canceled"])
    .limit(1)
    .executeTakeFirst();
  return confirmation !== undefined;
}

/** The metadata of a lead created for a sender no lead has. */
const INBOUND_ORIGIN = { origin: "inbound-sms" } as const;

export interface InboundOutcome {
  event: EventRow;
  reply: EventRow | null;
}

/** The number of ours an inbound message reached, in one organization. */
interface OurNumber {
  organizationId: string;
  /** Its id in the organization (null: a deleted number its messages named by no id). */
  id: string | null;
  number: string;
  /** How keyword answers go: from the number itself; null for one the organization deleted. */
  reply: { from: PhoneNumberRow; prices: Prices } | null;
}

/**
 * An inbound message: a Received event on the sender's conversation (lead and conversation created
 * for an unknown sender), plus the carrier keywords: STOP-words suppress the sender and answer once,
 * START/UNSTOP release, HELP/INFO answer with help. Replies are SystemInternal and never billed.
 * A STOP to a number an organization deleted is recorded in each organization that texted the
 * sender from it (former-number.ts), unanswered: no confirmation can go from a number we no longer
 * hold (nor from another: the person did not write to it); so it is too when another organization
 * has since added the number, beside that holder's own record, and the holder's outcome is answered
 * (else the first organization's). Returns undefined when the number it was sent to belongs to no
 * organization (and it is no such STOP), when it comes from another of that organization's own
 * numbers and carries no keyword (warmup traffic: on the timeline already, as the outbound Warmup
 * event, and no lead), or when the message (by its provider id) was recorded before: providers
 * redeliver webhooks, even concurrently.
 * With `replies` "provider" (LEADTRAIL_KEYWORD_REPLIES) a keyword is recorded all the same and
 * answered by nobody here: the provider confirms it (Telnyx's block rule would refuse ours).
 */
export async function handleInbound(
  db: Kysely<Database>,
  message: InboundMessage,
  prices: (organizationId: string) => Promise<Prices>,
  replies: KeywordReplies,
): Promise<InboundOutcome | undefined> {
  const from = toE164(message.from) ?? message.from;
  const action = keywordAction(message.text);
  const current = await findPhoneNumberByNumber(db, message.to);
  let recipients: OurNumber[];
  if (current) {
    const organizationId = current.organization_id;
    // A keyword is honoured even from a number registered as our own: nothing checks that an
    // organization holds the numbers it registers, so a warmup "partner" may be a person saying STOP.
    if (action === null && (await isOwnNumber(db, organizationId, from))) return undefined;
    const reply = { from: current, prices: await prices(organizationId) };
    recipients = [{ organizationId, id: current.id, number: current.number, reply }];
    // The number moved here from organizations that deleted it: the person may be answering their
    // texts, and a revocation by any reasonable means counts (TCPA), so the STOP is theirs too.
    if (action === "opt-out") {
      const former = await formerSenders(db, current.number, from);
      recipients.push(...formerRecipients(former, current.number, organizationId));
    }
  } else if (action === "opt-out") {
    recipients = formerRecipients(await formerSenders(db, message.to, from), message.to, null);
  } else {
    return undefined;
  }
  if (recipients.length === 0) return undefined;
  try {
    const answered = recipients[0];
    return await runTransaction(db, async (trx) => {
      let outcome: InboundOutcome | undefined;
      // In organization order, so two STOPs recorded in the same organizations lock them alike.
      const inOrder = [...recipients].sort((a, b) => (a.organizationId < b.organizationId ? -1 : 1));
      for (const ours of inOrder) {
        // The provider's id records the delivery once (INBOUND_ONCE): on the answered event.
        const delivered = ours === answered ? message : { ...message, providerMessageId: null };
        const recorded = await recordInbound(trx, ours, from, action, delivered, replies);
        if (ours === answered) outcome = recorded;
      }
      return outcome;
    });
  } catch (error) {
    // A redelivery that raced the first delivery past the webhook's check: recorded once already.
    if (isUniqueViolation(error, INBOUND_ONCE)) return undefined;
    throw error;
  }
}

/**
 * The organizations a STOP to a number they deleted is recorded in (former-number.ts), besides the
 * one that holds it now (`holder`, already recorded), unanswered: none of them holds the number.
 */
function formerRecipients(former: FormerSender[], number: string, holder: string | null): OurNumber[] {
  return former
    .filter((f) => f.organizationId !== holder)
    .map((f) => ({ organizationId: f.organizationId, id: f.phoneNumberId, number, reply: null }));
}

/** What the inbound event's description adds about the keyword's answer. */
function inboundNote(ours: OurNumber, action: KeywordAction | null, replies: KeywordReplies): string {
  if (!ours.reply) return " (a number this organization has deleted: no confirmation can be sent from it)";
  return action && replies === "provider" ? " (the provider answers its keyword)" : "";
}

/** handleInbound in one organization, inside the caller's transaction. */
async function recordInbound(
  trx: Transaction<Database>,
  ours: OurNumber,
  from: string,
  action: KeywordAction | null,
  message: InboundMessage,
  replies: KeywordReplies,
): Promise<InboundOutcome | undefined> {
  const { organizationId } = ours;
  const actor = { organizationId, userId: SYSTEM_ACTOR };
  const isMms = message.media.length > 0;
  // In the transaction, so that a redelivery rolled back below takes the lead it created with it;
  // under the sender's lock, so that two first messages of a new sender create one lead.
  await lockForTransaction(trx, `inbound-sender:${organizationId}:${from}`);
  // The event is recorded as arriving now, once the lock is held (its createdAt, like every
  // event's: a message stamped earlier, by the provider or before waiting for another message of
  // its sender, must not slip into a page a client has already read); receivedAt keeps the
  // provider's time, except one in the future (another clock than ours).
  const arrivedAt = Date.now();
  const receivedAt = Math.min(message.receivedAt, arrivedAt);
  // A keyword is recorded on the sender's leads (services/lead-consent.ts): locked before the
  // suppression below locks their messages, in the order a lead's update takes them.
  const leadsAtPhone = action ? await lockLeadsAtPhone(trx, organizationId, from) : [];
  let staleOptIn = false;
  let confirmedAlready = false;
  // First, before the conversation is written: a suppression waits for the messages to this
  // sender that a worker is gating (suppressions-repo.ts), and a cancel locks its message before
  // its conversation. The same order on both sides, so they never deadlock.
  if (action === "opt-out") {
    const entry = await findSuppression(trx, organizationId, "sms", from);
    confirmedAlready =
      entry?.status === "active" &&
      (await optOutConfirmedSince(trx, organizationId, from, entry.suppressed_at));
    await suppress(trx, {
      organizationId,
      channel: "sms",
      recipient: from,
      phoneNumber: from,
      email: null,
      source: "inbound_keyword",
      reason: `Replied '${message.text.trim()}'`,
      actorId: null,
      at: receivedAt,
    });
  } else if (action === "opt-in") {
    // A START sent before the entry was made (delivered after it: a webhook retried late) is not
    // the person's last word: the STOP after it stands, and so does an operator's later entry.
    const entry = await findSuppression(trx, organizationId, "sms", from);
    staleOptIn = entry?.status === "active" && Number(entry.suppressed_at) > receivedAt;
  }
  if (action === "opt-in" && !staleOptIn) {
    await release(trx, {
      organizationId,
      channel: "sms",
      recipient: from,
      source: "inbound_keyword",
      reason: `Replied '${message.text.trim()}'`,
      actorId: null,
      at: receivedAt,
    });
  }
  // What the leads record: nothing for a stale START.
  const consent = staleOptIn ? null : action;
  const lead =
    (await leadRepliedTo(trx, organizationId, from, ours.number)) ??
    (await insertLead(
      trx,
      actor,
      {
        contact: { phone: { number: from, type: "mobile" } },
        metadata: (consent && withSmsConsent(INBOUND_ORIGIN, consent, from, receivedAt)) || INBOUND_ORIGIN,
      },
      arrivedAt,
      // A short code or sender id writes too; its lead keeps it as its phone, so a STOP it
      // sends is recorded and honoured rather than refused (and retried, then dropped).
      { acceptSenderIds: true },
    ));
  if (consent) await recordSmsConsent(trx, leadsAtPhone, consent, from, receivedAt);
  const conversation = await getConversationForLead(trx, organizationId, lead.id);
  if (!conversation) return undefined;
  const event = await recordEvent(
    trx,
    {
      organization_id: organizationId,
      event_type: isMms ? "MmsInbound" : "SmsInbound",
      event_category: "Messaging",
      activity_type: isMms ? "Mms" : "Sms",
      activity_category: ACTIVITY_CATEGORY.Sms,
      description: `Inbound ${isMms ? "MMS" : "SMS"} from ${from} to ${ours.number}${inboundNote(ours, action, replies)}.`,
      summary: message.text || `[${message.media.length} media]`,
      conversation_id: conversation.id,
      lead_id: lead.id,
      related_entity_type: "Conversation",
      related_entity_id: conversation.id,
      direction: "inbound",
      status: action === "opt-out" ? "Opted out" : "Received",
      compliance_action:
        action === "opt-out" ? "OptOut" : action === "opt-in" ? "OptIn" : action === "help" ? "Help" : null,
      traffic_type: "RealLead",
      outbound_phone_number_id: ours.id,
      from_phone_number: from,
      to_phone_number: ours.number,
      provider_message_id: message.providerMessageId,
      telnyx_id: message.telnyxId ?? null,
      received_at: receivedAt,
      billing_status: "NotBilled",
      body: message.text,
      // No provider names the file: fileName stays null.
      media: isMms ? JSON.stringify(message.media.map((m) => ({ ...m, fileName: null }))) : null,
      created_by: SYSTEM_ACTOR,
    },
    arrivedAt,
  );
  // Arrival order for isUnread (store/conversation-reads.ts): this message reached us last,
  // whatever its createdAt.
  await trx
    .updateTable("conversations")
    .set((eb) => ({ inbound_count: eb("inbound_count", "+", 1), last_inbound_event_id: event.id }))
    .where("organization_id", "=", organizationId)
    .where("id", "=", conversation.id)
    .execute();
  // START releases the SMS opt-out only; an entry on every channel (an operator's) still stands.
  // Then no confirmation: it would tell the person messages resume (the gate would block it, as
  // it blocks any START reply to a suppressed number, and leave it Blocked on the conversation).
  const stillSuppressed = action === "opt-in" && (await isSuppressed(trx, organizationId, "sms", from));
  const reply =
    action && replies === "leadtrail" && !stillSuppressed && !confirmedAlready && ours.reply
      ? await queueOutbound(
          trx,
          {
            organizationId,
            createdBy: SYSTEM_ACTOR,
            conversation,
            to: from,
            from: ours.reply.from,
            selectionReason: "StickyConversation",
            wasManuallyOverridden: false,
            text: REPLIES[action],
            mediaUrls: [],
            campaignId: null,
            sourceId: null,
            trafficType: "SystemInternal",
            scheduledFor: null,
            idempotencyKey: null,
            outboundSource: "system_notification",
            prices: ours.reply.prices,
          },
          Date.now(),
        )
      : null;
  return { event, reply };
}
