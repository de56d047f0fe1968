import type { FastifyPluginAsync } from "fastify";
import type { Store } from "../../store/store.js";

export const healthRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get(
    "/healthz",
    {
      schema: {
        tags: ["Health"],
        summary: "Liveness with the database engine and migration version",
        security: [],
        response: {
          200: {
            type: "object",
            properties: {
              status: { type: "string" },
              engine: { type: "string" },
              migration: { type: ["string", "null"] },
            },
          },
        },
      },
    },
    async () => ({ status: "ok", engine: store.engine, migration: await store.migrationVersion() }),
  );
};
