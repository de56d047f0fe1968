// The baseline for get-event-by-id: Fastify 5 with a single GET /events/:eventId route and nothing
// else (no auth, no schemas, no hooks, no logging). Listens on HOST:PORT.
//
// BARE_MODE selects what the route does (get-event-by-id --ladder runs all three, to show where the
// gap between this baseline and leadtrail comes from):
//   constant (default)  a constant small object — the baseline the target ratio is measured against
//   record              a constant copy of a real event record (the JSON in BARE_PAYLOAD_FILE)
//   lookup              the same primary-key read leadtrail does (LEADTRAIL_DB or DATABASE_URL,
//                       organization BARE_ORGANIZATION_ID), the row sent as it comes from the driver
import { readFileSync } from "node:fs";
import Fastify from "fastify";

type Handler = (id: string) => unknown;

async function handler(): Promise<Handler> {
  const mode = process.env.BARE_MODE ?? "constant";
  if (mode === "constant") {
    const body = { id: "evt_constant", eventType: "SmsOutbound", status: "Delivered" };
    return () => body;
  }
  if (mode === "record") {
    const body = JSON.parse(readFileSync(process.env.BARE_PAYLOAD_FILE!, "utf8")) as unknown;
    return () => body;
  }
  if (mode !== "lookup") throw new Error(`unknown BARE_MODE '${mode}'`);
  const org = process.env.BARE_ORGANIZATION_ID!;
  const text = "select * from events where organization_id = $1 and id = $2";
  if (process.env.DATABASE_URL) {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
    return async (id) => (await pool.query({ name: "event_by_id", text, values: [org, id] })).rows[0];
  }
  const { default: Sqlite } = await import("better-sqlite3");
  const statement = new Sqlite(process.env.LEADTRAIL_DB!).prepare(text.replace(/\$\d/g, "?"));
  return (id) => statement.get(org, id);
}

const handle = await handler();
const app = Fastify({ logger: false });
app.get<{ Params: { eventId: string } }>("/events/:eventId", async (request, reply) => {
  const body = await handle(request.params.eventId);
  return body === undefined ? reply.code(404).send({ status: 404 }) : body;
});

const shutdown = async () => {
  await app.close();
  process.exit(0);
};
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);

await app.listen({ host: process.env.HOST ?? "127.0.0.1", port: Number(process.env.PORT ?? 3001) });
