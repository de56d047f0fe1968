import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { DETAIL_STATUS, EVENT_CATEGORIES, type EventStatus } from "../../domain/event-vocabulary.js";
import { characterCount } from "../../domain/plain-text.js";
import { badRequest, notFound } from "../../domain/problem.js";
import { toIso } from "../../domain/time.js";
import { createNote, NOTE_MAX_LENGTH } from "../../services/notes.js";
import { markShownMessagesRead } from "../../store/conversation-reads.js";
import { EVENT_LIST_SPEC, type EventListQuery, eventListNarrowing } from "../../store/event-list-spec.js";
import { getTransitions } from "../../store/events-repo.js";
import { getConversation, getLead } from "../../store/leads-repo.js";
import type { ApiKeyOwner } from "../../store/orgs-repo.js";
import type { EventRow } from "../../store/schema.js";
import type { Store } from "../../store/store.js";
import { toEventRecord } from "../event-record.js";
import { sendPage } from "../paged-json.js";
import { listBody, problemResponses } from "../schemas/common.js";
import { CreateNoteRequestSchema } from "../schemas/event.js";

const idParam = (name: string) => ({
  type: "object",
  required: [name],
  properties: { [name]: { type: "string", minLength: 1, maxLength: 200 } },
});

/** One item of an event page (a constant object: Fastify caches its serializer by identity). */
const EVENT_RECORD = { $ref: "EventRecord#" };

const listSchema = (param: string | null, summary: string, querystring?: object) => ({
  tags: ["Events"],
  summary,
  ...(param ? { params: idParam(param) } : {}),
  ...(querystring ? { querystring } : {}),
  body: listBody,
  response: { 200: { $ref: "PagedResultOfEventTableRow#" }, ...problemResponses },
});

// The subset's query parameters of two event lists. Values are checked again (and their problems
// worded) by eventListNarrowing; a continuation token is bound to them.
const timeParam = (description: string) => ({
  type: "string",
  format: "date-time",
  maxLength: 64,
  description: `${description} RFC 3339 (percent-encode a '+' offset as %2B). Combined with the body's filters; a continuation token is valid only with the same value.`,
});
const startAt = timeParam("Events created at or after this instant (inclusive).");
const endAt = timeParam("Events created before this instant (exclusive).");
const category = {
  type: "string",
  maxLength: 100,
  description: `Events whose activityCategory or eventCategory is this one, in any case: ${EVENT_CATEGORIES.join(", ")}. Combined with the body's filters; a continuation token is valid only with the same value.`,
};
const organizationQuery = { type: "object", properties: { startAt, endAt } };
const myQuery = { type: "object", properties: { category, startAt, endAt } };

export const eventRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  const listEvents = async (
    reply: FastifyReply,
    organizationId: string,
    scope: Record<string, string>,
    body: unknown,
    query: EventListQuery = {},
    /** A lead's or a conversation's timeline: the messages it shows are read by this user. */
    reader?: string,
  ) => {
    const narrowing = eventListNarrowing(query, scope);
    const page = await store.listPage<EventRow>(EVENT_LIST_SPEC, organizationId, body, scope, narrowing);
    const [authors] = await Promise.all([
      store.users.authors(
        organizationId,
        page.rows.map((r) => r.created_by),
      ),
      reader && markShownMessagesRead(store.db, organizationId, reader, page.rows),
    ]);
    return sendPage(reply, EVENT_RECORD, {
      ...page,
      items: page.rows.map((r) => toEventRecord(r, authors.get(r.created_by))),
    });
  };

  /** A lead's or a conversation's timeline, read by the requesting user (store/conversation-reads). */
  const listTimeline = (
    reply: FastifyReply,
    auth: ApiKeyOwner,
    scope: Record<string, string>,
    body: unknown,
  ) => listEvents(reply, auth.organizationId, scope, body, {}, auth.userId);

  app.get<{ Params: { eventId: string } }>(
    "/events/:eventId",
    {
      schema: {
        tags: ["Events"],
        summary: "Get lead activity event details by ID",
        params: idParam("eventId"),
        response: { 200: { $ref: "EventRecord#" }, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const row = await store.getEventById(organizationId, request.params.eventId);
      if (!row) throw notFound(`Event '${request.params.eventId}'`);
      return toEventRecord(row, await store.users.author(organizationId, row.created_by));
    },
  );

  app.get<{ Params: { eventId: string } }>(
    "/events/detail/:eventId",
    {
      schema: {
        tags: ["Events"],
        summary: "Get an event's detail and its ordered transition log",
        params: idParam("eventId"),
        response: { 200: { $ref: "EventDetailResponse#" }, ...problemResponses },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const row = await store.getEventById(organizationId, request.params.eventId);
      if (!row) throw notFound(`Event '${request.params.eventId}'`);
      // The author's name and email come from the users table; `user` names a user only (the
      // system, which the record calls "System", is none).
      const [log, author] = await Promise.all([
        getTransitions(store.db, organizationId, [row]),
        store.users.author(organizationId, row.created_by),
      ]);
      const transitions = log.get(row.id) ?? [];
      const record = toEventRecord(row, author);
      const user = author && record.actorUserId ? author : null;
      return {
        ...record,
        secondaryEventType: row.event_category,
        status: row.status ? (DETAIL_STATUS[row.status as EventStatus] ?? null) : null,
        eventStatus: row.status,
        user: user ? { id: row.created_by, name: user.name } : null,
        userEmail: user?.email ?? null,
        userId: row.created_by,
        modifiedAt: toIso(row.modified_at),
        transitions: transitions.map((t) => ({
          seq: t.seq,
          occurredAt: toIso(t.at),
          fromStatus: t.from_status,
          toStatus: t.to_status,
          applied: t.applied === 1,
          stage: t.stage,
          message: t.message,
        })),
      };
    },
  );

  app.post<{ Params: { leadId: string } }>(
    "/events/leads/:leadId",
    { schema: listSchema("leadId", "List a lead's events") },
    async (request, reply) => {
      const { organizationId } = request.auth;
      if (!(await getLead(store.db, organizationId, request.params.leadId))) {
        throw notFound(`Lead '${request.params.leadId}'`);
      }
      return listTimeline(reply, request.auth, { lead_id: request.params.leadId }, request.body);
    },
  );

  app.post<{ Params: { conversationId: string } }>(
    "/events/conversations/:conversationId",
    { schema: listSchema("conversationId", "List a conversation's events") },
    async (request, reply) => {
      const { organizationId } = request.auth;
      if (!(await getConversation(store.db, organizationId, request.params.conversationId))) {
        throw notFound(`Conversation '${request.params.conversationId}'`);
      }
      return listTimeline(
        reply,
        request.auth,
        { conversation_id: request.params.conversationId },
        request.body,
      );
    },
  );

  app.post<{ Params: { organizationId: string }; Querystring: Omit<EventListQuery, "category"> }>(
    "/events/organizations/:organizationId",
    {
      schema: listSchema(
        "organizationId",
        "List an organization's events (startAt inclusive, endAt exclusive)",
        organizationQuery,
      ),
    },
    async (request, reply) => {
      if (request.params.organizationId !== request.auth.organizationId) {
        throw notFound(`Organization '${request.params.organizationId}'`);
      }
      const { startAt, endAt } = request.query;
      return listEvents(reply, request.auth.organizationId, {}, request.body, { startAt, endAt });
    },
  );

  app.post<{ Querystring: EventListQuery }>(
    "/events/all/my",
    {
      schema: listSchema(
        null,
        "List the caller's organization's events (by category; startAt inclusive, endAt exclusive)",
        myQuery,
      ),
    },
    async (request, reply) => {
      const { category, startAt, endAt } = request.query;
      return listEvents(reply, request.auth.organizationId, {}, request.body, { category, startAt, endAt });
    },
  );

  app.post<{ Params: { conversationId: string }; Body: { text: string } }>(
    "/events/conversations/:conversationId/notes",
    {
      schema: {
        tags: ["Events"],
        summary: "Add an internal note to a conversation",
        params: idParam("conversationId"),
        body: CreateNoteRequestSchema,
        response: { 200: { $ref: "EventRecord#" }, ...problemResponses },
      },
    },
    async (request) => {
      const text = request.body.text.trim();
      const characters = characterCount(text);
      if (characters < 1 || characters > NOTE_MAX_LENGTH) {
        throw badRequest(
          `text must be 1 to ${NOTE_MAX_LENGTH} characters after trimming (got ${characters}).`,
          "text",
        );
      }
      const row = await createNote(store.db, request.auth, request.params.conversationId, text);
      if (!row) throw notFound(`Conversation '${request.params.conversationId}'`);
      return toEventRecord(row, await store.users.author(request.auth.organizationId, row.created_by));
    },
  );
};
