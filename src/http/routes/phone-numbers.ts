import type { FastifyPluginAsync } from "fastify";
import { parsePhoneNumberFromString } from "libphonenumber-js";
import type { SelectionReason } from "../../domain/event-vocabulary.js";
import { areaCode, needsTenDlc, regionOfNumber } from "../../domain/number-geo.js";
import { badRequest, notFound, ProblemError } from "../../domain/problem.js";
import {
  candidateReason,
  canSendTo,
  type HealthStatus,
  type SelectionContext,
  type SenderCandidate,
} from "../../domain/sender-selection.js";
import { isNanpTollFree } from "../../domain/ten-dlc.js";
import { toIso } from "../../domain/time.js";
import { progressPercent, rampTime, warmupState } from "../../domain/warmup.js";
import { leadDocument } from "../../services/leads.js";
import { chooseSender } from "../../services/sender.js";
import { getConversation, getLead } from "../../store/leads-repo.js";
import { organizationName } from "../../store/orgs-repo.js";
import {
  deletePhoneNumber,
  getPhoneNumber,
  healthByNumber,
  type NumberConflict,
  overrideConversationSender,
  PHONE_NUMBER_LIST_SPEC,
  type PhoneNumberChanges,
  savePhoneNumber,
  setConversationOverride,
} from "../../store/phone-numbers-repo.js";
import type { ConversationRow, LeadRow, PhoneNumberRow } from "../../store/schema.js";
import type { Store } from "../../store/store.js";
import type { RouteDeps } from "../deps.js";
import { assertPlainText, requirePhoneNumber } from "../field-checks.js";
import { listBody, problem, problemResponses } from "../schemas/common.js";
import {
  OutgoingNumberManualOverrideRequestSchema,
  OutgoingNumberSelectionRequestSchema,
  OutgoingNumberSelectionResponseSchema,
  PagedPhoneNumbersSchema,
  PhoneNumberRequestSchema,
  PhoneNumberResponseSchema,
} from "../schemas/phone-number.js";

// Sender numbers (issue 3, items 1 and 2): CRUD over an organization's numbers, their health, and
// the outgoing-number selection the messaging pipeline applies, answered without sending.

// ---- Requests ----

interface RoutingBody {
  smsEnabled?: boolean | null;
  voiceEnabled?: boolean | null;
  teamId?: string | null;
  sourceId?: string | null;
  campaignId?: string | null;
  tenDlcCampaignId?: string | null;
  tenDlcApplicationId?: string | null;
}

interface PhoneNumberBody {
  number: string;
  name: string;
  organizationId?: string | null;
  enabled?: boolean | null;
  id?: string | null;
  routing?: RoutingBody | null;
  isPreferred?: boolean | null;
  isDefault?: boolean | null;
  warmupEnabled?: boolean | null;
  warmup?: { enabled?: boolean | null } | null;
}

interface SelectionBody {
  conversationId?: string | null;
  leadId?: string | null;
  recipientPhoneNumber?: string | null;
  channel?: "sms" | "call" | null;
  campaignId?: string | null;
  sourceId?: string | null;
  teamId?: string | null;
}

interface OverrideBody {
  fromPhoneNumberId: string;
  selection?: SelectionBody | null;
}

/** An optional identifier: trimmed, blank means none. */
function optionalId(value: string | null | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  assertPlainText(value, field);
  const trimmed = value.trim();
  return trimmed.length > 0 ? trimmed : null;
}

/** One flag given under two names: they must agree. Undefined when neither gives a value. */
function eitherFlag(
  a: boolean | null | undefined,
  b: boolean | null | undefined,
  names: [string, string],
): boolean | undefined {
  if (a != null && b != null && a !== b) {
    throw badRequest(`${names[0]} and ${names[1]} disagree; send one of them.`, names[0]);
  }
  return a ?? b ?? undefined;
}

const flag = (value: boolean | undefined): 0 | 1 | undefined =>
  value === undefined ? undefined : value ? 1 : 0;

/**
 * The settings a body gives. PUT replaces the subset's two required PhoneNumberRequest fields
 * (number, name). Every optional field (enabled, and our extensions routing.*, isPreferred,
 * isDefault, warmup, which a Leadping client never sends) left out, or sent as null, comes back
 * undefined and keeps its current value on PUT (its default on POST): a PUT that only renames must
 * not turn a disabled number back on, nor drop the 10DLC campaign and the default flag. An explicit
 * null clears the routing ids (sourceId, campaignId, tenDlcCampaignId): null is a value they can
 * hold. A null flag has no cleared state, and a null routing or warmup object gives no field, so
 * both keep.
 */
function parseChanges(body: PhoneNumberBody, organizationId: string): PhoneNumberChanges {
  if (body.organizationId != null && body.organizationId !== organizationId) {
    throw badRequest(
      "organizationId must be the caller's organization (or omitted): numbers are created in the organization of the API key.",
      "organizationId",
    );
  }
  const number = requirePhoneNumber(body.number, "number");
  assertPlainText(body.name, "name");
  const routing = body.routing ?? {};
  const given = (key: keyof RoutingBody) => Object.hasOwn(routing, key);
  const routingId = (key: "sourceId" | "campaignId" | "tenDlcCampaignId" | "tenDlcApplicationId") =>
    given(key) ? optionalId(routing[key], `routing.${key}`) : undefined;
  const campaign = routingId("tenDlcCampaignId");
  const application = routingId("tenDlcApplicationId");
  if (campaign && application && campaign !== application) {
    throw badRequest(
      "routing.tenDlcCampaignId and routing.tenDlcApplicationId disagree; send one of them.",
      "routing.tenDlcCampaignId",
    );
  }
  // Either name with a value sets it; otherwise a null (or blank) under either name clears it.
  const tenDlc = campaign || application || (campaign === null || application === null ? null : undefined);
  const warmup = eitherFlag(body.warmup?.enabled, body.warmupEnabled, ["warmup.enabled", "warmupEnabled"]);
  return {
    number,
    name: body.name.trim() || displayNumber(number),
    enabled: flag(body.enabled ?? undefined),
    sms_enabled: flag(routing.smsEnabled ?? undefined),
    source_id: routingId("sourceId"),
    campaign_id: routingId("campaignId"),
    ten_dlc_campaign_id: tenDlc,
    is_preferred: flag(body.isPreferred ?? undefined),
    is_default: flag(body.isDefault ?? undefined),
    warmup_enabled: flag(warmup),
  };
}

// ---- Responses ----

/** "(415) 555-0142" for North American numbers, "+44 20 7946 0958" for the rest. */
export function displayNumber(e164: string): string {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return e164;
  return parsed.countryCallingCode === "1" ? parsed.formatNational() : parsed.formatInternational();
}

const HEALTH_SCORE: Record<HealthStatus, number> = { Healthy: 100, "Needs Attention": 50, Blocked: 0 };
const HEALTH_LABEL: Record<HealthStatus, string> = {
  Healthy: "Healthy",
  "Needs Attention": "Needs attention",
  Blocked: "Blocked",
};
const HEALTH_WARNING: Record<HealthStatus, string | null> = {
  Healthy: null,
  "Needs Attention":
    "Recent failed deliveries or carrier filtering on this number (last 7 days); prefer another sender.",
  Blocked: "Carriers are blocking messages from this number (last 7 days); it is never chosen automatically.",
};

function readiness(row: PhoneNumberRow, health: HealthStatus, clock: number) {
  const enabled = row.warmup_enabled === 1;
  // A paused ramp (the number cannot send) stands where it paused.
  const now = rampTime(row.warmup_paused_at, clock);
  return {
    enabled,
    state: warmupState(enabled, row.warmup_started_at, now),
    healthStatus: health,
    healthScore: HEALTH_SCORE[health],
    progressPercent: enabled ? progressPercent(row.warmup_started_at, now) : 0,
    callStage: null,
  };
}

function toPhoneNumberResponse(
  row: PhoneNumberRow,
  health: HealthStatus,
  orgName: string | null,
  now: number,
) {
  return {
    id: row.id,
    number: row.number,
    phoneIdentityId: null,
    organization: { id: row.organization_id, name: orgName ?? row.organization_id },
    leadpingOwned: false,
    routing: {
      smsEnabled: row.sms_enabled === 1,
      voiceEnabled: false,
      teamId: null,
      sourceId: row.source_id,
      campaignId: row.campaign_id,
      tenDlcApplicationId: row.ten_dlc_campaign_id,
      tenDlcCampaignId: row.ten_dlc_campaign_id,
    },
    enabled: row.enabled === 1,
    warmup: readiness(row, health, now),
    name: row.name,
    isPreferred: row.is_preferred === 1,
    isDefault: row.is_default === 1,
    lastUsedAt: toIso(row.last_used_at),
    createdAt: toIso(row.created_at),
    modifiedAt: row.updated_at === row.created_at ? null : toIso(row.updated_at),
  };
}

function numberType(e164: string): string {
  const type = parsePhoneNumberFromString(e164)?.getType();
  return type === "TOLL_FREE" ? "TollFree" : type === "MOBILE" ? "Mobile" : "Local";
}

function routingSummary(row: PhoneNumberRow): string {
  if (row.enabled !== 1) return "Disabled";
  const parts = [row.sms_enabled === 1 ? "SMS" : "SMS off"];
  if (row.campaign_id) parts.push(`campaign ${row.campaign_id}`);
  if (row.source_id) parts.push(`source ${row.source_id}`);
  if (row.is_preferred === 1) parts.push("preferred");
  if (row.is_default === 1) parts.push("default");
  if (row.warmup_enabled === 1) parts.push("warmup");
  return parts.join(" · ");
}

function toPhoneNumberTableRow(
  row: PhoneNumberRow,
  health: HealthStatus,
  orgName: string | null,
  now: number,
) {
  // A toll-free number needs no 10DLC campaign (domain/ten-dlc.ts): it shows no 10DLC status, not
  // even with a campaign id set, which its messages do not go under.
  const tollFree = isNanpTollFree(row.number);
  const tenDlcMissing = needsTenDlc(row.number) && !tollFree && !row.ten_dlc_campaign_id;
  return {
    id: row.id,
    name: row.name,
    number: row.number,
    type: numberType(row.number),
    organization: orgName ?? row.organization_id,
    organizationId: row.organization_id,
    enabled: row.enabled === 1,
    warmup: readiness(row, health, now),
    ownership: "Customer",
    routingSummary: routingSummary(row),
    smsReady: row.enabled === 1 && row.sms_enabled === 1 && health !== "Blocked" && !tenDlcMissing,
    voiceReady: false,
    tenDlcCampaignStatus: tollFree
      ? null
      : row.ten_dlc_campaign_id
        ? "Assigned"
        : tenDlcMissing
          ? "Missing"
          : null,
    isPreferred: row.is_preferred === 1,
    isDefault: row.is_default === 1,
    createdAt: toIso(row.created_at),
  };
}

// ---- Selection ----

const REASON_LABEL: Record<SelectionReason, string> = {
  ManualOverride: "Chosen by a user for this conversation",
  StickyConversation: "Last number used in this conversation",
  LeadAssigned: "Number assigned to the lead",
  CampaignOrSource: "Routed to this campaign or lead source",
  Preferred: "Preferred number",
  LocalArea: "Local to the recipient",
  HealthyPool: "Least recently used healthy number",
  FallbackDefault: "Default number (no healthier match)",
};

function reasonLabel(reason: SelectionReason, c: SenderCandidate, ctx: SelectionContext): string {
  if (reason !== "LocalArea") return REASON_LABEL[reason];
  return ctx.recipientAreaCode && c.areaCode === ctx.recipientAreaCode
    ? `Same area code as the recipient (${c.areaCode})`
    : `Same state or province as the recipient (${c.region})`;
}

interface SelectionInput {
  organizationId: string;
  conversation: ConversationRow | null;
  lead: LeadRow | null;
  recipient: string | null;
  body: SelectionBody;
}

/** What the messaging pipeline would choose right now for this recipient (nothing is sent). */
async function selectionResponse(store: Store, input: SelectionInput) {
  const { organizationId, conversation, lead, recipient, body } = input;
  const metadata = lead ? leadDocument(lead).metadata : {};
  const assigned = typeof metadata.assignedPhoneNumberId === "string" ? metadata.assignedPhoneNumberId : null;
  const campaignId = optionalId(body.campaignId, "campaignId");
  const sourceId = optionalId(body.sourceId, "sourceId") ?? lead?.source_id ?? null;
  const now = Date.now();
  const { selection, candidates, rows } = await chooseSender(
    store.db,
    {
      organizationId,
      conversation,
      leadAssignedPhoneNumberId: assigned,
      fromPhoneNumberId: null,
      wasManuallyOverridden: false,
      campaignId,
      sourceId,
      recipient,
    },
    now,
  );
  // The same context chooseSender builds, to say for every number which rule it matches.
  const ctx: SelectionContext = {
    manualPhoneNumberId: conversation?.override_phone_number_id ?? null,
    stickyPhoneNumberId: conversation?.last_phone_number_id ?? null,
    leadAssignedPhoneNumberId: assigned,
    campaignId,
    sourceId,
    recipientAreaCode: recipient ? areaCode(recipient) : null,
    recipientRegion: recipient ? regionOfNumber(recipient) : null,
    recipientNeedsTenDlc: recipient !== null && needsTenDlc(recipient),
  };
  const voice = body.channel === "call";
  // The selection's own rule: a campaign, or a toll-free number, which needs none.
  const tenDlcOk = (c: SenderCandidate) => canSendTo(c, ctx);
  const selected = voice ? null : selection;

  let setupMessage: string | null = null;
  if (voice) {
    setupMessage = "leadtrail sends SMS only: no number is enabled for voice calls.";
  } else if (!selected) {
    setupMessage =
      candidates.length === 0
        ? "The organization has no phone numbers: add one with POST /phone-numbers."
        : "The organization has no enabled, unblocked SMS number: enable one (routing.smsEnabled) or wait for a Blocked number's health to recover.";
  } else if (!tenDlcOk(selected.candidate)) {
    setupMessage = `Messages to US and Canadian numbers need a 10DLC campaign: set routing.tenDlcCampaignId on ${selected.candidate.number}.`;
  }

  const eligibleNumbers = candidates
    .map((c) => {
      const isSelected = selected?.candidate.id === c.id;
      const reason = isSelected && selected ? selected.reason : candidateReason(c, ctx);
      return {
        phoneNumberId: c.id,
        number: c.number,
        displayNumber: displayNumber(c.number),
        healthStatus: c.health,
        healthLabel: HEALTH_LABEL[c.health],
        healthWarning: HEALTH_WARNING[c.health],
        // A Blocked number can send only when a user chose it (and it is the selected one).
        canSend: !voice && c.enabled && c.smsEnabled && (c.health !== "Blocked" || isSelected) && tenDlcOk(c),
        selectionReason: reason,
        reasonLabel: reasonLabel(reason, c, ctx),
        label: rows.get(c.id)?.name ?? null,
        campaignId: c.campaignId,
        sourceId: c.sourceId,
        teamId: null,
        isSelected,
      };
    })
    .sort((a, b) => Number(b.isSelected) - Number(a.isSelected) || Number(b.canSend) - Number(a.canSend));

  const chosen = selected?.candidate ?? null;
  return {
    canSend: setupMessage === null,
    setupMessage,
    phoneNumberId: chosen?.id ?? null,
    number: chosen?.number ?? null,
    displayNumber: chosen ? displayNumber(chosen.number) : null,
    healthStatus: chosen?.health ?? null,
    healthLabel: chosen ? HEALTH_LABEL[chosen.health] : null,
    healthWarning: chosen ? HEALTH_WARNING[chosen.health] : null,
    selectionReason: selected?.reason ?? null,
    reasonLabel: selected && chosen ? reasonLabel(selected.reason, chosen, ctx) : null,
    wasManuallyOverridden: selected?.reason === "ManualOverride",
    campaignId,
    sourceId,
    eligibleNumbers,
  };
}

// ---- Routes ----

const phoneNumberParams = {
  type: "object",
  required: ["phoneNumberId"],
  properties: { phoneNumberId: { type: "string", minLength: 1, maxLength: 200 } },
};
const conversationParams = {
  type: "object",
  required: ["conversationId"],
  properties: { conversationId: { type: "string", minLength: 1, maxLength: 200 } },
};
const tags = ["PhoneNumbers"];
const withConflict = { ...problemResponses, 409: problem("The number is taken already.") };

function duplicateNumber(number: string, conflict: NumberConflict): ProblemError {
  const detail =
    conflict === "duplicate-number"
      ? `The organization already has the number ${number}.`
      : `The number ${number} belongs to another organization: a number receives for one organization only.`;
  return new ProblemError(409, "duplicate-phone-number", detail, { number: [detail] });
}

export const phoneNumbersRoutes: FastifyPluginAsync<RouteDeps> = async (app, { store }) => {
  const describe = async (row: PhoneNumberRow) => {
    const now = Date.now();
    const [health, orgName] = await Promise.all([
      healthByNumber(store.db, row.organization_id, now),
      organizationName(store.db, row.organization_id),
    ]);
    return toPhoneNumberResponse(row, health.get(row.id) ?? "Healthy", orgName, now);
  };

  app.post<{ Body: PhoneNumberBody }>(
    "/phone-numbers",
    {
      schema: {
        tags,
        summary: "Add a sender number (a duplicate number in the organization is a 409)",
        body: PhoneNumberRequestSchema,
        // 200, not 201: the contract's subset lists only '200': PhoneNumberResponse for this create.
        response: { 200: PhoneNumberResponseSchema, ...withConflict },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const changes = parseChanges(request.body, organizationId);
      const saved = await savePhoneNumber(store.db, store.engine, organizationId, null, changes);
      if ("conflict" in saved) throw duplicateNumber(changes.number, saved.conflict);
      if ("missing" in saved) throw new Error("unreachable: a new number cannot be missing");
      return describe(saved.row);
    },
  );

  app.post(
    "/phone-numbers/all/organization",
    {
      schema: {
        tags,
        summary: "List the organization's numbers",
        body: listBody,
        response: { 200: PagedPhoneNumbersSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const page = await store.listPage<PhoneNumberRow>(PHONE_NUMBER_LIST_SPEC, organizationId, request.body);
      const now = Date.now();
      const [health, orgName] = await Promise.all([
        healthByNumber(store.db, organizationId, now),
        organizationName(store.db, organizationId),
      ]);
      const { rows, ...rest } = page;
      return {
        ...rest,
        items: rows.map((r) => toPhoneNumberTableRow(r, health.get(r.id) ?? "Healthy", orgName, now)),
      };
    },
  );

  app.get<{ Params: { phoneNumberId: string } }>(
    "/phone-numbers/:phoneNumberId",
    {
      schema: {
        tags,
        summary: "A sender number with its routing, flags and health",
        params: phoneNumberParams,
        response: { 200: PhoneNumberResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const row = await getPhoneNumber(store.db, request.auth.organizationId, request.params.phoneNumberId);
      if (!row) throw notFound(`Phone number '${request.params.phoneNumberId}'`);
      return describe(row);
    },
  );

  app.put<{ Params: { phoneNumberId: string }; Body: PhoneNumberBody }>(
    "/phone-numbers/:phoneNumberId",
    {
      schema: {
        tags,
        summary:
          "Update a sender number: number and name as sent; optional fields left out (or null flags) keep their values",
        params: phoneNumberParams,
        body: PhoneNumberRequestSchema,
        response: { 200: PhoneNumberResponseSchema, ...withConflict },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const { phoneNumberId } = request.params;
      if (request.body.id != null && request.body.id !== phoneNumberId) {
        throw badRequest("id must match the phoneNumberId of the path (or be omitted).", "id");
      }
      const changes = parseChanges(request.body, organizationId);
      const saved = await savePhoneNumber(store.db, store.engine, organizationId, phoneNumberId, changes);
      if ("missing" in saved) throw notFound(`Phone number '${phoneNumberId}'`);
      if ("conflict" in saved) throw duplicateNumber(changes.number, saved.conflict);
      return describe(saved.row);
    },
  );

  app.delete<{ Params: { phoneNumberId: string } }>(
    "/phone-numbers/:phoneNumberId",
    {
      schema: {
        tags,
        summary: "Delete a sender number (its queued messages are then blocked, not re-routed)",
        params: phoneNumberParams,
        response: { 204: { type: "null", description: "Deleted." }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { phoneNumberId } = request.params;
      if (!(await deletePhoneNumber(store.db, request.auth.organizationId, phoneNumberId))) {
        throw notFound(`Phone number '${phoneNumberId}'`);
      }
      return reply.code(204).send();
    },
  );

  const conversationOf = async (organizationId: string, conversationId: string) => {
    const conversation = await getConversation(store.db, organizationId, conversationId);
    if (!conversation) throw notFound(`Conversation '${conversationId}'`);
    const lead = (await getLead(store.db, organizationId, conversation.lead_id)) ?? null;
    return { conversation, lead };
  };

  /**
   * The conversation and its lead, once the body's other fields are checked: a conversation, lead or
   * recipient sent beside it must be the conversation's own (the answer is about the conversation's
   * lead, and silently answering for another would mislead), and the ids must be valid. Checked
   * before anything is written, so a refused request changes nothing.
   */
  const checkedConversation = async (organizationId: string, conversationId: string, body: SelectionBody) => {
    const named = optionalId(body.conversationId, "conversationId");
    if (named !== null && named !== conversationId) {
      throw badRequest(
        "conversationId must match the conversationId of the path (or be omitted).",
        "conversationId",
      );
    }
    optionalId(body.campaignId, "campaignId");
    optionalId(body.sourceId, "sourceId");
    const { conversation, lead } = await conversationOf(organizationId, conversationId);
    const leadId = optionalId(body.leadId, "leadId");
    if (leadId && leadId !== conversation.lead_id) {
      throw badRequest(
        `leadId must be the conversation's lead ('${conversation.lead_id}') or be omitted.`,
        "leadId",
      );
    }
    const recipient = optionalId(body.recipientPhoneNumber, "recipientPhoneNumber");
    if (recipient && requirePhoneNumber(recipient, "recipientPhoneNumber") !== conversation.lead_phone) {
      throw badRequest(
        `recipientPhoneNumber must be the conversation's number (${conversation.lead_phone}) or be omitted.`,
        "recipientPhoneNumber",
      );
    }
    return { conversation, lead };
  };

  const forConversation = async (organizationId: string, conversationId: string, body: SelectionBody) => {
    const { conversation, lead } = await checkedConversation(organizationId, conversationId, body);
    return selectionResponse(store, {
      organizationId,
      conversation,
      lead,
      recipient: conversation.lead_phone,
      body,
    });
  };

  app.post<{ Params: { conversationId: string }; Body: SelectionBody | null }>(
    "/phone-numbers/outgoing/conversation/:conversationId",
    {
      schema: {
        tags,
        summary: "The number a message in this conversation would be sent from, and why (nothing is sent)",
        params: conversationParams,
        body: OutgoingNumberSelectionRequestSchema,
        response: { 200: OutgoingNumberSelectionResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      return forConversation(request.auth.organizationId, request.params.conversationId, request.body ?? {});
    },
  );

  app.post<{ Body: SelectionBody | null }>(
    "/phone-numbers/outgoing/new",
    {
      schema: {
        tags,
        summary:
          "The number a first message to a recipient (recipientPhoneNumber or leadId) would be sent from; with conversationId, that conversation's next message (nothing is sent)",
        body: OutgoingNumberSelectionRequestSchema,
        response: { 200: OutgoingNumberSelectionResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const body = request.body ?? {};
      // A conversation named here is answered as its own route answers it: its next message's sender.
      const conversationId = optionalId(body.conversationId, "conversationId");
      if (conversationId) return forConversation(organizationId, conversationId, body);
      const leadId = optionalId(body.leadId, "leadId");
      const given = optionalId(body.recipientPhoneNumber, "recipientPhoneNumber");
      if (!leadId && !given) {
        throw badRequest(
          "recipientPhoneNumber, leadId or conversationId is required: they identify the recipient.",
          "recipientPhoneNumber",
        );
      }
      const lead = leadId ? ((await getLead(store.db, organizationId, leadId)) ?? null) : null;
      if (leadId && !lead) throw notFound(`Lead '${leadId}'`);
      const recipient = given ? requirePhoneNumber(given, "recipientPhoneNumber") : (lead?.phone ?? null);
      if (!recipient) {
        throw badRequest(
          `Lead '${leadId}' has no phone number: send recipientPhoneNumber.`,
          "recipientPhoneNumber",
        );
      }
      return selectionResponse(store, { organizationId, conversation: null, lead, recipient, body });
    },
  );

  app.post<{ Params: { conversationId: string }; Body: OverrideBody }>(
    "/phone-numbers/outgoing/conversation/:conversationId/override",
    {
      schema: {
        tags,
        summary: "Send this conversation's messages from a chosen number (ManualOverride) until cleared",
        params: conversationParams,
        body: OutgoingNumberManualOverrideRequestSchema,
        response: { 200: OutgoingNumberSelectionResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const { conversationId } = request.params;
      const selection = request.body.selection ?? {};
      const { conversation } = await checkedConversation(organizationId, conversationId, selection);
      const fromId = request.body.fromPhoneNumberId;
      const outcome = await overrideConversationSender(store.db, organizationId, conversation.id, fromId);
      // Another organization's number reads exactly like one that does not exist.
      if (outcome === "no-number") {
        throw badRequest(
          `fromPhoneNumberId '${fromId.slice(0, 200)}' is not a phone number of this organization.`,
          "fromPhoneNumberId",
        );
      }
      if (outcome === "cannot-send") {
        throw badRequest(
          `fromPhoneNumberId '${fromId}' is disabled or not enabled for SMS: it cannot send.`,
          "fromPhoneNumberId",
        );
      }
      return forConversation(organizationId, conversationId, selection);
    },
  );

  app.delete<{ Params: { conversationId: string } }>(
    "/phone-numbers/outgoing/conversation/:conversationId/override",
    {
      schema: {
        tags,
        summary: "Return this conversation to automatic sender selection",
        params: conversationParams,
        response: { 200: OutgoingNumberSelectionResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const { conversationId } = request.params;
      const { conversation } = await conversationOf(organizationId, conversationId);
      await setConversationOverride(store.db, organizationId, conversation.id, null);
      return forConversation(organizationId, conversationId, {});
    },
  );
};
