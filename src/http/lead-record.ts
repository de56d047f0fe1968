import { type LeadDocument, leadTags } from "../domain/lead.js";
import { microsToUsd } from "../domain/money.js";
import { normalizeTagName, type TagRef } from "../domain/tags.js";
import { toIso } from "../domain/time.js";
import { leadDocument } from "../services/leads.js";
import type { ConversationStatusView } from "../store/conversation-status.js";
import type { ConversationRow, LeadRow, PhoneNumberRow } from "../store/schema.js";

// Wire shapes of leads and conversations (LeadResponse, LeadTableRow, ConversationResponse).

/** A tag as the wire shows it (TagSummary); leadtrail keeps no tag colors. */
export function tagSummary({ id, name }: TagRef) {
  return { id, name, normalizedName: normalizeTagName(name), color: null };
}

function tags(doc: LeadDocument) {
  return leadTags(doc).map(tagSummary);
}

export function toLeadResponse(row: LeadRow) {
  const doc = leadDocument(row);
  return {
    id: row.id,
    // LeadMetadata requires trustedFormUrl: a lead without one shows it as null, not absent (a
    // client whose deserializer enforces required properties would refuse the whole lead).
    metadata: {
      trustedFormUrl: null,
      ...doc.metadata,
      organizationId: row.organization_id,
      userId: row.created_by,
    },
    contact: doc.contact,
    phoneIdentity: null,
    customer: doc.customer,
    enabled: row.enabled === 1,
    deletedAt: null,
    deletedByUserId: null,
    archivedAt: null,
    archivedByUserId: null,
    archiveReason: null,
    archiveNote: null,
    isArchived: false,
    currentLeadStatus: null,
    processingStatus: "Ready",
    processingStatusReason: null,
    processingStatusChangedAt: null,
    tags: tags(doc),
    createdAt: toIso(row.created_at),
    modifiedAt: row.updated_at === row.created_at ? null : toIso(row.updated_at),
  };
}

/** `sourceNames`: names of the page's sources (an id that is no source shows as its own name). */
export function toLeadTableRow(row: LeadRow, sourceNames: ReadonlyMap<string, string> = new Map()) {
  const doc = leadDocument(row);
  return {
    id: row.id,
    firstName: row.first_name,
    lastName: row.last_name,
    phone: row.phone ?? "",
    // Left out rather than "" when the lead has none: the subset gives it format email, which ""
    // breaks (and does not require it); phone, a plain string, stays "".
    email: row.email ?? undefined,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
    status: "New",
    statusTone: "neutral",
    enabled: row.enabled === 1,
    archivedAt: null,
    archivedByUserId: null,
    archiveReason: null,
    isArchived: false,
    currentLeadStatus: null,
    processingStatus: "Ready",
    processingStatusReason: null,
    processingStatusChangedAt: null,
    price: microsToUsd(row.price_micros),
    organization: null,
    source: row.source_id
      ? { id: row.source_id, name: sourceNames.get(row.source_id) ?? row.source_id }
      : null,
    tags: tags(doc),
  };
}

/**
 * The number this conversation sends from next, as far as the conversation decides it: its manual
 * override, else the number it last sent from (sticky selection). Null when neither is set, or the
 * number is gone; then the next send is chosen by the organization-wide rules.
 */
export function activeOutboundPhoneNumberId(row: ConversationRow): string | null {
  return row.override_phone_number_id ?? row.last_phone_number_id;
}

export function toConversationResponse(
  row: ConversationRow,
  lead: LeadRow | undefined,
  /** The row of activeOutboundPhoneNumberId(row), when it still exists. */
  activeNumber: PhoneNumberRow | undefined,
  inbox: ConversationStatusView = { status: "open", statusReason: null },
  /** The lead wrote something no timeline page has shown the requesting user (store/conversation-reads). */
  isUnread = false,
) {
  const contact = lead ? leadDocument(lead).contact : undefined;
  return {
    id: row.id,
    leadId: row.lead_id,
    firstName: lead?.first_name ?? null,
    lastName: lead?.last_name ?? null,
    email: lead?.email ?? null,
    avatarUrl: typeof contact?.avatarUrl === "string" ? contact.avatarUrl : null,
    lastSnippet: row.last_snippet,
    lastEventAt: toIso(row.last_event_at),
    lastEventIsInternalNote: row.last_event_is_internal_note === 1,
    status: inbox.status,
    statusReason: inbox.statusReason,
    archivedAt: null,
    archiveReason: null,
    isArchived: false,
    currentLeadStatus: null,
    nextStep: null,
    isUnread,
    phoneNumber: activeNumber
      ? { id: activeNumber.id, name: activeNumber.name, value: activeNumber.number }
      : null,
    // The lead's number as it is now (none once removed); the row keeps the last one for the thread.
    leadPhoneNumber: lead ? lead.phone : row.lead_phone,
    outboundPhoneNumberOverrideId: row.override_phone_number_id,
    activeOutboundPhoneNumberId: activeNumber?.id ?? null,
  };
}
