import type { FastifyPluginAsync } from "fastify";
import { ProblemError } from "../../domain/problem.js";
import type { Store } from "../../store/store.js";
import { problem } from "../schemas/common.js";

/** How long /healthz waits for the database: a supervisor's probe must get an answer, not hang. */
export const HEALTH_TIMEOUT_MS = 5_000;

/** The migration version, or a 503 naming the database when it fails or does not answer in time. */
async function databaseVersion(store: Store): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS / 1000} s`)),
      HEALTH_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([store.migrationVersion(), timeout]);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ProblemError(
      503,
      "database-unavailable",
      `The ${store.engine} database is unavailable: ${reason}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

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
          503: problem("The database failed or did not answer within 5 s."),
        },
      },
    },
    async () => ({ status: "ok", engine: store.engine, migration: await databaseVersion(store) }),
  );
};
