import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { ProblemDetailsSchema } from "../src/http/schemas/common.js";
import { EventDetailSchema, EventRecordSchema, PagedEventsSchema } from "../src/http/schemas/event.js";
import { LeadResponseSchema, PagedConversationsSchema, PagedLeadsSchema } from "../src/http/schemas/lead.js";
import { PagedSmsEventsSchema, SmsEventTableRowSchema, SmsResponseSchema } from "../src/http/schemas/sms.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

// Every API route, as OpenAPI path and method. A route added without a schema (or hidden) fails here.
const EXPECTED_OPERATIONS = [
  "delete /phone-numbers/outgoing/conversation/{conversationId}/override",
  "delete /phone-numbers/{phoneNumberId}",
  "get /events/detail/{eventId}",
  "get /events/sms/{smsEventId}",
  "get /events/{eventId}",
  "get /healthz",
  "get /leads/{id}",
  "get /phone-numbers/{phoneNumberId}",
  "get /phone-numbers/{phoneNumberId}/warmup",
  "get /suppressions/{id}",
  "get /sources/{id}",
  "put /sources/{id}",
  "delete /sources/{id}",
  "post /sources",
  "post /sources/all/my",
  "get /usage/summary/my",
  "get /wallets/me",
  "post /conversations/lead/{leadId}",
  "post /conversations/my",
  "post /events/all/my",
  "post /events/conversations/{conversationId}",
  "post /events/conversations/{conversationId}/notes",
  "post /events/leads/{leadId}",
  "post /events/organizations/{organizationId}",
  "post /events/sms/all/my",
  "post /events/sms/lead/{leadId}",
  "post /events/sms/phone/{phoneNumber}",
  "post /leads",
  "post /leads/all/my",
  "post /phone-numbers",
  "post /phone-numbers/all/organization",
  "post /phone-numbers/outgoing/conversation/{conversationId}",
  "post /phone-numbers/outgoing/conversation/{conversationId}/override",
  "post /phone-numbers/outgoing/new",
  "post /simulator/inbound",
  "post /sms/send",
  "post /sms/{smsEventId}/cancel",
  "post /suppressions",
  "post /suppressions/all/my",
  "post /suppressions/check",
  "post /suppressions/release",
  "post /usage/all/my",
  "post /webhooks/telnyx",
  "put /leads/{id}",
  "put /phone-numbers/{phoneNumberId}",
].sort();

const SHARED_SCHEMAS = [
  ProblemDetailsSchema,
  EventRecordSchema,
  PagedEventsSchema,
  EventDetailSchema,
  LeadResponseSchema,
  PagedLeadsSchema,
  PagedConversationsSchema,
  SmsResponseSchema,
  SmsEventTableRowSchema,
  PagedSmsEventsSchema,
];

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/** Every `$ref` value anywhere in a JSON value. */
function collectRefs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, out);
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "$ref" && typeof item === "string") out.push(item);
      else collectRefs(item, out);
    }
  }
  return out;
}

/** Resolves a local JSON pointer ("#/a/b") in `doc`, or undefined. */
function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const part = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * Where a schema says `format: date-time`: its property paths ("", "metadata.createdAt",
 * "items[]…"), through `$ref`s into `doc` (each followed once), allOf and array items.
 */
function dateTimePaths(doc: unknown, schema: unknown, path = "", seen = new Set<string>()): string[] {
  if (schema === null || typeof schema !== "object") return [];
  const node = schema as Record<string, unknown>;
  if (typeof node.$ref === "string") {
    if (seen.has(node.$ref)) return [];
    return dateTimePaths(doc, resolvePointer(doc, node.$ref), path, new Set([...seen, node.$ref]));
  }
  const found = node.format === "date-time" ? [path] : [];
  for (const part of (node.allOf as unknown[] | undefined) ?? [])
    found.push(...dateTimePaths(doc, part, path, seen));
  found.push(...dateTimePaths(doc, node.items, `${path}[]`, seen));
  for (const [name, property] of Object.entries((node.properties as Record<string, unknown>) ?? {}))
    found.push(...dateTimePaths(doc, property, path ? `${path}.${name}` : name, seen));
  return found;
}

/** A URL the browser would fetch from somewhere other than the page's own origin. */
function isForeign(url: string, pageUrl: string): boolean {
  return new URL(url, pageUrl).origin !== new URL(pageUrl).origin;
}

const ABSOLUTE_URL = /\b(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi;

/**
 * The operations README.md's Endpoints table names, as "method /path": a cell lists `METHOD /path`
 * entries (`GET/PUT/DELETE /path` for several methods), and a bare `/path` takes the methods before it.
 */
function readmeEndpoints(): Set<string> {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const table = readme.split("\n## Endpoints\n")[1]?.split("\n### ")[0] ?? "";
  const operations = new Set<string>();
  for (const row of table.split("\n").filter((line) => line.startsWith("| `"))) {
    let methods: string[] = [];
    for (const [, entry] of row.split(" | ")[0]!.matchAll(/`([^`]+)`/g)) {
      const spelled = entry!.match(/^([A-Z]+(?:\/[A-Z]+)*) (\/\S*)$/);
      if (spelled) methods = spelled[1]!.split("/");
      const path = (spelled ? spelled[2]! : entry!).split("?")[0]!;
      assert.ok(path.startsWith("/") && methods.length > 0, `an endpoint cell reads ${entry}`);
      for (const method of methods) operations.add(`${method.toLowerCase()} ${path}`);
    }
  }
  assert.ok(operations.size > 30, "README.md has an Endpoints table");
  return operations;
}

describe("OpenAPI document and docs UI", () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi("sqlite");
  });
  after(() => api.close());

  test("GET /openapi.json validates as OpenAPI 3.1, without auth", async () => {
    const res = await api.call("GET", "/openapi.json", undefined, null);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    const doc = res.json();
    assert.equal(doc.openapi, "3.1.0");

    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, "3.1");
  });

  test("every operation of the contract's OpenAPI subset is served (sources are in no issue yet)", async (t) => {
    const contractFile = new URL("../../shared/contract/leadping-openapi-subset.json", import.meta.url);
    if (!existsSync(contractFile)) return t.skip("../shared/contract is not beside this checkout");
    const contract = JSON.parse(readFileSync(contractFile, "utf8")) as { paths: Record<string, object> };
    const wanted = Object.entries(contract.paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m} ${path}`),
    );
    assert.deepEqual(
      wanted.filter((op) => !EXPECTED_OPERATIONS.includes(op)),
      [],
    );
  });

  test("a lead's text limits, checked by the route, are documented as maxLength and maxProperties on POST and PUT", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    for (const [path, method] of [
      ["/leads", "post"],
      ["/leads/{id}", "put"],
    ] as const) {
      const body = doc.paths[path][method].requestBody.content["application/json"].schema;
      const { metadata, contact } = body.properties;
      assert.equal(contact.properties.firstName.maxLength, 200, path);
      assert.equal(contact.properties.streetAddress.properties.city.maxLength, 200, path);
      assert.equal(contact.properties.streetAddress.properties.additionalInfo.maxLength, 1000, path);
      assert.equal(contact.properties.avatarUrl.maxLength, 2048, path);
      assert.equal(metadata.properties.utmSource.maxLength, 500, path);
      assert.equal(metadata.properties.sourceMetadata.maxProperties, 200, path);
      assert.equal(metadata.properties.sourceMetadata.propertyNames.maxLength, 200, path);
      assert.doesNotMatch(JSON.stringify(body), /x-documented/, path);
    }
  });

  test("a source's apiKey pattern, checked by the route, is documented on POST and PUT", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    for (const [path, method] of [
      ["/sources", "post"],
      ["/sources/{id}", "put"],
    ] as const) {
      const body = doc.paths[path][method].requestBody.content["application/json"].schema;
      assert.equal(body.properties.apiKey.pattern, "^lp_src_[A-Za-z0-9_-]{32,200}$", path);
    }
  });

  test("every contract operation has the subset's operationId and tags; operationIds are unique", async (t) => {
    const contractFile = new URL("../../shared/contract/leadping-openapi-subset.json", import.meta.url);
    if (!existsSync(contractFile)) return t.skip("../shared/contract is not beside this checkout");
    const contract = JSON.parse(readFileSync(contractFile, "utf8")) as {
      paths: Record<string, Record<string, { operationId?: string; tags?: string[] }>>;
    };
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    for (const [path, item] of Object.entries(contract.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const ours = doc.paths[path][method];
        assert.equal(ours.operationId, op.operationId, `${method} ${path}`);
        assert.deepEqual(ours.tags, op.tags, `${method} ${path}`);
      }
    }
    const ids = Object.values(doc.paths as Record<string, Record<string, { operationId?: string }>>)
      .flatMap((item) => Object.values(item).map((op) => op.operationId))
      .filter((id) => id !== undefined);
    assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
  });

  test("every contract operation documents the subset's success status, and no other unless it is a known extra", async (t) => {
    const contractFile = new URL("../../shared/contract/leadping-openapi-subset.json", import.meta.url);
    if (!existsSync(contractFile)) return t.skip("../shared/contract is not beside this checkout");
    const contract = JSON.parse(readFileSync(contractFile, "utf8")) as {
      paths: Record<string, Record<string, { responses: object }>>;
    };
    // Re-suppressing an already active entry answers 200 (nothing new was created).
    const extras: Record<string, string[]> = { "post /suppressions": ["200"] };
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    const success = (responses: object) => Object.keys(responses).filter((c) => /^2\d\d$/.test(c));
    for (const [path, item] of Object.entries(contract.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const wanted = success(op.responses);
        const ours = success(doc.paths[path][method].responses);
        assert.deepEqual(
          ours.filter((c) => !(extras[`${method} ${path}`] ?? []).includes(c)).sort(),
          wanted.sort(),
          `${method} ${path}`,
        );
      }
    }
  });

  test("every API route is documented, and nothing else", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => HTTP_METHODS.has(m))
          .map((m) => `${m} ${path}`),
      )
      .sort();
    assert.deepEqual(operations, EXPECTED_OPERATIONS);
    // The docs UI and the spec itself are not API routes.
    for (const path of Object.keys(doc.paths)) assert.doesNotMatch(path, /^\/(docs|openapi)/);
  });

  test("README's Endpoints table names every API operation, with the methods /openapi.json has", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    const documented = new Set(EXPECTED_OPERATIONS);
    const named = readmeEndpoints();
    for (const operation of named)
      assert.ok(documented.has(operation), `README names ${operation}, not served`);
    // /healthz and the Telnyx webhook are described in their own README sections, not the table.
    const elsewhere = new Set(["get /healthz", "post /webhooks/telnyx"]);
    const missing = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, item]) =>
        Object.keys(item)
          .filter((m) => HTTP_METHODS.has(m) && !named.has(`${m} ${path}`) && !elsewhere.has(`${m} ${path}`))
          .map((m) => `${m} ${path}`),
    );
    assert.deepEqual(missing, [], "operations README's Endpoints table does not name");
  });

  test("every operation has a success response; API routes need the bearer key, /healthz does not", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    assert.deepEqual(doc.security, [{ Bearer: [] }]);
    assert.equal(doc.components.securitySchemes.Bearer.scheme, "bearer");
    const paths = doc.paths as Record<string, Record<string, { responses?: object; security?: unknown }>>;
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.has(method)) continue;
        const codes = Object.keys(op.responses ?? {});
        assert.ok(
          codes.some((c) => /^2\d\d$/.test(c)),
          `${method} ${path} documents no 2xx response: ${codes}`,
        );
        if (path === "/healthz" || path.startsWith("/webhooks/"))
          assert.deepEqual(op.security, [], `${path} must be documented as public (webhooks are signed)`);
        else if (`${method} ${path}` === "post /leads")
          // Lead intake takes a source's key too, as the subset documents it.
          assert.deepEqual(op.security, [{ Bearer: [] }, { SourceKey: [] }]);
        else
          assert.equal(op.security, undefined, `${method} ${path} must inherit the global Bearer security`);
      }
    }
  });

  test("every error response is documented as application/problem+json, the media type it is sent with", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    const paths = doc.paths as Record<
      string,
      Record<string, { responses?: Record<string, { content?: object }> }>
    >;
    let errors = 0;
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.has(method)) continue;
        for (const [code, response] of Object.entries(op.responses ?? {})) {
          if (!/^[45]\d\d$/.test(code)) continue;
          errors++;
          assert.deepEqual(
            Object.keys(response.content ?? {}),
            ["application/problem+json"],
            `${method} ${path} ${code}`,
          );
        }
      }
    }
    assert.ok(errors > 100, `only ${errors} error responses documented`);
    // And a real error answers with that media type.
    const res = await api.call("GET", "/events/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    assert.equal(res.statusCode, 404);
    assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
  });

  test("every body is documented in the media types the server reads it from, the subset's among them", async (t) => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    type Operation = { requestBody?: { content: Record<string, { schema: unknown }> } };
    const paths = doc.paths as Record<string, Record<string, Operation>>;
    let bodies = 0;
    const mediaTypes = new Set<string>();
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!op.requestBody) continue;
        bodies++;
        const content = op.requestBody.content;
        assert.deepEqual(
          Object.keys(content),
          ["application/json", "text/json", "application/*+json"],
          `${method} ${path}`,
        );
        for (const media of Object.values(content))
          assert.deepEqual(media, content["application/json"], `${method} ${path}`);
        for (const type of Object.keys(content)) mediaTypes.add(type);
      }
    }
    assert.ok(bodies >= 30, `only ${bodies} request bodies documented`);

    // Each documented type is read as JSON for real (a list route, the simplest body): with its
    // wildcard filled in as a client would, and with a charset.
    for (const type of mediaTypes) {
      for (const contentType of [
        type.replace("*", "vnd.leadping"),
        `${type.replace("*", "merge-patch")}; charset=utf-8`,
      ]) {
        const res = await api.app.inject({
          method: "POST",
          url: "/events/all/my",
          headers: { authorization: `Bearer ${api.org.apiKey}`, "content-type": contentType },
          payload: JSON.stringify({ pageSize: 1 }),
        });
        assert.equal(res.statusCode, 200, `${contentType}: ${res.body}`);
        assert.equal(res.json().pageSize, 1, contentType);
      }
    }

    const contractFile = new URL("../../shared/contract/leadping-openapi-subset.json", import.meta.url);
    if (!existsSync(contractFile)) return t.skip("../shared/contract is not beside this checkout");
    const contract = JSON.parse(readFileSync(contractFile, "utf8")) as {
      paths: Record<string, Record<string, Operation>>;
    };
    for (const [path, item] of Object.entries(contract.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!op.requestBody) continue;
        const ours = Object.keys(paths[path]?.[method]?.requestBody?.content ?? {});
        for (const type of Object.keys(op.requestBody.content))
          assert.ok(ours.includes(type), `${method} ${path} does not document ${type}`);
      }
    }
  });

  test("every request parameter and body field the subset documents as a date-time is one here too", async (t) => {
    const contractFile = new URL("../../shared/contract/leadping-openapi-subset.json", import.meta.url);
    if (!existsSync(contractFile)) return t.skip("../shared/contract is not beside this checkout");
    const contract = JSON.parse(readFileSync(contractFile, "utf8"));
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    type Parameter = { name: string; in: string; schema?: unknown };
    type Operation = {
      parameters?: Parameter[];
      requestBody?: { content: Record<string, { schema: unknown }> };
    };
    /** "query periodStart", "body scheduledFor", … of one operation of a document. */
    const dateTimes = (
      document: { paths: Record<string, Record<string, Operation>> },
      path: string,
      method: string,
    ) => {
      const op = document.paths[path]?.[method];
      const params = (op?.parameters ?? []).flatMap((p) =>
        dateTimePaths(document, p.schema).map((at) => `${p.in} ${p.name}${at ? `.${at}` : ""}`),
      );
      const body = dateTimePaths(document, op?.requestBody?.content["application/json"]?.schema);
      return [...params, ...body.map((at) => `body ${at}`)].sort();
    };
    let checked = 0;
    for (const [path, item] of Object.entries(contract.paths as Record<string, Record<string, Operation>>)) {
      for (const method of Object.keys(item)) {
        const theirs = dateTimes(contract, path, method);
        const ours = new Set(dateTimes(doc, path, method));
        for (const field of theirs)
          assert.ok(ours.has(field), `${method} ${path}: ${field} is not a date-time`);
        checked += theirs.length;
      }
    }
    assert.ok(checked >= 8, `only ${checked} date-time fields found in the subset's requests`);
  });

  test("the headers that come with 401, 429 and 503 are documented, and every operation documents the problems the server answers before its route runs (400, 408, 431; 414 with a path parameter; 413 and 415 with a body; 405 once)", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    type Response = { headers?: Record<string, { schema: { type: string } }> };
    type Operation = { requestBody?: object; responses: Record<string, Response>; security?: unknown[] };
    const paths = doc.paths as Record<string, Record<string, Operation>>;
    let checked = 0;
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        const name = `${method} ${path}`;
        if (op.security === undefined) {
          // An API route (the global Bearer security): its 401 comes with a challenge, its 429 and
          // 503 with the seconds to wait (/healthz's 503 is a probe's answer and names no time).
          assert.equal(op.responses["401"]?.headers?.["WWW-Authenticate"]?.schema.type, "string", name);
          for (const status of ["429", "503"])
            assert.equal(
              op.responses[status]?.headers?.["Retry-After"]?.schema.type,
              "integer",
              `${name} ${status}`,
            );
          checked++;
        }
        if (op.requestBody || method === "post" || method === "put") {
          assert.ok(op.responses["413"], `${name} documents no 413`);
          assert.ok(op.responses["415"], `${name} documents no 415`);
        }
        // What Node's server answers before any route (client-errors.ts), and a path parameter
        // longer than any id (errors.ts): every operation can get them, so every one documents them.
        for (const status of ["400", "408", "431", ...(path.includes("{") ? ["414"] : [])]) {
          assert.ok(op.responses[status], `${name} documents no ${status}`);
        }
      }
    }
    assert.ok(checked > 30, `only ${checked} API operations checked`);

    // And they are what a real request gets.
    const tooLarge = await api.call(
      "POST",
      "/events/all/my",
      JSON.stringify({ search: "x".repeat(1_100_000) }),
    );
    assert.equal(tooLarge.statusCode, 413, tooLarge.body);
    const notJson = await api.app.inject({
      method: "POST",
      url: "/events/all/my",
      headers: { authorization: `Bearer ${api.org.apiKey}`, "content-type": "text/plain" },
      payload: "{}",
    });
    assert.equal(notJson.statusCode, 415, notJson.body);
    const unauthenticated = await api.call("POST", "/events/all/my", {}, null);
    assert.equal(unauthenticated.statusCode, 401);
    assert.match(String(unauthenticated.headers["www-authenticate"]), /^Bearer realm=/);
    const longId = await api.call("GET", `/events/${"x".repeat(201)}`);
    assert.equal(longId.statusCode, 414, longId.body);

    // A 405 answers a method a path has no operation for: documented once, as a shared response.
    const methodNotAllowed = doc.components.responses?.MethodNotAllowed;
    assert.equal(methodNotAllowed?.headers?.Allow?.schema.type, "string");
    assert.ok(methodNotAllowed.content["application/problem+json"]);
    const wrongMethod = await api.call("DELETE", "/events/all/my");
    assert.equal(wrongMethod.statusCode, 405, wrongMethod.body);
    assert.equal(wrongMethod.headers.allow, "POST");
  });

  test("every $ref resolves inside the document, to a named component schema", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    const refs = [...new Set(collectRefs(doc))];
    assert.ok(refs.length > 0, "the shared schemas should be referenced, not inlined");
    for (const ref of refs) {
      assert.match(ref, /^#\/components\/schemas\/[A-Za-z]\w*$/, `unexpected $ref ${ref}`);
      assert.notEqual(resolvePointer(doc, ref), undefined, `dangling $ref ${ref}`);
    }
    // Each shared schema the app registers is a component named by its $id.
    for (const schema of SHARED_SCHEMAS) {
      assert.ok(
        Object.hasOwn(doc.components.schemas, schema.$id),
        `components.schemas lacks ${schema.$id}: ${Object.keys(doc.components.schemas)}`,
      );
    }
  });

  test("the SMS operations' answers are the subset's named shapes, not open objects", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    for (const [path, method, status, schema] of [
      ["/sms/send", "post", "201", "SmsResponse"],
      ["/sms/{smsEventId}/cancel", "post", "200", "SmsResponse"],
      ["/events/sms/{smsEventId}", "get", "200", "SmsEventTableRow"],
      ["/events/sms/lead/{leadId}", "post", "200", "PagedResultOfSmsEventTableRow"],
      ["/events/sms/phone/{phoneNumber}", "post", "200", "PagedResultOfSmsEventTableRow"],
      ["/events/sms/all/my", "post", "200", "PagedResultOfSmsEventTableRow"],
    ] as const) {
      const response = doc.paths[path]?.[method]?.responses?.[status];
      assert.ok(response, `${method} ${path} documents ${status}`);
      assert.equal(
        response.content["application/json"].schema.$ref,
        `#/components/schemas/${schema}`,
        `${method} ${path}`,
      );
    }
  });

  for (const pagePath of ["/docs", "/docs/"]) {
    test(`GET ${pagePath} serves Swagger UI from this server only`, async () => {
      const pageUrl = `http://localhost${pagePath}`;
      const page = await api.call("GET", pagePath, undefined, null);
      assert.equal(page.statusCode, 200, page.body);
      assert.match(String(page.headers["content-type"]), /^text\/html/);
      assert.match(page.body, /id="swagger-ui"/);

      const refs = [...page.body.matchAll(/\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]!);
      assert.ok(
        refs.some((r) => r.endsWith("swagger-ui-bundle.js")),
        `no swagger-ui bundle among ${refs}`,
      );
      assert.ok(
        refs.some((r) => r.endsWith("swagger-initializer.js")),
        `no initializer among ${refs}`,
      );
      assert.ok(
        refs.some((r) => r.endsWith(".css")),
        `no stylesheet among ${refs}`,
      );
      // Nothing else in the HTML points at another host either (preconnects, fonts, inline URLs).
      for (const url of page.body.match(ABSOLUTE_URL) ?? []) {
        assert.equal(isForeign(url, pageUrl), false, `${pagePath} mentions foreign URL ${url}`);
      }

      for (const ref of refs) {
        assert.equal(isForeign(ref, pageUrl), false, `${pagePath} loads ${ref} from another host`);
        const target = new URL(ref, pageUrl);
        assert.ok(target.pathname.startsWith("/docs/"), `${ref} is not served under /docs/`);
        const asset = await api.call("GET", target.pathname, undefined, null);
        assert.equal(asset.statusCode, 200, `${target.pathname}: ${asset.statusCode}`);
        if (target.pathname.endsWith(".css")) {
          // Stylesheets load fonts and images through url(…): only inline data: URLs or our own files.
          for (const [, raw] of asset.body.matchAll(/url\(\s*["']?([^"')]+)/g)) {
            const url = raw!.trim();
            if (url.startsWith("data:")) continue;
            assert.equal(isForeign(url, target.href), false, `${target.pathname} loads ${url}`);
          }
          assert.doesNotMatch(asset.body, /@import\s+(?:url\()?\s*["']?(?:https?:)?\/\//, target.pathname);
        }
      }
    });
  }

  test("the docs' Content-Security-Policy allows only this server, over whatever scheme it is served", async () => {
    for (const path of [
      "/docs",
      "/docs/",
      "/docs/static/swagger-initializer.js",
      "/docs/static/swagger-ui.css",
    ]) {
      const res = await api.call("GET", path, undefined, null);
      assert.equal(res.statusCode, 200, path);
      const csp = String(res.headers["content-security-policy"] ?? "");
      assert.match(csp, /default-src 'self'/, `${path}: ${csp}`);
      // upgrade-insecure-requests makes browsers fetch the assets over https from any host but
      // localhost: a self-hosted server on plain http://<ip>:3000 would render a blank page.
      assert.doesNotMatch(csp, /upgrade-insecure-requests/, `${path}: ${csp}`);
      // Sources are keywords, data: or 'self' only: no scheme-wide (https:) or host sources.
      for (const directive of csp
        .split(";")
        .map((d) => d.trim())
        .filter(Boolean)) {
        const [name, ...sources] = directive.split(/\s+/);
        for (const source of sources) {
          assert.match(source, /^('[a-z-]+'|data:)$/, `${path}: ${name} allows ${source}`);
        }
      }
    }
  });

  test("the Swagger UI initializer loads our own spec and disables the remote validator", async () => {
    const res = await api.call("GET", "/docs/static/swagger-initializer.js", undefined, null);
    assert.equal(res.statusCode, 200);
    const js = res.body;
    // The spec URL is relative to the docs page (./json), never a remote petstore or an absolute URL.
    const specUrl = js.match(/\burl:\s*resolveUrl\(\s*['"]([^'"]+)['"]\s*\)/)?.[1];
    assert.equal(specUrl, "./json", "the initializer's spec url");
    assert.doesNotMatch(js, /petstore/i);
    assert.match(js, /validatorUrl"?\s*:\s*null/);
    assert.doesNotMatch(js, /validatorUrl"?\s*:\s*["']/);
    // Absolute URLs the initializer mentions: comments aside, none may point at another host.
    const code = js.replace(/^\s*\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
    for (const url of code.match(ABSOLUTE_URL) ?? []) {
      assert.equal(isForeign(url, "http://localhost/docs/"), false, `initializer loads ${url}`);
    }

    // ./json resolved against /docs/ is the same document as /openapi.json.
    const viaDocs = await api.call("GET", "/docs/json", undefined, null);
    assert.equal(viaDocs.statusCode, 200);
    const direct = await api.call("GET", "/openapi.json", undefined, null);
    assert.deepEqual(viaDocs.json(), direct.json());
  });
});

forEachEngine("GET /healthz", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  test("answers 200 with status, engine and migration, without auth", async () => {
    const res = await api.call("GET", "/healthz", undefined, null);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      status: "ok",
      engine,
      migration: api.db.store.expectedMigration,
    });
  });

  test("ignores a bad Authorization header (it is public)", async () => {
    const res = await api.call("GET", "/healthz", undefined, "sk_not_a_real_key");
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().engine, engine);
  });

  test("while an API route refuses the same request", async () => {
    const res = await api.call("POST", "/events/all/my", {}, null);
    assert.equal(res.statusCode, 401, res.body);
  });
});
