import type { FastifyPluginAsync } from "fastify";
import { isValidEmail } from "../../domain/phone.js";
import { exceedsCharacters } from "../../domain/plain-text.js";
import { badRequest, notFound, ProblemError } from "../../domain/problem.js";
import { toIso } from "../../domain/time.js";
import { PROVIDER_OPT_OUT_SOURCE } from "../../messaging/provider-opt-out.js";
import { lockLeadsAtPhone, recordSmsConsent } from "../../services/lead-consent.js";
import { transactKnowingCommit } from "../../store/commit-outcome.js";
import type { ApiKeyOwner } from "../../store/orgs-repo.js";
import type { SuppressionRow } from "../../store/schema.js";
import {
  auditTrail,
  findActiveSuppression,
  getSuppression,
  isSuppressed,
  release,
  SUPPRESSION_CHANNELS,
  SUPPRESSION_LIST_SPEC,
  type SuppressionChannel,
  suppress,
} from "../../store/suppressions-repo.js";
import type { RouteDeps } from "../deps.js";
import { assertPlainText, requirePhoneNumber } from "../field-checks.js";
import { listBody, problemResponses } from "../schemas/common.js";
import {
  PagedSuppressionsSchema,
  SuppressionCheckResultSchema,
  SuppressionEntryRequestSchema,
  SuppressionEntryResponseSchema,
} from "../schemas/suppression.js";

// The suppression list (issue 3, item 4): recipients an organization must not contact. Entries made
// here carry source "api" and the calling user as the audit actor; inbound STOP/START keywords
// (messaging/inbound.ts) write to the same entries with source "inbound_keyword", and a provider's
// refusal because the recipient opted out there (messaging/provider-opt-out.ts) with
// "provider_opt_out".

export interface SuppressionEntryRequest {
  organizationId: string;
  recipientIdentifier?: string | null;
  phoneNumber?: string | null;
  email?: string | null;
  channel?: string | null;
  reason?: string | null;
}

interface ParsedEntry {
  channel: SuppressionChannel;
  phoneNumber: string | null;
  email: string | null;
  /** recipientIdentifier when it is the client's own id, given beside the phone number or email. */
  clientIdentifier: string | null;
  reason: string | null;
}

const MAX_IDENTIFIER_LENGTH = 200;

const API_SOURCE = "api";

function given(value: string | null | undefined): value is string {
  return typeof value === "string" && value.trim().length > 0;
}

function normalizeEmail(value: string, field: string): string {
  assertPlainText(value, field);
  const email = value.trim().toLowerCase();
  if (!isValidEmail(email)) throw badRequest(`${field} must be a valid email address.`, field);
  return email;
}

/** recipientIdentifier given alone must be the phone number (or email) an entry is matched by. */
function identifierAsPhone(identifier: string): string {
  try {
    return requirePhoneNumber(identifier, "recipientIdentifier");
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error;
    throw badRequest(
      `recipientIdentifier '${identifier.slice(0, 40)}' is neither a phone number nor an email, and an entry is matched by one of them: send phoneNumber or email (a recipientIdentifier beside them is kept as your own id for the recipient).`,
      "recipientIdentifier",
    );
  }
}

function parseChannel(value: string | null | undefined): SuppressionChannel {
  if (!given(value)) return "sms";
  const channel = value.trim().toLowerCase();
  if (!(SUPPRESSION_CHANNELS as readonly string[]).includes(channel)) {
    throw badRequest(
      `channel: '${value.slice(0, 40)}' is not one of ${SUPPRESSION_CHANNELS.join(", ")}.`,
      "channel",
    );
  }
  return channel as SuppressionChannel;
}

/**
 * Validates and normalizes a SuppressionEntryRequest. The organization must be the caller's (any
 * other answers 404, as for every foreign resource). Phone numbers become E.164 and emails lower
 * case. recipientIdentifier beside either is the client's own id for the recipient; with neither, it
 * is read as whichever of the two it is (an entry is matched by phone number or email).
 */
function parseEntry(body: SuppressionEntryRequest, auth: ApiKeyOwner): ParsedEntry {
  if (body.organizationId !== auth.organizationId) {
    throw notFound(`Organization '${body.organizationId.slice(0, 200)}'`);
  }
  const channel = parseChannel(body.channel);
  let phoneNumber = given(body.phoneNumber) ? requirePhoneNumber(body.phoneNumber, "phoneNumber") : null;
  let email = given(body.email) ? normalizeEmail(body.email, "email") : null;
  let clientIdentifier: string | null = null;
  if (given(body.recipientIdentifier)) {
    const identifier = body.recipientIdentifier.trim();
    if (phoneNumber || email) {
      // The client's own id for the recipient (a CRM contact, say): kept and answered, not matched on.
      assertPlainText(identifier, "recipientIdentifier");
      if (exceedsCharacters(identifier, MAX_IDENTIFIER_LENGTH)) {
        throw badRequest(
          `recipientIdentifier must be at most ${MAX_IDENTIFIER_LENGTH} characters.`,
          "recipientIdentifier",
        );
      }
      clientIdentifier = identifier;
    } else if (identifier.includes("@")) {
      email = normalizeEmail(identifier, "recipientIdentifier");
    } else {
      phoneNumber = identifierAsPhone(identifier);
    }
  }
  let reason: string | null = null;
  if (given(body.reason)) {
    if (body.reason.includes("\u0000")) throw badRequest("reason must not contain NUL characters.", "reason");
    reason = body.reason.trim();
  }
  return { channel, phoneNumber, email, clientIdentifier, reason };
}

/**
 * The identifier an entry is kept under: the email on channel "email", the phone number on the
 * others (on "all", the email when no phone number is given). The other identifier, when also given,
 * is recorded on the entry; only an "all" entry is matched by it too (by its email: see
 * findActiveSuppression), since it blocks the person on every channel.
 */
function recipientOf(entry: ParsedEntry): string {
  if (entry.channel === "email") {
    if (!entry.email) throw badRequest("email is required for channel 'email'.", "email");
    return entry.email;
  }
  if (entry.channel === "all") {
    const recipient = entry.phoneNumber ?? entry.email;
    if (!recipient) throw badRequest("phoneNumber or email is required.", "phoneNumber");
    return recipient;
  }
  if (!entry.phoneNumber) {
    throw badRequest(`phoneNumber is required for channel '${entry.channel}'.`, "phoneNumber");
  }
  return entry.phoneNumber;
}

/**
 * The phone whose leads record this entry's change as their SMS consent (services/lead-consent.ts):
 * an SMS or every-channel entry's phone number.
 */
function consentPhone(entry: ParsedEntry): string | null {
  return entry.channel === "sms" || entry.channel === "all" ? entry.phoneNumber : null;
}

/** The identifier an entry answers with: the client's own when it gave one, else the matched one. */
function answeredIdentifier(row: SuppressionRow): string {
  return row.recipient_identifier ?? row.recipient;
}

export function toSuppressionResponse(row: SuppressionRow) {
  return {
    id: row.id,
    organizationId: row.organization_id,
    recipientIdentifier: answeredIdentifier(row),
    normalizedPhoneNumber: row.phone_number,
    normalizedEmail: row.email,
    channel: row.channel,
    source: row.source,
    status: row.status,
    reason: row.reason,
    suppressedAt: toIso(row.suppressed_at),
    releasedAt: toIso(row.released_at),
    audit: auditTrail(row),
  };
}

function customerReason(row: SuppressionRow | undefined): string {
  if (!row) return "No active suppression matches this recipient on this channel.";
  if (row.source === "inbound_keyword") return "The recipient opted out by replying with a stop keyword.";
  if (row.source === PROVIDER_OPT_OUT_SOURCE)
    return "The recipient opted out with the SMS provider, which refused a message to them.";
  return row.channel === "all"
    ? "The recipient is on this organization's suppression list for every channel."
    : `The recipient is on this organization's suppression list for ${row.channel}.`;
}

const params = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", minLength: 1, maxLength: 200 } },
};

export const suppressionsRoutes: FastifyPluginAsync<RouteDeps> = async (app, { store }) => {
  app.post<{ Body: SuppressionEntryRequest }>(
    "/suppressions",
    {
      schema: {
        tags: ["Suppressions"],
        summary:
          "Create or reactivate a recipient suppression (201, also when it is already active: the entry is answered unchanged)",
        body: SuppressionEntryRequestSchema,
        response: {
          201: SuppressionEntryResponseSchema,
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const entry = parseEntry(request.body, request.auth);
      const recipient = recipientOf(entry);
      // 201 whatever the outcome: Leadping documents only 201 here, and generated clients refuse
      // status codes their document does not list. An already active entry is answered unchanged
      // (its first reason and audit stand); the audit trail shows what each call did.
      const { organizationId } = request.auth;
      const phone = consentPhone(entry);
      const row = await transactKnowingCommit(store.db, async (trx) => {
        // Before suppress locks the phone's messages: the order a lead's update takes.
        const leads = phone ? await lockLeadsAtPhone(trx, organizationId, phone) : [];
        const at = Date.now();
        const row = await suppress(trx, {
          organizationId,
          channel: entry.channel,
          recipient,
          phoneNumber: entry.phoneNumber,
          email: entry.email,
          clientIdentifier: entry.clientIdentifier,
          source: API_SOURCE,
          reason: entry.reason,
          actorId: request.auth.userId,
          at,
        });
        if (phone) await recordSmsConsent(trx, leads, "opt-out", phone, at);
        return row;
      });
      return reply.code(201).send(toSuppressionResponse(row));
    },
  );

  app.post<{ Body: SuppressionEntryRequest }>(
    "/suppressions/release",
    {
      schema: {
        tags: ["Suppressions"],
        summary: "Release an active recipient suppression (an already released entry is returned as is)",
        body: SuppressionEntryRequestSchema,
        response: { 200: SuppressionEntryResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const entry = parseEntry(request.body, request.auth);
      const recipient = recipientOf(entry);
      const { organizationId } = request.auth;
      const phone = consentPhone(entry);
      const row = await transactKnowingCommit(store.db, async (trx) => {
        const leads = phone ? await lockLeadsAtPhone(trx, organizationId, phone) : [];
        const at = Date.now();
        const row = await release(trx, {
          organizationId,
          channel: entry.channel,
          recipient,
          source: API_SOURCE,
          reason: entry.reason,
          actorId: request.auth.userId,
          at,
        });
        // Only a release this call made (one of an entry released before says nothing new), and
        // one that leaves the phone free on SMS: another entry (the person's STOP) still says no.
        if (phone && row?.released_at === at && !(await isSuppressed(trx, organizationId, "sms", phone)))
          await recordSmsConsent(trx, leads, "opt-in", phone, at);
        return row;
      });
      if (!row) throw notFound(`A suppression of '${recipient}' on channel '${entry.channel}'`);
      return toSuppressionResponse(row);
    },
  );

  app.post<{ Body: SuppressionEntryRequest }>(
    "/suppressions/check",
    {
      schema: {
        tags: ["Suppressions"],
        summary: "Check whether a recipient may be contacted on a channel",
        description:
          "allowed is false when an active entry matches the phone number or email on the channel, or on 'all'. Checking channel 'all' matches an entry on any channel.",
        body: SuppressionEntryRequestSchema,
        response: { 200: SuppressionCheckResultSchema, ...problemResponses },
      },
    },
    async (request) => {
      const entry = parseEntry(request.body, request.auth);
      const recipients = [entry.phoneNumber, entry.email].filter((r): r is string => r !== null);
      if (recipients.length === 0) {
        throw badRequest("phoneNumber, email or recipientIdentifier is required.", "phoneNumber");
      }
      const blocking = await findActiveSuppression(
        store.db,
        request.auth.organizationId,
        entry.channel,
        recipients,
      );
      return {
        allowed: blocking === undefined,
        organizationId: request.auth.organizationId,
        recipientIdentifier:
          (blocking ? answeredIdentifier(blocking) : null) ?? entry.clientIdentifier ?? recipients[0]!,
        normalizedPhoneNumber: entry.phoneNumber,
        normalizedEmail: entry.email,
        channel: entry.channel,
        suppressionEntryId: blocking?.id ?? null,
        source: blocking?.source ?? null,
        suppressedAt: toIso(blocking?.suppressed_at),
        customerReason: customerReason(blocking),
      };
    },
  );

  app.post(
    "/suppressions/all/my",
    {
      schema: {
        tags: ["Suppressions"],
        summary: "List the organization's suppression entries",
        description:
          "Order by suppressedAt (default, newest first) or id; filter by status, channel, source, recipient, recipientIdentifier, normalizedPhoneNumber, normalizedEmail or id; range on suppressedAt and releasedAt; search recipient, recipientIdentifier, phone number, email and reason.",
        body: listBody,
        response: { 200: PagedSuppressionsSchema, ...problemResponses },
      },
    },
    async (request) => {
      const page = await store.listPage<SuppressionRow>(
        SUPPRESSION_LIST_SPEC,
        request.auth.organizationId,
        request.body,
      );
      return {
        items: page.rows.map(toSuppressionResponse),
        pageSize: page.pageSize,
        totalCount: page.totalCount,
        continuationToken: page.continuationToken,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/suppressions/:id",
    {
      schema: {
        tags: ["Suppressions"],
        summary: "Get a suppression entry with its audit trail",
        params,
        response: { 200: SuppressionEntryResponseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const row = await getSuppression(store.db, request.auth.organizationId, request.params.id);
      if (!row) throw notFound(`Suppression entry '${request.params.id}'`);
      return toSuppressionResponse(row);
    },
  );
};
