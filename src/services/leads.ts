import type { Kysely, Transaction } from "kysely";
import { ACTIVITY_CATEGORY } from "../domain/event-vocabulary.js";
import { newId } from "../domain/ids.js";
import {
  changedLeadFields,
  checkLeadText,
  checkUsAddress,
  type LeadDocument,
  type LeadRequestBody,
  LeadValidationError,
  leadDisplayName,
  leadTags,
  normalizeLeadRequest,
} from "../domain/lead.js";
import { usdToMicros } from "../domain/money.js";
import { addressRegion } from "../domain/region-zones.js";
import { SMS_CONSENT_FIELDS } from "../domain/sms-consent.js";
import { assertSourceAccepts, intakeKey, invalidSourceKey, sourceDisabled } from "../domain/sources.js";
import { chargeOnce } from "../store/billing-repo.js";
import { transactKnowingCommit } from "../store/commit-outcome.js";
import { isUniqueViolation } from "../store/errors.js";
import { lockMessagesNotHandedOver, type NewEvent } from "../store/events-repo.js";
import {
  getConversationForLead,
  getLeadByIntakeKey,
  LEAD_INTAKE_ONCE,
  lockLead,
} from "../store/leads-repo.js";
import type { ConversationRow, Database, LeadRow, SourceRow } from "../store/schema.js";
import {
  getSource,
  noteSourceLead,
  shareLockSource,
  sourceDefaultTags,
  sourceRules,
} from "../store/sources-repo.js";
import { resolveTags, setLeadTags } from "../store/tags-repo.js";
import { recordEvent } from "./timeline.js";

export interface Actor {
  organizationId: string;
  userId: string;
}

function leadColumns(doc: LeadDocument) {
  const price = doc.metadata.price;
  // The source that delivered the lead, else the attribution its metadata names.
  const sourceId = doc.intakeSourceId ?? doc.metadata.sourceId ?? doc.metadata.origin;
  return {
    first_name: doc.contact.firstName ?? null,
    last_name: doc.contact.lastName ?? null,
    phone: doc.contact.phone?.number ?? null,
    email: doc.contact.email ?? null,
    enabled: doc.enabled ? 1 : 0,
    source_id: typeof sourceId === "string" ? sourceId : null,
    price_micros: typeof price === "number" && Number.isFinite(price) ? usdToMicros(price) : null,
    document: JSON.stringify(doc),
  };
}

/** A stored lead as read (its date-times are in UTC form: normalized on write, and by migration 0012). */
export function leadDocument(row: Pick<LeadRow, "document">): LeadDocument {
  return JSON.parse(row.document) as LeadDocument;
}

/** The conversation a lead with a phone gets, created with it (one per lead). */
async function ensureConversation(
  db: Kysely<Database>,
  lead: LeadRow,
  now: number,
): Promise<ConversationRow | undefined> {
  const existing = await getConversationForLead(db, lead.organization_id, lead.id);
  if (existing) {
    if (lead.phone && existing.lead_phone !== lead.phone) {
      await db
        .updateTable("conversations")
        .set({ lead_phone: lead.phone })
        .where("organization_id", "=", lead.organization_id)
        .where("id", "=", existing.id)
        .execute();
      return { ...existing, lead_phone: lead.phone };
    }
    return existing;
  }
  if (!lead.phone) return undefined;
  const conversation: ConversationRow = {
    organization_id: lead.organization_id,
    id: newId("conv", now),
    lead_id: lead.id,
    lead_phone: lead.phone,
    last_snippet: null,
    last_event_at: now,
    last_event_is_internal_note: 0,
    created_at: now,
    override_phone_number_id: null,
    last_phone_number_id: null,
    inbound_count: 0,
    last_inbound_event_id: null,
    last_event_id: null,
  };
  await db.insertInto("conversations").values(conversation).execute();
  return conversation;
}

/** The timeline event of a lead's creation or update. */
function leadEvent(
  actor: Actor,
  kind: "LeadCreated" | "LeadUpdated",
  lead: LeadRow,
  conversation: ConversationRow | undefined,
  doc: LeadDocument,
  text: { description: string; summary: string },
): NewEvent {
  const campaign = doc.metadata.utmCampaign;
  return {
    organization_id: actor.organizationId,
    event_type: kind,
    event_category: "Lead",
    activity_type: kind,
    activity_category: ACTIVITY_CATEGORY[kind],
    lead_id: lead.id,
    conversation_id: conversation?.id ?? null,
    related_entity_type: "Lead",
    related_entity_id: lead.id,
    status: "Completed",
    source_id: lead.source_id,
    // Both events carry the lead's attribution as it stands after the change.
    campaign_id: typeof campaign === "string" ? campaign : null,
    to_phone_number: lead.phone,
    created_by: actor.userId,
    ...text,
  };
}

/**
 * Creates a lead (and its conversation when it has a phone) and writes its LeadCreated event. `at`:
 * the lead's time; by default the clock once nothing is waited for (see insertLead).
 */
export async function createLead(
  db: Kysely<Database>,
  actor: Actor,
  body: LeadRequestBody,
  at?: number,
): Promise<LeadRow> {
  return transactKnowingCommit(db, (trx) => insertLead(trx, actor, body, at));
}

/**
 * createLead inside the caller's transaction (the lead, its conversation and its LeadCreated event).
 * A lead created opted out (metadata.smsOptedOut: true) blocks its phone's messages under every lead
 * there (gate-facts.ts), so, as an update that opts a lead out, it first waits for a worker gating a
 * message to that phone: the message goes out before the lead is answered, or is blocked by it.
 * `at`: the lead's time; by default the clock after that wait.
 */
export async function insertLead(
  trx: Transaction<Database>,
  actor: Actor,
  body: LeadRequestBody,
  at?: number,
  options: { acceptSenderIds?: boolean; source?: SourceRow; intakeKey?: string | null } = {},
): Promise<LeadRow> {
  const doc = normalizeLeadRequest(body, options);
  const phone = doc.contact.phone?.number;
  if (doc.metadata.smsOptedOut === true && phone) {
    await lockMessagesNotHandedOver(trx, actor.organizationId, { toPhoneNumber: phone });
  }
  const now = at ?? Date.now();
  const { source } = options;
  if (source) {
    assertSourceAccepts(sourceRules(source), doc);
    doc.intakeSourceId = source.id;
  }
  const defaultTagIds = source ? sourceDefaultTags(source).map((t) => t.id) : [];
  doc.tags = await resolveTags(
    trx,
    actor.organizationId,
    { tagNames: doc.tagNames, tagIds: [...doc.tagIds, ...defaultTagIds] },
    now,
  );
  const lead: LeadRow = {
    organization_id: actor.organizationId,
    id: newId("lead", now),
    ...leadColumns(doc),
    created_at: now,
    updated_at: now,
    created_by: actor.userId,
    intake_key: options.intakeKey ?? null,
  };
  await trx.insertInto("leads").values(lead).execute();
  await setLeadTags(trx, actor.organizationId, lead.id, doc.tags, { newLead: true });
  const conversation = await ensureConversation(trx, lead, now);
  const charge = source ? sourceLeadCharge(source) : undefined;
  const event = await recordEvent(
    trx,
    {
      ...leadEvent(actor, "LeadCreated", lead, conversation, doc, {
        description: source
          ? `Lead ${leadDisplayName(doc)} was received from source '${source.name}'.`
          : `Lead ${leadDisplayName(doc)} was created.`,
        summary: `Lead created: ${leadDisplayName(doc)}`,
      }),
      ...charge?.eventColumns,
    },
    now,
  );
  if (charge) {
    await chargeOnce(trx, {
      ...charge.usage,
      organization_id: actor.organizationId,
      event_id: event.id,
      lead_id: lead.id,
      phone_number: lead.phone,
      created_at: now,
    });
  }
  return lead;
}

/**
 * Creates a lead delivered with a source key: the source's rules must accept it (else a 403 or 400
 * and nothing is written); it gets the source and its default tags; the source's cost per lead, when
 * set, is charged to the wallet as a lead_received usage line. A paid lead is never refused for want
 * of credit: the wallet may go below zero, which stops SMS sending until credit is added.
 * A lead the source delivered before under the same metadata.sellerLeadId is answered as it is
 * (`created: false`): nothing is written or charged, whatever the repeated body says.
 * `at`: the lead's time; by default the clock once the source's lock is held, so that a delivery
 * that waited for a re-keying is not stamped before events written meanwhile (a list walked in the
 * meantime would have passed its place and never show its LeadCreated event).
 */
export async function receiveLead(
  db: Kysely<Database>,
  actor: Actor & { sourceId: string; sourceKeyHash?: string },
  body: LeadRequestBody,
  at?: number,
): Promise<{ lead: LeadRow; created: boolean }> {
  // The body first, as LeadRequest's schema did when it held the text limits: a repeat (below) is
  // answered whatever it says, but not one over a limit, nor one for a disabled source.
  checkLeadText(body);
  const key = intakeKey(actor.sourceId, body.metadata);
  try {
    const received = await transactKnowingCommit(db, async (trx) => {
      // Held until the lead commits: a re-keying PUT or a delete that commits before this read is
      // seen below, and one that comes later waits for this lead (shareLockSource).
      await shareLockSource(trx, actor.organizationId, actor.sourceId);
      const source = await getSource(trx, actor.organizationId, actor.sourceId);
      // Deleted or re-keyed between authentication and now: the key is no longer valid.
      if (!source) throw invalidSourceKey();
      if (actor.sourceKeyHash !== undefined && source.api_key_hash !== actor.sourceKeyHash)
        throw invalidSourceKey();
      // Before the repeat check: a disabled source's traffic is refused, repeats included.
      if (source.enabled !== 1) throw sourceDisabled();
      const earlier = key ? await getLeadByIntakeKey(trx, actor.organizationId, key) : undefined;
      if (earlier) return { lead: earlier, created: false };
      const lead = await insertLead(trx, actor, body, at, { source, intakeKey: key });
      return { lead, created: true };
    });
    // The source's first/last-received stamps, after the lead's transaction rather than in it: every
    // delivery of a source updates that one row, and holding its lock until each lead commits would
    // make a source's deliveries wait for one another. A crash in between leaves a stamp behind.
    if (received.created)
      await noteSourceLead(db, actor.organizationId, actor.sourceId, received.lead.created_at);
    return received;
  } catch (error) {
    // The same lead delivered twice at once (PostgreSQL): the first insert won; answer with it.
    if (key && isUniqueViolation(error, LEAD_INTAKE_ONCE)) {
      const earlier = await getLeadByIntakeKey(db, actor.organizationId, key);
      if (earlier) return { lead: earlier, created: false };
    }
    throw error;
  }
}

/**
 * What a source's lead costs: its usage line (lead_received) and the billing columns of its
 * LeadCreated event, as an SMS's are set when it is charged. None when the source has no cost per
 * lead; a cost of 0 is recorded as not billable.
 */
function sourceLeadCharge(source: SourceRow) {
  const cost = source.cost_per_lead_micros;
  if (cost === null) return undefined;
  const billable = cost > 0;
  return {
    usage: {
      channel: "lead",
      billable_unit: "lead_received",
      status: billable ? "charged" : "non_billable_internal",
      quantity: 1,
      unit_price_micros: cost,
      amount_micros: cost,
      phone_number_id: null,
    },
    eventColumns: billable
      ? { billing_status: "Billed", billable_micros: cost }
      : { billing_status: "NotBilled", billable_micros: null },
  };
}

export interface LeadUpdateResult {
  lead: LeadRow;
  changedFields: string[];
}

/**
 * The SMS consent recorded on the lead (services/lead-consent.ts: the person's STOP or START, the
 * organization's suppression) stays unless the update names the field: a client that never read it
 * must not erase an opt-out by replacing the metadata. A field the body gives (null included) wins.
 * Only while the lead keeps its phone (see updateLead).
 */
function keepRecordedSmsConsent(doc: LeadDocument, before: LeadDocument, body: LeadRequestBody): void {
  const given = body.metadata ?? {};
  for (const field of SMS_CONSENT_FIELDS) {
    if (!Object.hasOwn(given, field) && Object.hasOwn(before.metadata, field)) {
      doc.metadata[field] = before.metadata[field];
    }
  }
}

/**
 * Replaces a lead's document (an absent or null `enabled` keeps the lead's). Writes a LeadUpdated
 * event naming the changed fields, or nothing at all when the update changes nothing. Returns
 * undefined when the lead is not in this organization.
 * `at`: the update's time; by default the clock once the lead is locked, so that of two updates the
 * one applied last also has the later modifiedAt and LeadUpdated event.
 */
export async function updateLead(
  db: Kysely<Database>,
  actor: Actor,
  leadId: string,
  body: LeadRequestBody,
  at?: number,
): Promise<LeadUpdateResult | undefined> {
  if (body.id && body.id !== leadId) {
    throw new LeadValidationError("id", `id '${body.id.slice(0, 60)}' does not match the lead in the path.`);
  }
  // Checked before the lead is locked, so that a bad body never waits for the lock; a short code or
  // sender id passes here, and below only if it is the phone the lead already has (a lead made by
  // such a sender's message can then still be updated).
  const checked = normalizeLeadRequest(body, {
    acceptSenderIds: true,
    checkAddress: false,
    checkText: false,
  });
  return transactKnowingCommit(db, async (trx) => {
    // Locked: identical updates at once write one LeadUpdated event, not one each.
    const existing = await lockLead(trx, actor.organizationId, leadId);
    const keepsPhone = (checked.contact.phone?.number ?? null) === (existing?.phone ?? null);
    // A phone that is no real number is a 400 even for a lead that does not exist: the body first.
    const doc = keepsPhone ? checked : normalizeLeadRequest(body, { checkAddress: false, checkText: false });
    const before = existing ? leadDocument(existing) : undefined;
    // Text over a limit passes when the lead already holds it at the same place (stored before the
    // limit existed); any other is checked, for a lead that does not exist too (the body first).
    checkLeadText(body, before);
    // A state or ZIP the lead already has passes, so a lead stored before they were checked can
    // still be updated; any other is checked, for a lead that does not exist too (the body first).
    checkUsAddress(doc.contact.streetAddress, before ? (before.contact.streetAddress ?? null) : undefined);
    if (!existing || !before) return undefined;
    // A message to the old number, to the lead in another time zone or state (the gate's quiet
    // hours) or to a lead now recorded as opted out, that a worker is gating goes out before this
    // commits, or is gated by the lead as it is now.
    const movesZone =
      (before.contact.timeZoneId || null) !== (doc.contact.timeZoneId || null) ||
      addressRegion(before.contact.streetAddress) !== addressRegion(doc.contact.streetAddress);
    const optsOut = doc.metadata.smsOptedOut === true && before.metadata.smsOptedOut !== true;
    if (!keepsPhone || movesZone || optsOut) {
      // An opt-out blocks the phone's messages under every lead there (gate-facts.ts).
      const orToPhoneNumber = optsOut ? (doc.contact.phone?.number ?? null) : null;
      await lockMessagesNotHandedOver(trx, actor.organizationId, { leadId, orToPhoneNumber });
    }
    // Never before the lead's last change (another process's clock may run ahead of ours), and
    // never at its creation's millisecond, which reads as "never modified" (modifiedAt null).
    const now = Math.max(at ?? Date.now(), existing.updated_at, existing.created_at + 1);
    // Which source delivered the lead is the server's record, not the client's to replace.
    if (before.intakeSourceId) doc.intakeSourceId = before.intakeSourceId;
    // enabled is optional in LeadRequest (null: not said), so a client that leaves it out does
    // not re-enable a disabled lead; the required parts are replaced as given.
    if (body.enabled === undefined || body.enabled === null) doc.enabled = before.enabled;
    // Consent is recorded for a phone (smsConsentPhoneNumber): a lead given another one drops it, or
    // the old phone's STOP would block the new one through the lead's own smsOptedOut.
    if (keepsPhone) keepRecordedSmsConsent(doc, before, body);
    // tagIds and tagNames are required in LeadRequest, but LeadResponse shows `tags` instead: a
    // client that PUTs back the lead it read would strip every tag. With neither list given (absent
    // or null) the lead keeps its tags; an empty list clears them.
    const keepsTags = body.tagIds == null && body.tagNames == null;
    if (keepsTags) {
      doc.tagIds = before.tagIds;
      doc.tagNames = before.tagNames;
    }
    doc.tags = keepsTags ? leadTags(before) : await resolveTags(trx, actor.organizationId, doc, now);
    const changedFields = changedLeadFields(before, doc);
    if (changedFields.length === 0) return { lead: existing, changedFields };
    const lead: LeadRow = { ...existing, ...leadColumns(doc), updated_at: now };
    await trx
      .updateTable("leads")
      .set({ ...leadColumns(doc), updated_at: now })
      .where("organization_id", "=", actor.organizationId)
      .where("id", "=", leadId)
      .execute();
    if (changedFields.includes("tags")) {
      await setLeadTags(trx, actor.organizationId, leadId, doc.tags, { newLead: false });
    }
    const conversation = await ensureConversation(trx, lead, now);
    const shown = changedFields.slice(0, 12).join(", ") + (changedFields.length > 12 ? ", …" : "");
    const count = `${changedFields.length} field${changedFields.length === 1 ? "" : "s"}`;
    await recordEvent(
      trx,
      leadEvent(actor, "LeadUpdated", lead, conversation, doc, {
        description: `Lead ${leadDisplayName(doc)} was updated (${count}).`,
        summary: `Lead updated: ${shown}`,
      }),
      now,
    );
    return { lead, changedFields };
  });
}
