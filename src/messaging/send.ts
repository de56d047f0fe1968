import type { Kysely, Transaction } from "kysely";
import { ACTIVITY_CATEGORY, type SelectionReason, type TrafficType } from "../domain/event-vocabulary.js";
import { exceedsCharacters } from "../domain/plain-text.js";
import { badRequest, notFound, ProblemError } from "../domain/problem.js";
import { countSegments, MAX_SMS_SEGMENTS } from "../domain/sms-segments.js";
import { tenDlcCampaignOf } from "../domain/ten-dlc.js";
import { parseRfc3339, toIso } from "../domain/time.js";
import { type Actor, leadDocument } from "../services/leads.js";
import type { RecentSenderChoices } from "../services/recent-senders.js";
import { chooseFrom, senderCandidates } from "../services/sender.js";
import { recordEvent } from "../services/timeline.js";
import { isUniqueViolation } from "../store/errors.js";
import { insertEvents, type NewEvent, newEventRow } from "../store/events-repo.js";
import { plainTransact } from "../store/group-commit.js";
import { latestByKey } from "../store/latest-by-key.js";
import { touchConversations } from "../store/leads-repo.js";
import { REQUESTED_SCHEDULE_UNKNOWN } from "../store/migration-0016-unknown-requested-schedule.js";
import { touchLastUsed } from "../store/phone-numbers-repo.js";
import type { ConversationRow, Database, EventRow, LeadRow, PhoneNumberRow } from "../store/schema.js";
import { type Prices, priceMessage } from "./billing.js";
import { mediaUrlProblem } from "./media-url.js";

type Db = Kysely<Database> | Transaction<Database>;

export const MAX_TEXT = 1600;
export const MAX_MEDIA = 10;
/**
 * How far ahead scheduledFor may be: a year (366 days, so the same date next year always fits) for
 * follow-ups such as a renewal reminder, where Twilio's own scheduling stops at 35 days. Further is
 * almost surely a typo ("2206"), which would otherwise sit Scheduled for ever.
 */
export const MAX_SCHEDULE_AHEAD_DAYS = 366;
const MAX_SCHEDULE_AHEAD_MS = MAX_SCHEDULE_AHEAD_DAYS * 86_400_000;

export interface QueueOutbound {
  organizationId: string;
  createdBy: string;
  /** Null for warmup traffic between our own numbers, which belongs to no lead. */
  conversation: ConversationRow | null;
  to: string;
  from: PhoneNumberRow;
  selectionReason: SelectionReason | null;
  wasManuallyOverridden: boolean;
  text: string;
  mediaUrls: string[];
  campaignId: string | null;
  sourceId: string | null;
  trafficType: TrafficType;
  scheduledFor: number | null;
  idempotencyKey: string | null;
  outboundSource: string;
  prices: Prices;
  isWarmup?: boolean;
  summary?: string;
}

/**
 * Writes an outbound message as its own job: a Sms/Mms (or Warmup) event, Queued (or Scheduled when
 * asked for later) with the time a worker should pick it up. The compliance gate runs when a worker
 * claims it (DESIGN.md "Compliance is a gate").
 */
export async function queueOutbound(db: Db, q: QueueOutbound, now: number): Promise<EventRow> {
  const event = await recordEvent(db, outboundEvent(q, now), now, { sentFromPhoneNumberId: q.from.id });
  await touchLastUsed(db, q.organizationId, q.from.id, now);
  return event;
}

/** One queued message (a POST /sms/send that passed validation and sender selection). */
export interface QueuedSend {
  q: QueueOutbound;
  now: number;
}

/**
 * queueOutbound for sends that arrived together, in one transaction: one multi-row insert of the
 * events, one update of their conversations, one "last used" per sender.
 */
export async function queueOutboundMany(
  trx: Transaction<Database>,
  sends: QueuedSend[],
): Promise<EventRow[]> {
  if (sends.length === 1) return [await queueOutbound(trx, sends[0]!.q, sends[0]!.now)];
  const rows = sends.map(({ q, now }) => newEventRow(outboundEvent(q, now), now));
  await insertEvents(trx, rows);
  await touchConversations(
    trx,
    rows.flatMap((row) =>
      row.conversation_id === null
        ? []
        : [
            {
              organizationId: row.organization_id,
              id: row.conversation_id,
              eventId: row.id,
              at: row.created_at,
              snippet: row.summary ?? row.description,
              lastPhoneNumberId: row.from_phone_number_id!,
            },
          ],
    ),
  );
  const lastUse = latestByKey(
    sends,
    (send) => `${send.q.organizationId} ${send.q.from.id}`,
    (send) => send.now,
  );
  for (const { q, now } of lastUse) await touchLastUsed(trx, q.organizationId, q.from.id, now);
  return rows;
}

/** The event of an outbound message, not yet written. */
function outboundEvent(q: QueueOutbound, now: number): NewEvent {
  const isMms = q.mediaUrls.length > 0;
  const price = priceMessage(q.text, isMms, q.prices);
  const later = q.scheduledFor !== null && q.scheduledFor > now;
  const activity = q.isWarmup ? "Warmup" : isMms ? "Mms" : "Sms";
  return {
    organization_id: q.organizationId,
    event_type: q.isWarmup ? "WarmupOutbound" : isMms ? "MmsOutbound" : "SmsOutbound",
    event_category: "Messaging",
    activity_type: activity,
    activity_category: ACTIVITY_CATEGORY[activity],
    description: `Outbound ${isMms ? "MMS" : "SMS"} to ${q.to} from ${q.from.number}.`,
    summary: q.summary ?? (q.text || `[${q.mediaUrls.length} media]`),
    conversation_id: q.conversation?.id ?? null,
    lead_id: q.conversation?.lead_id ?? null,
    related_entity_type: q.conversation ? "Conversation" : "PhoneNumber",
    related_entity_id: q.conversation?.id ?? q.from.id,
    direction: "outbound",
    status: later ? "Scheduled" : "Queued",
    is_warmup: q.isWarmup ? 1 : 0,
    traffic_type: q.trafficType,
    from_phone_number_id: q.from.id,
    outbound_phone_number_id: q.from.id,
    from_phone_number: q.from.number,
    to_phone_number: q.to,
    selection_reason: q.selectionReason,
    was_manually_overridden: q.wasManuallyOverridden ? 1 : 0,
    campaign_id: q.campaignId,
    source_id: q.sourceId,
    ten_dlc_campaign_id: tenDlcCampaignOf(q.from),
    queued_at: now,
    scheduled_for: later ? q.scheduledFor : null,
    scheduled_reason: later ? "Requested" : null,
    requested_scheduled_for: q.scheduledFor,
    media: isMms
      ? JSON.stringify(
          q.mediaUrls.map((url) => ({ url, contentType: null, size: null, sha256: null, fileName: null })),
        )
      : null,
    body: q.text,
    segments: price.segments,
    encoding: price.encoding,
    price_micros: price.priceMicros,
    next_attempt_at: later ? q.scheduledFor : now,
    idempotency_key: q.idempotencyKey,
    outbound_source: q.outboundSource,
    created_by: q.createdBy,
  };
}

export interface SendSmsBody {
  /** A retry of a send whose answer was lost: the message it names is answered, nothing is sent. */
  smsEventId?: string | null;
  conversationId: string;
  text?: string | null;
  mediaUrls?: string[] | null;
  scheduledFor?: string | null;
  fromPhoneNumberId?: string | null;
  wasManuallyOverridden?: boolean | null;
  campaignId?: string | null;
  sourceId?: string | null;
  outboundIdempotencyKey?: string | null;
}

function validateMedia(urls: string[]): void {
  if (urls.length > MAX_MEDIA) throw badRequest(`mediaUrls accepts 1 to ${MAX_MEDIA} URLs.`, "mediaUrls");
  urls.forEach((raw, i) => {
    const problem = mediaUrlProblem(raw);
    if (problem) throw badRequest(`mediaUrls[${i}] ${problem}`, `mediaUrls[${i}]`);
  });
}

/** The URLs an outbound message's media column holds, in the order the send named them. */
export function mediaUrlsOf(row: Pick<EventRow, "media">): string[] {
  if (row.media === null) return [];
  return (JSON.parse(row.media) as { url: string }[]).map((m) => m.url);
}

/** Whether a message written earlier carries exactly this text and these media URLs. */
function sameContent(row: EventRow, text: string, mediaUrls: string[]): boolean {
  const earlierMedia = mediaUrlsOf(row);
  return (
    (row.body ?? "") === text &&
    earlierMedia.length === mediaUrls.length &&
    earlierMedia.every((url, i) => url === mediaUrls[i])
  );
}

/** What a keyed send asks for: a request with its key again is the same send only if all of it matches. */
interface KeyedRequest {
  conversationId: string;
  text: string;
  mediaUrls: string[];
  /** The instant scheduledFor names (any spelling of it), or null without one. */
  scheduledFor: number | null;
}

/**
 * The message an earlier send with this key created, if any. As for a retry by smsEventId, it must be
 * a message of the conversation this request names: answering another lead's message would tell the
 * client its text went to this one (409, as README "Retrying a send" promises for both). A key sent
 * again with other content or another scheduledFor is a 422, as the IETF Idempotency-Key draft
 * answers a reused key with a different payload: answering the first message would tell the client
 * that its new text, or its new time, was queued. The time compared is the one the first send asked
 * for, not scheduled_for, which quiet hours may have moved (any time matches one that was not kept).
 */
async function findByIdempotencyKey(
  db: Db,
  organizationId: string,
  key: string,
  request: KeyedRequest,
): Promise<EventRow | undefined> {
  const earlier = await db
    .selectFrom("events")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("idempotency_key", "=", key)
    .executeTakeFirst();
  if (!earlier) return undefined;
  const shownKey = key.slice(0, 100);
  if (earlier.conversation_id !== request.conversationId) {
    throw new ProblemError(
      409,
      "sms-event-mismatch",
      `outboundIdempotencyKey '${shownKey}' was used for a message of another conversation; a key names one send, in the conversation it was first sent in.`,
    );
  }
  if (!sameContent(earlier, request.text, request.mediaUrls)) {
    throw new ProblemError(
      422,
      "idempotency-key-reused",
      `outboundIdempotencyKey '${shownKey}' was used for message '${earlier.id}' with other text or mediaUrls; a key names one send: choose a new key for a new message.`,
      { outboundIdempotencyKey: ["was used for a message with other text or mediaUrls"] },
    );
  }
  const asked = earlier.requested_scheduled_for;
  // Written before the asked-for time was kept, and lost since: the resent body may well be the first.
  if (asked !== REQUESTED_SCHEDULE_UNKNOWN && asked !== request.scheduledFor) {
    throw new ProblemError(
      422,
      "idempotency-key-reused",
      `outboundIdempotencyKey '${shownKey}' was used for message '${earlier.id}' ${asked === null ? "without scheduledFor" : `with scheduledFor ${toIso(asked)}`}; a key names one send: choose a new key for a new message.`,
      { outboundIdempotencyKey: ["was used for a message with another scheduledFor"] },
    );
  }
  return earlier;
}

/**
 * A send retried with `smsEventId` (Leadping: "existing SMS event ID to reuse … when retrying a send
 * request") answers the message that id names and sends nothing: the first request may have been
 * accepted even though its answer was lost. An accepted message is not rewritten: to change a
 * scheduled one, cancel it and send anew. 404 when the organization has no such SMS/MMS; 409 when
 * it is not an outbound message of the conversation the retry names.
 */
async function retriedMessage(
  db: Db,
  organizationId: string,
  smsEventId: string,
  body: SendSmsBody,
): Promise<EventRow> {
  const earlier = await db
    .selectFrom("events")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("id", "=", smsEventId)
    .where("activity_type", "in", ["Sms", "Mms"])
    .executeTakeFirst();
  if (!earlier) throw notFound(`SMS event '${smsEventId}'`);
  if (earlier.direction !== "outbound" || earlier.conversation_id !== body.conversationId) {
    throw new ProblemError(
      409,
      "sms-event-mismatch",
      `smsEventId '${smsEventId}' is not a message sent in conversation '${body.conversationId}'; a retry must name the conversation of the message it retries.`,
    );
  }
  return earlier;
}

interface SendContext {
  conversation: ConversationRow;
  /** Only what sending reads of the lead (absent if the lead is gone). */
  lead: Pick<LeadRow, "document" | "source_id" | "phone"> | undefined;
  prices: Prices;
}

/** The conversation, its lead and the organization's prices, in one statement. */
async function readSendContext(
  db: Db,
  organizationId: string,
  conversationId: string,
): Promise<SendContext | undefined> {
  const row = await db
    .selectFrom("conversations as c")
    .innerJoin("organizations as o", "o.id", "c.organization_id")
    .leftJoin("leads as l", (join) =>
      join.onRef("l.organization_id", "=", "c.organization_id").onRef("l.id", "=", "c.lead_id"),
    )
    .selectAll("c")
    .select([
      "o.price_segment_micros",
      "o.price_mms_micros",
      "l.document as lead_document",
      "l.source_id as lead_source_id",
      "l.phone as lead_phone_now",
    ])
    .where("c.organization_id", "=", organizationId)
    .where("c.id", "=", conversationId)
    .executeTakeFirst();
  if (!row) return undefined;
  const {
    price_segment_micros,
    price_mms_micros,
    lead_document,
    lead_source_id,
    lead_phone_now,
    ...conversation
  } = row;
  return {
    conversation,
    lead:
      lead_document === null
        ? undefined
        : { document: lead_document, source_id: lead_source_id, phone: lead_phone_now },
    prices: { segmentMicros: price_segment_micros, mmsMicros: price_mms_micros },
  };
}

export interface SendOutcome {
  event: EventRow;
  /** false when an earlier request with the same idempotency key already created it. */
  created: boolean;
}

/** POST /sms/send: validates, chooses the sender and queues the message (idempotent by key). */
export async function sendSms(
  db: Kysely<Database>,
  actor: Actor,
  body: SendSmsBody,
  now = Date.now(),
  /** How the message is written (Messaging batches sends that arrive together); one transaction by default. */
  queue: (send: QueuedSend) => Promise<EventRow> = (send) =>
    plainTransact(db)((trx) => queueOutbound(trx, send.q, send.now)),
  /** The numbers this process chose for sends not yet written, so that a burst spreads over them. */
  recentSenders: RecentSenderChoices | null = null,
): Promise<SendOutcome> {
  const text = body.text ?? "";
  const mediaUrls = body.mediaUrls ?? [];
  // Characters are code points, as every maxLength of the API's schemas counts them (the simulator's
  // inbound text included): an emoji is one character, not two UTF-16 units.
  if (exceedsCharacters(text, MAX_TEXT))
    throw badRequest(`text must be at most ${MAX_TEXT} characters.`, "text");
  if (text.trim().length === 0 && mediaUrls.length === 0) {
    throw badRequest("text (1 to 1,600 characters) or mediaUrls (1 to 10 https URLs) is required.", "text");
  }
  // An MMS's text goes whole (UTF-8, no segments); an SMS past the segment limit would be refused by
  // the provider after the client was told it was queued.
  const sms = mediaUrls.length === 0 ? countSegments(text) : null;
  if (sms && sms.segments > MAX_SMS_SEGMENTS) {
    throw badRequest(
      `text would be an SMS of ${sms.segments} segments (${sms.encoding}); at most ${MAX_SMS_SEGMENTS} can be sent: shorten it, or send it as an MMS (with mediaUrls).`,
      "text",
    );
  }
  validateMedia(mediaUrls);
  let scheduledFor: number | null = null;
  if (body.scheduledFor) {
    scheduledFor = parseRfc3339(body.scheduledFor);
    if (scheduledFor === null)
      throw badRequest("scheduledFor must be an RFC 3339 date-time.", "scheduledFor");
    if (scheduledFor > now + MAX_SCHEDULE_AHEAD_MS) {
      throw badRequest(
        `scheduledFor must be at most ${MAX_SCHEDULE_AHEAD_DAYS} days ahead (no later than ${toIso(now + MAX_SCHEDULE_AHEAD_MS)}).`,
        "scheduledFor",
      );
    }
  }
  const retriedId = body.smsEventId?.trim() || null;
  if (retriedId)
    return { event: await retriedMessage(db, actor.organizationId, retriedId, body), created: false };
  const key = body.outboundIdempotencyKey?.trim() || null;
  if (key && exceedsCharacters(key, 200))
    throw badRequest("outboundIdempotencyKey must be at most 200 characters.", "outboundIdempotencyKey");
  const keyedRequest: KeyedRequest = { conversationId: body.conversationId, text, mediaUrls, scheduledFor };
  if (key) {
    const existing = await findByIdempotencyKey(db, actor.organizationId, key, keyedRequest);
    if (existing) return { event: existing, created: false };
  }

  // Two reads at once (on PostgreSQL each is a round trip): the conversation with its lead and the
  // organization's prices, and the organization's numbers with their health.
  const [context, senders] = await Promise.all([
    readSendContext(db, actor.organizationId, body.conversationId),
    senderCandidates(db, actor.organizationId, now),
  ]);
  if (!context) throw notFound(`Conversation '${body.conversationId}'`);
  const { conversation, lead, prices: messagePrices } = context;
  // The conversation keeps the number it last had; a lead whose phone was removed is not texted there.
  if (lead && lead.phone === null) {
    throw new ProblemError(
      409,
      "lead-without-phone",
      `The lead of conversation '${body.conversationId}' has no phone number: add one with PUT /leads/${conversation.lead_id}.`,
    );
  }
  const metadata = lead ? leadDocument(lead).metadata : {};
  const assigned = typeof metadata.assignedPhoneNumberId === "string" ? metadata.assignedPhoneNumberId : null;
  const manual = body.wasManuallyOverridden === true;
  if (manual && !body.fromPhoneNumberId) {
    throw badRequest(
      "fromPhoneNumberId is required when wasManuallyOverridden is true.",
      "fromPhoneNumberId",
    );
  }
  const campaignId = body.campaignId ?? null;
  const sourceId = body.sourceId ?? lead?.source_id ?? null;
  const pool = recentSenders
    ? { ...senders, candidates: recentSenders.apply(actor.organizationId, senders.candidates, now) }
    : senders;
  const choice = chooseFrom(pool, {
    organizationId: actor.organizationId,
    conversation,
    leadAssignedPhoneNumberId: assigned,
    fromPhoneNumberId: body.fromPhoneNumberId ?? null,
    wasManuallyOverridden: manual,
    campaignId,
    sourceId,
    recipient: conversation.lead_phone,
  });
  if (manual && choice.selection?.reason !== "ManualOverride") {
    throw badRequest(
      `fromPhoneNumberId '${body.fromPhoneNumberId}' is not an enabled SMS number of this organization.`,
      "fromPhoneNumberId",
    );
  }
  if (!choice.selection) {
    throw new ProblemError(
      409,
      "no-sender",
      "The organization has no enabled, unblocked SMS number to send from: add one with POST /phone-numbers.",
    );
  }
  const from = choice.rows.get(choice.selection.candidate.id)!;
  recentSenders?.record(actor.organizationId, from.id, now);
  try {
    const event = await queue({
      q: {
        organizationId: actor.organizationId,
        createdBy: actor.userId,
        conversation,
        to: conversation.lead_phone,
        from,
        selectionReason: choice.selection!.reason,
        wasManuallyOverridden: choice.selection!.reason === "ManualOverride",
        text,
        mediaUrls,
        campaignId,
        sourceId,
        trafficType: "RealLead",
        scheduledFor,
        idempotencyKey: key,
        outboundSource: "api",
        prices: messagePrices,
      },
      now,
    });
    return { event, created: true };
  } catch (error) {
    // A concurrent request with the same key won the insert: answer with its message.
    if (key && isUniqueViolation(error)) {
      const existing = await findByIdempotencyKey(db, actor.organizationId, key, keyedRequest);
      if (existing) return { event: existing, created: false };
    }
    throw error;
  }
}
