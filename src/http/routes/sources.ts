import type { FastifyPluginAsync } from "fastify";
import { badRequest, notFound } from "../../domain/problem.js";
import { normalizeSourceRequest, type SourceRequestBody } from "../../domain/sources.js";
import { createSource, replaceSource } from "../../services/sources.js";
import { getOrganization } from "../../store/orgs-repo.js";
import type { SourceRow } from "../../store/schema.js";
import { deleteSource, getSource, LIVE_SOURCES, SOURCE_LIST_SPEC } from "../../store/sources-repo.js";
import type { RouteDeps } from "../deps.js";
import { assertPlainText } from "../field-checks.js";
import { sendPage } from "../paged-json.js";
import { listBody, problem, problemResponses } from "../schemas/common.js";
import {
  PagedSourcesSchema,
  SourceRequestSchema,
  SourceResponseSchema,
  SourceTableRowSchema,
} from "../schemas/source.js";
import { type SourceContext, sourceUserIds, toSourceResponse, toSourceTableRow } from "../source-record.js";

// Lead sources (Leadping /sources): the vendors and forms that deliver leads with their own key.
// Managing them takes an organization key; a source key only creates leads (routes/leads.ts).

const params = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", minLength: 1, maxLength: 200 } },
};

/** One item of a page (a constant object: Fastify caches its serializer by identity). */
const SOURCE_ROW = { $ref: "SourceTableRow#" };

const conflict = { 409: problem("Another source already uses this apiKey.") };

function checkedSettings(body: SourceRequestBody, pathId?: string) {
  if (pathId !== undefined && body.id && body.id !== pathId) {
    throw badRequest(`id '${body.id.slice(0, 60)}' does not match the source in the path.`, "id");
  }
  assertPlainText(body.name, "name");
  return normalizeSourceRequest(body, { update: pathId !== undefined });
}

export const sourceRoutes: FastifyPluginAsync<RouteDeps> = async (app, { store }) => {
  for (const schema of [SourceResponseSchema, SourceTableRowSchema, PagedSourcesSchema])
    app.addSchema(schema);

  /** The organization and users the sources' records name, read once for all of them. */
  async function contextFor(organizationId: string, rows: SourceRow[]): Promise<SourceContext> {
    const [organization, users] = await Promise.all([
      getOrganization(store.db, organizationId),
      store.users.authors(organizationId, rows.flatMap(sourceUserIds)),
    ]);
    return { organization: { id: organizationId, name: organization?.name ?? organizationId }, users };
  }

  async function response(row: SourceRow) {
    return toSourceResponse(row, await contextFor(row.organization_id, [row]));
  }

  app.post<{ Body: SourceRequestBody }>(
    "/sources",
    {
      schema: {
        tags: ["Sources"],
        summary: "Create a lead source (its key, lp_src_…, is generated unless apiKey is sent)",
        body: SourceRequestSchema,
        response: { 201: { $ref: "SourceResponse#" }, ...problemResponses, ...conflict },
      },
    },
    async (request, reply) => {
      const row = await createSource(store.db, request.auth, checkedSettings(request.body));
      return reply.code(201).send(await response(row));
    },
  );

  app.get<{ Params: { id: string } }>(
    "/sources/:id",
    {
      schema: {
        tags: ["Sources"],
        params,
        response: { 200: { $ref: "SourceResponse#" }, ...problemResponses },
      },
    },
    async (request) => {
      const row = await getSource(store.db, request.auth.organizationId, request.params.id);
      if (!row) throw notFound(`Source '${request.params.id}'`);
      return response(row);
    },
  );

  app.put<{ Params: { id: string }; Body: SourceRequestBody }>(
    "/sources/:id",
    {
      schema: {
        tags: ["Sources"],
        summary:
          "Update a lead source: the name and every field sent; a field left out keeps its value. regenerateApiKey: true issues a new key (the old one stops working).",
        params,
        body: SourceRequestSchema,
        response: { 200: { $ref: "SourceResponse#" }, ...problemResponses, ...conflict },
      },
    },
    async (request) => {
      const settings = checkedSettings(request.body, request.params.id);
      const row = await replaceSource(store.db, request.auth, request.params.id, settings);
      if (!row) throw notFound(`Source '${request.params.id}'`);
      return response(row);
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/sources/:id",
    {
      schema: {
        tags: ["Sources"],
        summary: "Delete a lead source: its key stops working; its leads keep naming it",
        params,
        response: { 204: { type: "null", description: "Deleted." }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const deleted = await deleteSource(
        store.db,
        request.auth.organizationId,
        request.params.id,
        Date.now(),
      );
      if (!deleted) throw notFound(`Source '${request.params.id}'`);
      return reply.code(204).send();
    },
  );

  app.post(
    "/sources/all/my",
    {
      schema: {
        tags: ["Sources"],
        body: listBody,
        response: { 200: { $ref: "PagedResultOfSourceTableRow#" }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { organizationId } = request.auth;
      const page = await store.listPage<SourceRow>(
        SOURCE_LIST_SPEC,
        organizationId,
        request.body,
        {},
        LIVE_SOURCES,
      );
      const context = await contextFor(organizationId, page.rows);
      return sendPage(reply, SOURCE_ROW, {
        ...page,
        items: page.rows.map((r) => toSourceTableRow(r, context)),
      });
    },
  );
};
