import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { type RawBuilder, sql } from "kysely";
import { EVENT_STATUSES } from "../../domain/event-vocabulary.js";
import { keywordAction } from "../../domain/keywords.js";
import { SMS_LIFECYCLE_STATUSES, smsStatusFilter } from "../../domain/message-status.js";
import { senderId, toE164 } from "../../domain/phone.js";
import { badRequest, notFound } from "../../domain/problem.js";
import { cancelMessage } from "../../messaging/cancel.js";
import { isOwnNumber } from "../../messaging/inbound.js";
import { type SendSmsBody, sendSms } from "../../messaging/send.js";
import { markShownMessagesRead } from "../../store/conversation-reads.js";
import { EVENT_LIST_SPEC } from "../../store/event-list-spec.js";
import { creationEntry, getTransitions } from "../../store/events-repo.js";
import { getLead, getLeadsByIds } from "../../store/leads-repo.js";
import { type ListSpec, phoneEquals } from "../../store/list-query.js";
import { organizationName } from "../../store/orgs-repo.js";
import { findPhoneNumberByNumber } from "../../store/phone-numbers-repo.js";
import type { EventRow } from "../../store/schema.js";
import type { RouteDeps } from "../deps.js";
import { toEventRecord } from "../event-record.js";
import { sendPage } from "../paged-json.js";
import { listBody, problem, problemResponses, requestDateTime } from "../schemas/common.js";
import { PagedSmsEventsSchema, SmsEventTableRowSchema, SmsResponseSchema } from "../schemas/sms.js";
import { toSmsEventTableRow, toSmsResponse } from "../sms-record.js";

/** A status filter in either vocabulary (the rows show the lower-case one), any case. */
function statusCondition(value: string, param: string): RawBuilder<unknown> {
  const wanted = smsStatusFilter(value);
  if (!wanted) {
    throw badRequest(
      `${param}: '${value.slice(0, 100)}' is not a status; accepted, in any case: ${SMS_LIFECYCLE_STATUSES.join(", ")}; or the event statuses ${EVENT_STATUSES.join(", ")}.`,
      param,
    );
  }
  if ("none" in wanted) return sql`1 = 0`;
  const status = sql`status = ${wanted.status}`;
  // The same flags, in the same order, as smsLifecycleStatus reads them.
  const funds = sql`coalesce(billing_status, '') = ${"InsufficientFunds"}`;
  const campaign = sql`coalesce(compliance_action, '') = ${"MissingTenDlcCampaign"}`;
  switch (wanted.blocked) {
    case "billing":
      return sql`(${status} and ${funds})`;
    case "missing_campaign":
      return sql`(${status} and not ${funds} and ${campaign})`;
    case "compliance":
      return sql`(${status} and not ${funds} and not ${campaign})`;
    case null:
      return status;
  }
}

const SMS_LIST_SPEC: ListSpec = {
  ...EVENT_LIST_SPEC,
  resource: "sms-events",
  fields: {
    ...EVENT_LIST_SPEC.fields,
    status: { column: "status", kind: "string", filter: true, match: statusCondition },
    fromPhoneNumberId: { column: "from_phone_number_id", kind: "string", filter: true },
    toPhoneNumber: {
      column: "to_phone_number",
      kind: "string",
      filter: true,
      match: phoneEquals("to_phone_number"),
    },
    text: { column: "body", kind: "string", search: true },
  },
};

const MESSAGE_TYPES = sql`activity_type in ('Sms', 'Mms', 'Warmup')`;

const idParams = (name: string) => ({
  type: "object",
  required: [name],
  properties: { [name]: { type: "string", minLength: 1, maxLength: 200 } },
});

const SendSmsSchema = {
  type: "object",
  required: ["conversationId"],
  properties: {
    smsEventId: {
      type: ["string", "null"],
      maxLength: 200,
      description:
        "Retrying a send whose answer was lost: the message this id names is answered (201) and nothing new is sent.",
    },
    scheduledFor: { type: ["string", "null"], ...requestDateTime },
    conversationId: { type: "string", minLength: 1, maxLength: 200 },
    fromPhoneNumberId: { type: ["string", "null"], maxLength: 200 },
    wasManuallyOverridden: { type: ["boolean", "null"] },
    campaignId: { type: ["string", "null"], maxLength: 200 },
    sourceId: { type: ["string", "null"], maxLength: 200 },
    text: { type: ["string", "null"] },
    mediaUrls: { type: ["array", "null"], items: { type: "string", maxLength: 2000 } },
    outboundIdempotencyKey: { type: ["string", "null"] },
  },
};

const SMS_ROW = { $ref: "SmsEventTableRow#" };
const SMS_PAGE = { $ref: "PagedResultOfSmsEventTableRow#" };

export const smsRoutes: FastifyPluginAsync<RouteDeps> = async (app, { store, pipeline }) => {
  for (const schema of [SmsResponseSchema, SmsEventTableRowSchema, PagedSmsEventsSchema])
    app.addSchema(schema);
  const transitionsOf = (organizationId: string, rows: EventRow[]) =>
    getTransitions(store.db, organizationId, rows);

  const smsResponse = async (row: EventRow) =>
    toSmsResponse(row, (await transitionsOf(row.organization_id, [row])).get(row.id) ?? []);

  app.post<{ Body: SendSmsBody }>(
    "/sms/send",
    {
      schema: {
        tags: ["Sms"],
        summary: "Queue an SMS or MMS (idempotent by outboundIdempotencyKey, or smsEventId on a retry)",
        body: SendSmsSchema,
        response: {
          201: { $ref: "SmsResponse#" },
          ...problemResponses,
          409: problem(
            "The organization has no number to send from, or smsEventId or outboundIdempotencyKey names a message of another conversation.",
          ),
          422: problem(
            "outboundIdempotencyKey names an earlier message of this conversation with other text, mediaUrls or scheduledFor.",
          ),
        },
      },
    },
    async (request, reply) => {
      const { event, created } = await sendSms(
        store.db,
        request.auth,
        request.body,
        Date.now(),
        pipeline.queueSend,
        pipeline.recentSenders,
      );
      pipeline.poke();
      // A message just written has only its creation entry: its log is known without a read, and
      // matches the row as written even if the worker has moved it on since.
      if (created) return reply.code(201).send(toSmsResponse(event, [creationEntry(event)]));
      return reply.code(201).send(await smsResponse(event));
    },
  );

  app.post<{ Params: { smsEventId: string }; Body: { reason?: string | null } | undefined }>(
    "/sms/:smsEventId/cancel",
    {
      schema: {
        tags: ["Sms"],
        summary: "Cancel a Scheduled or Queued message",
        params: idParams("smsEventId"),
        body: {
          type: ["object", "null"],
          properties: { reason: { type: ["string", "null"], maxLength: 500 } },
        },
        response: {
          200: { $ref: "SmsResponse#" },
          ...problemResponses,
          409: problem(
            "Only Scheduled or Queued messages can be canceled (an already Canceled one is answered as it is).",
          ),
        },
      },
    },
    async (request) => {
      const event = await cancelMessage(
        store.db,
        request.auth.organizationId,
        request.params.smsEventId,
        request.body?.reason?.trim() || null,
      );
      return smsResponse(event);
    },
  );

  const listSms = async (
    reply: FastifyReply,
    organizationId: string,
    scope: Record<string, string>,
    anyOf: ReturnType<typeof sql>[],
    scopeKey: string,
    body: unknown,
    /** A lead's message thread: the messages it shows are read by this user. */
    reader?: string,
  ) => {
    const page = await store.listPage<EventRow>(SMS_LIST_SPEC, organizationId, body, scope, {
      conditions: [MESSAGE_TYPES],
      key: scopeKey,
      anyOf,
    });
    // The page's reads and its read marks do not depend on each other (as in routes/events.ts).
    const [transitions, leads, authors, orgName] = await Promise.all([
      transitionsOf(organizationId, page.rows),
      getLeadsByIds(
        store.db,
        organizationId,
        page.rows.flatMap((r) => (r.lead_id ? [r.lead_id] : [])),
      ),
      store.users.authors(
        organizationId,
        page.rows.map((r) => r.created_by),
      ),
      organizationName(store.db, organizationId),
      reader && markShownMessagesRead(store.db, organizationId, reader, page.rows),
    ]);
    return sendPage(reply, SMS_ROW, {
      ...page,
      items: page.rows.map((r) =>
        toSmsEventTableRow(r, transitions.get(r.id) ?? [], r.lead_id ? leads.get(r.lead_id) : undefined, {
          author: authors.get(r.created_by) ?? null,
          organizationName: orgName,
        }),
      ),
    });
  };

  app.get<{ Params: { smsEventId: string } }>(
    "/events/sms/:smsEventId",
    {
      schema: {
        tags: ["SmsEvents"],
        params: idParams("smsEventId"),
        response: { 200: { $ref: "SmsEventTableRow#" }, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const row = await store.getEventById(organizationId, request.params.smsEventId);
      if (!row || !["Sms", "Mms", "Warmup"].includes(row.activity_type))
        throw notFound(`SMS event '${request.params.smsEventId}'`);
      const [lead, transitions, author, orgName] = await Promise.all([
        row.lead_id ? getLead(store.db, organizationId, row.lead_id) : undefined,
        transitionsOf(organizationId, [row]),
        store.users.author(organizationId, row.created_by),
        organizationName(store.db, organizationId),
      ]);
      return toSmsEventTableRow(row, transitions.get(row.id) ?? [], lead, {
        author,
        organizationName: orgName,
      });
    },
  );

  app.post<{ Params: { leadId: string } }>(
    "/events/sms/lead/:leadId",
    {
      schema: {
        tags: ["SmsEvents"],
        params: idParams("leadId"),
        body: listBody,
        response: { 200: SMS_PAGE, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { organizationId } = request.auth;
      if (!(await getLead(store.db, organizationId, request.params.leadId)))
        throw notFound(`Lead '${request.params.leadId}'`);
      return listSms(
        reply,
        organizationId,
        { lead_id: request.params.leadId },
        [],
        `lead=${request.params.leadId}`,
        request.body,
        request.auth.userId,
      );
    },
  );

  app.post<{ Params: { phoneNumber: string } }>(
    "/events/sms/phone/:phoneNumber",
    {
      schema: {
        tags: ["SmsEvents"],
        params: idParams("phoneNumber"),
        body: listBody,
        response: { 200: SMS_PAGE, ...problemResponses },
      },
    },
    async (request, reply) => {
      // A short code or sender id that wrote to us has its thread too (its lead's phone is that id).
      const written = request.params.phoneNumber;
      const number = toE164(written) ?? senderId(written);
      if (!number)
        throw badRequest(
          `phoneNumber '${written.slice(0, 40)}' is not a valid phone number, short code or sender id.`,
          "phoneNumber",
        );
      // Sent from it or to it: each read through its own index (migration 0010).
      const either = [sql`from_phone_number = ${number}`, sql`to_phone_number = ${number}`];
      return listSms(reply, request.auth.organizationId, {}, either, `phone=${number}`, request.body);
    },
  );

  app.post(
    "/events/sms/all/my",
    { schema: { tags: ["SmsEvents"], body: listBody, response: { 200: SMS_PAGE, ...problemResponses } } },
    async (request, reply) => listSms(reply, request.auth.organizationId, {}, [], "", request.body),
  );
};

/** POST /simulator/inbound: inject an inbound message (only with LEADTRAIL_PROVIDER=simulator). */
export const simulatorRoutes: FastifyPluginAsync<RouteDeps> = async (app, { store, messaging, pipeline }) => {
  app.post<{ Body: { from: string; to: string; text: string } }>(
    "/simulator/inbound",
    {
      schema: {
        tags: ["Simulator"],
        summary: "Inject an inbound SMS as if the simulator provider had received it",
        body: {
          type: "object",
          required: ["from", "to", "text"],
          properties: {
            from: { type: "string", maxLength: 40 },
            to: { type: "string", maxLength: 40 },
            text: { type: "string", maxLength: 1600 },
          },
        },
        response: { 201: { $ref: "EventRecord#" }, ...problemResponses },
      },
    },
    async (request, reply) => {
      if (messaging.provider !== "simulator") throw notFound("The simulator");
      // A short code or alphanumeric sender id may write too (providers deliver those).
      const from = toE164(request.body.from) ?? senderId(request.body.from);
      const to = toE164(request.body.to);
      if (!from) throw badRequest("from is not a valid phone number, short code or sender id.", "from");
      if (!to) throw badRequest("to is not a valid phone number.", "to");
      // Only numbers of the caller's organization: injecting into another tenant is not found.
      const ours = await findPhoneNumberByNumber(store.db, to);
      if (!ours || ours.organization_id !== request.auth.organizationId) {
        throw notFound(`Phone number '${to}' of this organization`);
      }
      // Except a keyword, which handleInbound honours from our own numbers too (a "partner" may be
      // a person).
      const keyword = keywordAction(request.body.text) !== null;
      if (!keyword && (await isOwnNumber(store.db, ours.organization_id, from))) {
        throw badRequest(
          `from ${from} is one of this organization's numbers: messages between its own numbers are warmup traffic, not a lead's.`,
          "from",
        );
      }
      const outcome = await pipeline.handleInbound({
        from,
        to,
        text: request.body.text,
        media: [],
        providerMessageId: null,
        receivedAt: Date.now(),
      });
      if (!outcome) throw notFound(`Phone number '${to}' of this organization`);
      if (outcome.reply) pipeline.poke();
      const author = await store.users.author(outcome.event.organization_id, outcome.event.created_by);
      return reply.code(201).send(toEventRecord(outcome.event, author));
    },
  );
};
