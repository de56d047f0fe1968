import type { FastifyPluginAsync } from "fastify";
import { type LeadRequestBody, LeadValidationError } from "../../domain/lead.js";
import { badRequest, notFound } from "../../domain/problem.js";
import { createLead, receiveLead, updateLead } from "../../services/leads.js";
import { getLead, LEAD_LIST_SPEC } from "../../store/leads-repo.js";
import type { LeadRow } from "../../store/schema.js";
import { sourceNames } from "../../store/sources-repo.js";
import type { Store } from "../../store/store.js";
import { toLeadResponse, toLeadTableRow } from "../lead-record.js";
import { LeadListQuery, type LeadListQueryParams, leadListNarrowing } from "../list-narrowing.js";
import { sendPage } from "../paged-json.js";
import { listBody, problem, problemResponses } from "../schemas/common.js";
import { LeadRequestSchema } from "../schemas/lead.js";

/** One item of a page (a constant object: Fastify caches its serializer by identity). */
const LEAD_ROW = { $ref: "LeadTableRow#" };

const params = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", minLength: 1, maxLength: 200 } },
};

async function validated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LeadValidationError) throw badRequest(error.message, error.field);
    throw error;
  }
}

export const leadRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.post<{ Body: LeadRequestBody }>(
    "/leads",
    {
      config: { acceptsSourceKey: true },
      schema: {
        tags: ["Leads"],
        summary: "Create a lead (writes a LeadCreated event and opens its conversation)",
        description:
          "With an organization key (sk_…) or a lead source's key (lp_src_…). A source's lead must meet the source's rules (allowed states and products, TrustedForm), gets its default tags and is charged its cost per lead. The server names the lead: an id in the body is a 400.",
        security: [{ Bearer: [] }, { SourceKey: [] }],
        body: LeadRequestSchema,
        response: {
          201: { $ref: "LeadResponse#" },
          ...problemResponses,
          403: problem("The source is disabled: it is not allowed to accept traffic (source keys only)."),
        },
      },
    },
    async (request, reply) => {
      const { sourceId } = request.auth;
      // The server names a new lead: an id sent here would be silently dropped, and a client that
      // meant to update that lead would get a second one instead (README: "An id on POST /leads").
      const id = request.body?.id;
      if (id) {
        throw badRequest(
          `id '${id.slice(0, 60)}' cannot be given to a new lead: leave it out (or null), or update that lead with PUT /leads/${id.slice(0, 60)}.`,
          "id",
        );
      }
      // A lead a source sends again (same sellerLeadId) answers 201 with the lead it made, as a
      // repeated POST /sms/send with the same idempotency key does.
      const lead = await validated(async () =>
        sourceId
          ? (await receiveLead(store.db, { ...request.auth, sourceId }, request.body)).lead
          : createLead(store.db, request.auth, request.body),
      );
      return reply.code(201).send(toLeadResponse(lead));
    },
  );

  app.get<{ Params: { id: string } }>(
    "/leads/:id",
    {
      schema: { tags: ["Leads"], params, response: { 200: { $ref: "LeadResponse#" }, ...problemResponses } },
    },
    async (request) => {
      const lead = await getLead(store.db, request.auth.organizationId, request.params.id);
      if (!lead) throw notFound(`Lead '${request.params.id}'`);
      return toLeadResponse(lead);
    },
  );

  app.put<{ Params: { id: string }; Body: LeadRequestBody }>(
    "/leads/:id",
    {
      schema: {
        tags: ["Leads"],
        summary: "Replace a lead (writes a LeadUpdated event naming the changed fields; none for a no-op)",
        description:
          "metadata, contact, customer and the tags (tagIds, tagNames) are replaced as given: a field left out is removed, except the SMS consent recorded on the lead. An absent or null enabled keeps the lead's value, and with neither tagIds nor tagNames given (absent or null) the lead keeps its tags.",
        params,
        body: LeadRequestSchema,
        response: { 200: { $ref: "LeadResponse#" }, ...problemResponses },
      },
    },
    async (request) => {
      const result = await validated(() =>
        updateLead(store.db, request.auth, request.params.id, request.body),
      );
      if (!result) throw notFound(`Lead '${request.params.id}'`);
      return toLeadResponse(result.lead);
    },
  );

  app.post<{ Querystring: LeadListQueryParams }>(
    "/leads/all/my",
    {
      schema: {
        tags: ["Leads"],
        querystring: LeadListQuery,
        body: listBody,
        response: { 200: { $ref: "PagedResultOfLeadTableRow#" }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const page = await store.listPage<LeadRow>(
        LEAD_LIST_SPEC,
        request.auth.organizationId,
        request.body,
        {},
        leadListNarrowing(request.query),
      );
      const names = await sourceNames(
        store.db,
        request.auth.organizationId,
        page.rows.flatMap((r) => (r.source_id ? [r.source_id] : [])),
      );
      return sendPage(reply, LEAD_ROW, {
        ...page,
        items: page.rows.map((row) => toLeadTableRow(row, names)),
      });
    },
  );
};
