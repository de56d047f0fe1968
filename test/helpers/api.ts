import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { loadMessagingConfig, type TrustProxy } from "../../src/config.js";
import { buildApp } from "../../src/http/app.js";
import { Messaging } from "../../src/messaging/messaging.js";
import type { Engine } from "../../src/store/database.js";
import { type CreatedOrganization, createOrganization } from "../../src/store/orgs-repo.js";
import { openTestDatabase, type TestDatabase } from "./engines.js";

export interface TestApi {
  app: FastifyInstance;
  pipeline: Messaging;
  db: TestDatabase;
  org: CreatedOrganization;
  /** An authenticated request as `org` (or with `key`, or none when key is null). */
  call(
    method: InjectOptions["method"],
    url: string,
    body?: unknown,
    key?: string | null,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startTestApi(
  engine: Engine,
  options: {
    rateLimitPerMinute?: number;
    env?: NodeJS.ProcessEnv;
    requestTimeoutMs?: number;
    authFailuresPerMinute?: number;
    trustProxy?: TrustProxy;
  } = {},
): Promise<TestApi> {
  const db = await openTestDatabase(engine);
  const messaging = loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off", ...options.env });
  const pipeline = new Messaging(db.store.db, db.store.engine, messaging);
  const app = await buildApp({
    store: db.store,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 100_000,
    messaging,
    pipeline,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.authFailuresPerMinute === undefined
      ? {}
      : { authFailuresPerMinute: options.authFailuresPerMinute }),
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
  });
  const org = await createOrganization(db.store.db, "Test Org", {
    startingCreditMicros: messaging.startingCreditMicros,
  });
  return {
    app,
    pipeline,
    db,
    org,
    call: (method, url, body, key = org.apiKey) =>
      app.inject({
        method,
        url,
        headers: {
          ...(key === null ? {} : { authorization: `Bearer ${key}` }),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { payload: typeof body === "string" ? body : JSON.stringify(body) }),
      }),
    close: async () => {
      await pipeline.stop();
      await app.close();
      await db.cleanup();
    },
  };
}

// The contract's event schema (a vendored copy; test/store.test.ts checks it against ../shared).
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
const validateEvent = ajv.compile(
  JSON.parse(readFileSync(new URL("../contract/event.schema.json", import.meta.url), "utf8")),
);

/** Asserts that a value is a valid event record per event.schema.json, with the errors in the message. */
export function assertEventRecord(value: unknown): void {
  if (!validateEvent(value)) {
    throw new Error(
      `event record violates event.schema.json: ${ajv.errorsText(validateEvent.errors)}\n${JSON.stringify(value)}`,
    );
  }
}

// The contract subset's component schemas (components.schemas of leadping-openapi-subset.json,
// vendored; test/store.test.ts checks the copy against ../shared). Formats the subset uses for
// numbers (int32, int64, double) are OpenAPI annotations, not string formats: accepted as they are.
//
// The subset marks a nullable enum or reference as `type: ["null", …]` beside an `enum` without null
// or an `allOf: [{ $ref }]` (as .NET's generator writes them): read literally, null then fails the
// enum or the referenced object schema, which the author plainly did not mean. Such nodes are read
// as "null, or the rest".
type SchemaNode = Record<string, unknown>;

function nullableAsMeant(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableAsMeant);
  if (node === null || typeof node !== "object") return node;
  const copy: SchemaNode = Object.fromEntries(
    Object.entries(node as SchemaNode).map(([k, v]) => [k, nullableAsMeant(v)]),
  );
  const types = copy.type;
  if (!Array.isArray(types) || !types.includes("null") || !("enum" in copy || "allOf" in copy)) return copy;
  const rest = types.filter((t) => t !== "null");
  const { description, ...schema } = copy;
  return {
    description,
    anyOf: [{ type: "null" }, { ...schema, ...(rest.length > 0 ? { type: rest } : {}) }],
  };
}

// The same validator as the event schema's, told the subset's number formats.
for (const format of ["int32", "int64", "double"]) ajv.addFormat(format, true);
ajv.addSchema({
  $id: "leadping",
  ...(nullableAsMeant(
    JSON.parse(readFileSync(new URL("../contract/leadping-components.json", import.meta.url), "utf8")),
  ) as SchemaNode),
});

/** Asserts that a response body fits the subset's schema of this name (say, "SourceResponse"). */
export function assertLeadpingShape(value: unknown, schema: string): void {
  const validate = ajv.getSchema(`leadping#/components/schemas/${schema}`);
  if (!validate) throw new Error(`the subset has no schema ${schema}`);
  if (!validate(value)) {
    throw new Error(
      `${schema} violated: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`,
    );
  }
}

/** How many events the test database holds (every organization): "nothing written" checks. */
export async function countEvents(api: TestApi): Promise<number> {
  const row = await api.db.store.db
    .selectFrom("events")
    .select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Rewrites a lead's stored document as another version or a hand edit could have left it. */
export async function editStoredLead(
  api: TestApi,
  leadId: string,
  edit: (document: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const row = await api.db.store.db
    .selectFrom("leads")
    .select("document")
    .where("id", "=", leadId)
    .executeTakeFirstOrThrow();
  await api.db.store.db
    .updateTable("leads")
    .set({ document: JSON.stringify(edit(JSON.parse(row.document))) })
    .where("id", "=", leadId)
    .execute();
}
