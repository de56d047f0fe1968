import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { notFound } from "../../domain/problem.js";
import { isUnread, readMarks } from "../../store/conversation-reads.js";
import { conversationStatuses } from "../../store/conversation-status.js";
import { CONVERSATION_LIST_SPEC, getLead, getLeadsByIds } from "../../store/leads-repo.js";
import { getPhoneNumbersByIds } from "../../store/phone-numbers-repo.js";
import type { ConversationRow } from "../../store/schema.js";
import type { Store } from "../../store/store.js";
import { activeOutboundPhoneNumberId, toConversationResponse } from "../lead-record.js";
import { ArchiveFilterQuery, conversationListNarrowing } from "../list-narrowing.js";
import { sendPage } from "../paged-json.js";
import { listBody, problemResponses } from "../schemas/common.js";

const response = { 200: { $ref: "PagedResultOfConversationResponse#" }, ...problemResponses };
/** One item of a page (a constant object: Fastify caches its serializer by identity). */
const CONVERSATION = { $ref: "ConversationResponse#" };

export const conversationRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  const list = async (
    reply: FastifyReply,
    { organizationId, userId }: { organizationId: string; userId: string },
    scope: Record<string, string>,
    request: { body: unknown; query: { archiveFilter?: string } },
  ) => {
    const page = await store.listPage<ConversationRow>(
      CONVERSATION_LIST_SPEC,
      organizationId,
      request.body,
      scope,
      conversationListNarrowing(scope, request.query),
    );
    // One query each for the page's leads, numbers and statuses, not one per conversation; they do
    // not depend on each other, so they run together (as the usage list's do).
    const [leads, numbers, statuses, marks] = await Promise.all([
      getLeadsByIds(
        store.db,
        organizationId,
        page.rows.map((r) => r.lead_id),
      ),
      getPhoneNumbersByIds(
        store.db,
        organizationId,
        page.rows.map(activeOutboundPhoneNumberId).filter((id) => id !== null),
      ),
      conversationStatuses(
        store.db,
        organizationId,
        page.rows.map((r) => r.id),
      ),
      readMarks(
        store.db,
        organizationId,
        userId,
        page.rows.map((r) => r.id),
      ),
    ]);
    return sendPage(reply, CONVERSATION, {
      ...page,
      items: page.rows.map((r) => {
        const active = activeOutboundPhoneNumberId(r);
        return toConversationResponse(
          r,
          leads.get(r.lead_id),
          active ? numbers.get(active) : undefined,
          statuses.get(r.id),
          isUnread(r, marks.get(r.id)),
        );
      }),
    });
  };

  app.post<{ Params: { leadId: string } }>(
    "/conversations/lead/:leadId",
    {
      schema: {
        tags: ["Conversations"],
        params: {
          type: "object",
          required: ["leadId"],
          properties: { leadId: { type: "string", minLength: 1, maxLength: 200 } },
        },
        body: listBody,
        response,
      },
    },
    async (request, reply) => {
      const { organizationId } = request.auth;
      if (!(await getLead(store.db, organizationId, request.params.leadId))) {
        throw notFound(`Lead '${request.params.leadId}'`);
      }
      return list(reply, request.auth, { lead_id: request.params.leadId }, { body: request.body, query: {} });
    },
  );

  app.post<{ Querystring: { archiveFilter?: string } }>(
    "/conversations/my",
    { schema: { tags: ["Conversations"], querystring: ArchiveFilterQuery, body: listBody, response } },
    async (request, reply) => list(reply, request.auth, {}, request),
  );
};
