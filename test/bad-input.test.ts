import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Fastify, { type LightMyRequestResponse } from "fastify";
import type { Kysely } from "kysely";
import { normalizeSourceRequest } from "../src/domain/sources.js";
import { frameworkErrorHandler, installErrorHandlers } from "../src/http/errors.js";
import { createSource } from "../src/services/sources.js";
import { EVENT_LIST_SPEC } from "../src/store/event-list-spec.js";
import { CONVERSATION_LIST_SPEC, LEAD_LIST_SPEC } from "../src/store/leads-repo.js";
import type { ListField, ListSpec } from "../src/store/list-query.js";
import { type CreatedOrganization, createOrganization } from "../src/store/orgs-repo.js";
import type { Database } from "../src/store/schema.js";
import { getSource } from "../src/store/sources-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { assertProblem } from "./helpers/problem.js";

// The "Bad input" part of the issue: malformed JSON, wrong types, unsupported field names (SQL
// fragments included), out-of-range pageSize, tampered tokens, unknown and foreign ids, oversized
// bodies, missing keys and the rate limit each answer an RFC 9457 problem with the right 4xx status,
// and none of them changes a row. test/property-lists.test.ts throws random bodies at the lists.

type Snapshot = Record<string, unknown[]>;

/** Every row of the tables a request could write, in a stable order: "changes nothing" is deepEqual. */
async function snapshot(db: Kysely<Database>): Promise<Snapshot> {
  return {
    leads: await db.selectFrom("leads").selectAll().orderBy("organization_id").orderBy("id").execute(),
    conversations: await db
      .selectFrom("conversations")
      .selectAll()
      .orderBy("organization_id")
      .orderBy("id")
      .execute(),
    events: await db.selectFrom("events").selectAll().orderBy("organization_id").orderBy("id").execute(),
    event_transitions: await db
      .selectFrom("event_transitions")
      .selectAll()
      .orderBy("organization_id")
      .orderBy("event_id")
      .orderBy("seq")
      .execute(),
  };
}

async function counts(db: Kysely<Database>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ["events", "leads", "conversations"] as const) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

/** Wire names a spec accepts for one purpose, aliases included. */
function namesFor(spec: ListSpec, purpose: keyof ListField): string[] {
  const names = Object.entries(spec.fields)
    .filter(([, f]) => f[purpose])
    .map(([n]) => n);
  for (const [alias, target] of Object.entries(spec.aliases ?? {})) {
    if (spec.fields[target]?.[purpose]) names.push(alias);
  }
  return names;
}

/** Names a client might try that no list supports: column names, case variants, SQL fragments, prototype keys. */
const UNSUPPORTED_NAMES = [
  "nope",
  "created_at",
  "CreatedAt",
  "createdAt ",
  "createdAt; drop table events--",
  "createdAt desc, (select 1)",
  "id) or (1=1",
  "' or ''='",
  "1; delete from leads",
  "organizationId",
  "organization_id",
  "document",
  "*",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "ünïcödé",
  "x".repeat(300),
];

interface ListEndpoint {
  name: string;
  path: () => string;
  spec: ListSpec;
}

forEachEngine("bad input", (engine) => {
  let api: TestApi;
  let other: CreatedOrganization;
  const mine = { leadId: "", leadId2: "", conversationId: "", eventId: "" };
  const theirs = { leadId: "", conversationId: "", eventId: "" };

  const send = (
    method: "GET" | "POST" | "PUT" | "DELETE",
    url: string,
    payload?: string | Buffer,
    key: string | null = api.org.apiKey,
    contentType = "application/json",
  ) =>
    api.app.inject({
      method,
      url,
      headers: {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...(payload === undefined ? {} : { "content-type": contentType }),
      },
      ...(payload === undefined ? {} : { payload }),
    });
  const json = (method: "POST" | "PUT", url: string, body: unknown) =>
    send(method, url, JSON.stringify(body));

  const lists: ListEndpoint[] = [
    { name: "lead events", path: () => `/events/leads/${mine.leadId}`, spec: EVENT_LIST_SPEC },
    {
      name: "conversation events",
      path: () => `/events/conversations/${mine.conversationId}`,
      spec: EVENT_LIST_SPEC,
    },
    {
      name: "organization events",
      path: () => `/events/organizations/${api.org.organizationId}`,
      spec: EVENT_LIST_SPEC,
    },
    { name: "my events", path: () => "/events/all/my", spec: EVENT_LIST_SPEC },
    { name: "my leads", path: () => "/leads/all/my", spec: LEAD_LIST_SPEC },
    {
      name: "lead conversations",
      path: () => `/conversations/lead/${mine.leadId}`,
      spec: CONVERSATION_LIST_SPEC,
    },
    { name: "my conversations", path: () => "/conversations/my", spec: CONVERSATION_LIST_SPEC },
  ];

  /** Every endpoint that takes a body, with a body it would accept. */
  const bodyEndpoints = (): Array<{ method: "POST" | "PUT"; path: string; ok: unknown }> => [
    ...lists.map((l) => ({ method: "POST" as const, path: l.path(), ok: {} })),
    { method: "POST", path: "/leads", ok: { contact: { firstName: "Ok" } } },
    { method: "PUT", path: `/leads/${mine.leadId}`, ok: { contact: { firstName: "Ok" } } },
    { method: "POST", path: `/events/conversations/${mine.conversationId}/notes`, ok: { text: "ok" } },
  ];

  before(async () => {
    api = await startTestApi(engine);
    other = await createOrganization(api.db.store.db, "Other Org");
    const create = async (firstName: string, phone: string, key: string) => {
      const res = await api.call("POST", "/leads", { contact: { firstName, phone: { number: phone } } }, key);
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      const conv = await api.call("POST", `/conversations/lead/${id}`, {}, key);
      assert.equal(conv.statusCode, 200, conv.body);
      return { id, conversationId: conv.json().items[0].id as string };
    };
    const a = await create("Ada", "(415) 555-0142", api.org.apiKey);
    const b = await create("Bob", "(415) 555-0143", api.org.apiKey);
    const c = await create("Cy", "(415) 555-0144", other.apiKey);
    mine.leadId = a.id;
    mine.leadId2 = b.id;
    mine.conversationId = a.conversationId;
    theirs.leadId = c.id;
    theirs.conversationId = c.conversationId;
    for (const [key, conv] of [
      [api.org.apiKey, a.conversationId],
      [other.apiKey, c.conversationId],
    ] as const) {
      const note = await api.call("POST", `/events/conversations/${conv}/notes`, { text: "first note" }, key);
      assert.equal(note.statusCode, 200, note.body);
      if (key === api.org.apiKey) mine.eventId = note.json().id;
      else theirs.eventId = note.json().id;
    }
  });
  after(() => api?.close());

  test("malformed JSON is a 400 problem on every endpoint that takes a body", async () => {
    const before = await snapshot(api.db.store.db);
    const malformed = [
      "{",
      '{"pageSize": }',
      "nope",
      '{"a":1}}',
      "[1,]",
      "{'pageSize': 1}",
      '{"pageSize":1,}',
      '{"text":"unterminated',
      "\u0000",
      "NaN",
      '{"__proto__":{"x":1}}',
      '{"constructor":{"prototype":{"x":1}}}',
    ];
    for (const { method, path } of bodyEndpoints()) {
      for (const payload of malformed) {
        assertProblem(await send(method, path, payload), 400, path, "JSON");
      }
      // A JSON content type with no body at all.
      assertProblem(await send(method, path, ""), 400, path);
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("a prototype-poisoning key is a 400 that names where it sits", async () => {
    const before = await snapshot(api.db.store.db);
    const cases: Array<[string, string]> = [
      ['{"filters":{"":{"__proto__":""}}}', "filters..__proto__"],
      ['{"orderBy":[{"__proto__":{"x":1}}]}', "orderBy[0].__proto__"],
      ['{"filters":{"constructor":{"prototype":{"x":1}}}}', "filters.constructor"],
    ];
    for (const [payload, where] of cases) {
      assertProblem(await send("POST", "/events/all/my", payload), 400, "/events/all/my", where, "JSON");
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("a body that is not a JSON object, or not JSON at all, is a 4xx problem", async () => {
    const before = await snapshot(api.db.store.db);
    for (const { method, path } of bodyEndpoints()) {
      for (const payload of ["[]", "[{}]", '"text"', "42", "true", "null"]) {
        assertProblem(await send(method, path, payload), 400, path, "body");
      }
      assertProblem(await send(method, path, "<x/>", api.org.apiKey, "application/xml"), 415, path);
      assertProblem(
        await send(method, path, "a=1", api.org.apiKey, "application/x-www-form-urlencoded"),
        415,
        path,
        "application/x-www-form-urlencoded",
        "application/json",
      );
      // Fastify would read text/plain as a string by default; a JSON API refuses it like any other type.
      const ok = JSON.stringify({});
      assertProblem(await send(method, path, ok, api.org.apiKey, "text/plain"), 415, path, "text/plain");
      const untyped = await api.app.inject({
        method,
        url: path,
        headers: { authorization: `Bearer ${api.org.apiKey}` },
        payload: Buffer.from(ok),
      });
      assertProblem(untyped, 415, path, "no Content-Type");
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("a method a documented path does not answer is a 405 with Allow, and changes nothing", async () => {
    const before = await snapshot(api.db.store.db);
    const spec = (await api.app.inject({ method: "GET", url: "/openapi.json" })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const templates = Object.entries(spec.paths).map(([template, operations]) => ({
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
      methods: Object.keys(operations).map((m) => m.toUpperCase()),
    }));
    assert.ok(templates.length > 20, "the OpenAPI document lists the API's paths");
    let checked = 0;
    for (const template of Object.keys(spec.paths)) {
      const path = template.replace(/\{[^}]+\}/g, "x_1");
      // Every documented path this concrete path fits (e.g. /leads/{id} and /leads/all/my do not overlap).
      const allowed = new Set(templates.filter((t) => t.pattern.test(path)).flatMap((t) => t.methods));
      if (allowed.has("GET")) allowed.add("HEAD");
      for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"] as const) {
        if (allowed.has(method)) continue;
        const res = await api.app.inject({
          method,
          url: `${path}?q=1`,
          headers: { authorization: `Bearer ${api.org.apiKey}`, "content-type": "application/json" },
          payload: "{}",
        });
        const body = assertProblem(res, 405, path, method);
        assert.equal(body.type, "urn:leadtrail:problem:method-not-allowed");
        assert.deepEqual(String(res.headers.allow).split(", "), [...allowed].sort(), path);
        checked++;
      }
    }
    assert.ok(checked > 50, `checked ${checked} wrong methods`);
    // A path no route answers under any method stays a 404.
    assertProblem(await send("DELETE", "/no/such/path"), 404, "/no/such/path", "No route");
    // The root, a browser's first request: the answer points at the API reference.
    assertProblem(await send("GET", "/"), 404, "/", "No route GET /.", "The API reference is at /docs");
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("wrong types and out-of-range values in RequestDataOptions are 400s naming the field", async () => {
    const before = await snapshot(api.db.store.db);
    for (const list of lists) {
      const path = list.path();
      const filterField = namesFor(list.spec, "filter").find((n) => list.spec.fields[n]?.kind === "string")!;
      const cases: Array<[unknown, string]> = [
        [{ pageSize: "abc" }, "pageSize"],
        [{ pageSize: true }, "pageSize"],
        [{ pageSize: 1.5 }, "pageSize"],
        [{ pageSize: 0 }, "pageSize"],
        [{ pageSize: -1 }, "pageSize"],
        [{ pageSize: 501 }, "pageSize"],
        [{ pageSize: 1e9 }, "pageSize"],
        [{ pageSize: Number.MAX_SAFE_INTEGER + 2 }, "pageSize"],
        [{ pageSize: "501" }, "pageSize"],
        [{ pageSize: "0" }, "pageSize"],
        [{ pageSize: " 5" }, "pageSize"],
        [{ pageSize: "5.0" }, "pageSize"],
        [{ pageSize: "1e2" }, "pageSize"],
        [{ pageSize: [5] }, "pageSize"],
        [{ pageSize: {} }, "pageSize"],
        [{ orderBy: "createdAt" }, "orderBy"],
        [{ orderBy: { field: "createdAt" } }, "orderBy"],
        [{ orderBy: [5] }, "orderBy[0]"],
        [{ orderBy: [{ field: 5 }] }, "orderBy[0].field"],
        [{ orderBy: [{}] }, "orderBy[0].field"],
        [{ orderBy: [{ field: "createdAt", direction: "up" }] }, "orderBy[0].direction"],
        [{ orderBy: [{ field: "createdAt", direction: "DESC" }] }, "orderBy[0].direction"],
        [{ orderBy: [{ field: "createdAt" }, { field: "id", direction: 1 }] }, "orderBy[1].direction"],
        [{ orderBy: Array.from({ length: 21 }, () => ({ field: "createdAt" })) }, "orderBy"],
        [{ filters: "x" }, "filters"],
        [{ filters: {} }, "filters"],
        [{ filters: [null] }, "filters[0]"],
        [{ filters: [{ field: filterField }] }, "filters[0].value"],
        [{ filters: [{ field: filterField, value: 5 }] }, "filters[0].value"],
        [{ filters: [{ field: filterField, value: { $ne: null } }] }, "filters[0].value"],
        [{ filters: [{ field: filterField, value: ["a", "b"] }] }, "filters[0].value"],
        [{ filters: [{ field: filterField, value: "x".repeat(501) }] }, "filters[0].value"],
        [{ filters: [{ field: filterField, value: "\u{1F600}".repeat(501) }] }, "filters[0].value"],
        [{ filters: [{ field: filterField, value: "a\u0000b" }] }, "filters[0].value"],
        [{ rangeFilters: {} }, "rangeFilters"],
        [{ rangeFilters: [{ field: "createdAt" }] }, "rangeFilters[0]"],
        [{ rangeFilters: [{ field: "createdAt", greaterThan: null }] }, "rangeFilters[0]"],
        [{ rangeFilters: [{ field: "createdAt", greaterThan: "yesterday" }] }, "rangeFilters[0].greaterThan"],
        [{ rangeFilters: [{ field: "createdAt", lessThan: 1_700_000_000_000 }] }, "rangeFilters[0].lessThan"],
        [{ rangeFilters: [{ field: "createdAt", greaterThanOrEqual: "2024-01-31" }] }, "greaterThanOrEqual"],
        [
          { rangeFilters: [{ field: "createdAt", lessThanOrEqual: "2024-13-45T00:00:00Z" }] },
          "lessThanOrEqual",
        ],
        [
          { rangeFilters: [{ field: "createdAt", lessThan: "2024-01-31T12:00:00" }] },
          "rangeFilters[0].lessThan",
        ],
        [{ rangeFilters: [{ field: "createdAt", lessThan: "+275760-09-13T00:00:00Z" }] }, "lessThan"],
        // Dates that do not exist are refused, not rolled forward to March 2nd or the next day.
        [{ rangeFilters: [{ field: "createdAt", lessThan: "2024-02-30T00:00:00Z" }] }, "lessThan"],
        [{ rangeFilters: [{ field: "createdAt", greaterThan: "2024-01-01T24:00:00Z" }] }, "greaterThan"],
        [{ search: 5 }, "search"],
        [{ search: ["a"] }, "search"],
        [{ search: "x".repeat(201) }, "search"],
        [{ search: "\u{1F600}".repeat(201) }, "search"],
        [{ search: "a\u0000" }, "search"],
        [{ searchFields: "summary" }, "searchFields"],
        [{ searchFields: [5] }, "searchFields[0]"],
        [{ includeCount: "true" }, "includeCount"],
        [{ includeCount: 1 }, "includeCount"],
        [{ continuationToken: 5 }, "continuationToken"],
        [{ continuationToken: {} }, "continuationToken"],
        [{ continuationToken: "abc" }, "continuationToken"],
        [{ continuationToken: "." }, "continuationToken"],
        [{ continuationToken: "x".repeat(5000) }, "continuationToken"],
      ];
      for (const [body, field] of cases) {
        const res = await json("POST", path, body);
        const problem = assertProblem(res, 400, path, field);
        assert.match(
          problem.type as string,
          /validation-error$/,
          `${path} ${JSON.stringify(body).slice(0, 200)}`,
        );
      }
      // A number too large for a double is still a clean 400.
      assertProblem(await send("POST", path, '{"pageSize": 1e400}'), 400, path, "pageSize");
      // Characters are code points, as JSON Schema's maxLength counts them: the limits in emoji pass.
      const freeText = namesFor(list.spec, "filter").find((n) => {
        const field = list.spec.fields[n];
        return field?.kind === "string" && !field.values;
      })!;
      for (const body of [
        { search: "\u{1F600}".repeat(200) },
        { filters: [{ field: freeText, value: "\u{1F600}".repeat(500) }] },
      ]) {
        const res = await json("POST", path, body);
        assert.equal(res.statusCode, 200, `${path}: ${res.body.slice(0, 300)}`);
      }
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("unknown or unsupported field names, SQL fragments included, are 400s that list the supported names", async () => {
    const before = await snapshot(api.db.store.db);
    const ts = "2024-01-31T12:00:00Z";
    const bodies: Record<string, (name: string) => [unknown, string]> = {
      order: (name) => [
        { orderBy: [{ field: "createdAt" }, { field: name, direction: "desc" }] },
        "orderBy[1].field",
      ],
      filter: (name) => [{ filters: [{ field: name, value: "x" }] }, "filters[0].field"],
      range: (name) => [{ rangeFilters: [{ field: name, greaterThan: ts }] }, "rangeFilters[0].field"],
      search: (name) => [{ search: "a", searchFields: [name] }, "searchFields[0]"],
    };
    for (const list of lists) {
      const path = list.path();
      const all = [...Object.keys(list.spec.fields), ...Object.keys(list.spec.aliases ?? {})];
      for (const [purpose, build] of Object.entries(bodies) as Array<
        [keyof ListField, (typeof bodies)[string]]
      >) {
        const supported = namesFor(list.spec, purpose);
        // Unknown everywhere, plus names this resource has but not for this purpose.
        const names = [...UNSUPPORTED_NAMES, ...all.filter((n) => !supported.includes(n))];
        for (const name of names) {
          const [body, param] = build(name);
          const problem = assertProblem(await json("POST", path, body), 400, path, param, "supported");
          const detail = problem.detail as string;
          // Every accepted name, aliases included.
          for (const s of supported) assert.ok(detail.includes(s), `${detail} should list ${s}`);
          const errors = problem.errors as Record<string, string[]> | undefined;
          assert.ok(errors?.[param], `errors should be keyed by ${param}: ${JSON.stringify(errors)}`);
        }
        // An empty name is not a field either.
        assertProblem(await json("POST", path, build("")[0]), 400, path, build("")[1]);
      }
      // searchFields is checked even when there is no search term to apply it to.
      assertProblem(
        await json("POST", path, { searchFields: ["createdAt; drop table events--"] }),
        400,
        path,
        "searchFields[0]",
      );
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
    // The tables are all still there and answer.
    for (const list of lists) {
      const res = await json("POST", list.path(), {});
      assert.equal(res.statusCode, 200, res.body);
    }
  });

  test("enum filters reject values outside the vocabulary", async () => {
    for (const [field, value] of [
      ["activityType", "Nope"],
      ["timelineType", "leadcreated"],
      ["status", "Completed' or '1'='1"],
      ["trafficType", ""],
    ]) {
      assertProblem(
        await json("POST", "/events/all/my", { filters: [{ field, value }] }),
        400,
        "/events/all/my",
        "filters[0].value",
      );
    }
  });

  test("tampered continuation tokens are 400s, the untouched token pages on", async () => {
    const before = await snapshot(api.db.store.db);
    const first = await json("POST", "/events/all/my", { pageSize: 1 });
    assert.equal(first.statusCode, 200, first.body);
    const token = first.json().continuationToken as string;
    assert.equal(typeof token, "string");

    const ok = await json("POST", "/events/all/my", { pageSize: 1, continuationToken: token });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.notEqual(ok.json().items[0].id, first.json().items[0].id);

    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    const tampered = new Set<string>();
    for (let i = 0; i < token.length; i++) {
      // Two different replacements per position: the next character, and one far away in the alphabet.
      for (const step of [1, 31]) {
        const c = alphabet[(alphabet.indexOf(token[i]!) + step) % alphabet.length]!;
        tampered.add(token.slice(0, i) + c + token.slice(i + 1));
      }
    }
    tampered.add(`${token}=`);
    tampered.add(`${token}==`);
    tampered.add(`${token}A`);
    tampered.add(` ${token}`);
    tampered.add(`${token}\n`);
    tampered.add(token.slice(0, -1));
    tampered.add(token.slice(1));
    tampered.add(token.replace(".", ""));
    tampered.add(token.replace(".", ".."));
    tampered.add(`${token}.${token}`);
    tampered.add(token.replace(/-/g, "+").replace(/_/g, "/"));
    tampered.add(token.toUpperCase());
    tampered.add(token.split(".").reverse().join("."));
    tampered.delete(token);
    for (const t of tampered) {
      assertProblem(
        await json("POST", "/events/all/my", { pageSize: 1, continuationToken: t }),
        400,
        "/events/all/my",
        "continuationToken",
      );
    }

    // A genuine token, but for another query: another order, another list, another lead.
    assertProblem(
      await json("POST", "/events/all/my", {
        pageSize: 1,
        continuationToken: token,
        orderBy: [{ field: "createdAt", direction: "asc" }],
      }),
      400,
      "/events/all/my",
      "continuationToken",
    );
    assertProblem(
      await json("POST", "/leads/all/my", { pageSize: 1, continuationToken: token }),
      400,
      "/leads/all/my",
      "continuationToken",
    );
    const leadPage = await json("POST", `/events/leads/${mine.leadId}`, { pageSize: 1 });
    const leadToken = leadPage.json().continuationToken as string;
    assert.equal(typeof leadToken, "string", leadPage.body);
    assertProblem(
      await json("POST", `/events/leads/${mine.leadId2}`, { pageSize: 1, continuationToken: leadToken }),
      400,
      `/events/leads/${mine.leadId2}`,
      "continuationToken",
    );
    // Another organization cannot use (or probe with) this organization's token.
    const foreign = await api.call(
      "POST",
      `/events/organizations/${other.organizationId}`,
      { pageSize: 1, continuationToken: token },
      other.apiKey,
    );
    assertProblem(foreign, 400, `/events/organizations/${other.organizationId}`, "continuationToken");
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("unknown ids are 404 problems on every endpoint that takes one", async () => {
    const before = await snapshot(api.db.store.db);
    const ids = [
      "lead_00000000000000000000000000",
      "conv_00000000000000000000000000",
      "evt_00000000000000000000000000",
      "nope",
      encodeURIComponent("'; drop table leads; --"),
      encodeURIComponent("1 or 1=1"),
      encodeURIComponent("✓ünïcödé"),
      encodeURIComponent("../../etc/passwd"),
      "x".repeat(200),
    ];
    for (const id of ids) {
      const cases: Array<[method: "GET" | "POST" | "PUT", path: string, body?: unknown]> = [
        ["GET", `/leads/${id}`],
        ["PUT", `/leads/${id}`, { contact: { firstName: "X" } }],
        ["GET", `/events/${id}`],
        ["GET", `/events/detail/${id}`],
        ["POST", `/events/leads/${id}`, {}],
        ["POST", `/events/conversations/${id}`, {}],
        ["POST", `/events/conversations/${id}/notes`, { text: "hello" }],
        ["POST", `/events/organizations/${id}`, {}],
        ["POST", `/conversations/lead/${id}`, {}],
      ];
      for (const [method, path, body] of cases) {
        const res = await send(method, path, body === undefined ? undefined : JSON.stringify(body));
        assertProblem(res, 404, path, "not found");
      }
    }
    // Real ids of the wrong kind are unknown too.
    assertProblem(await send("GET", `/leads/${mine.conversationId}`), 404, `/leads/${mine.conversationId}`);
    assertProblem(await send("GET", `/events/${mine.leadId}`), 404, `/events/${mine.leadId}`);
    assertProblem(
      await json("POST", `/events/conversations/${mine.leadId}/notes`, { text: "x" }),
      404,
      `/events/conversations/${mine.leadId}/notes`,
    );
    assertProblem(
      await json("POST", `/conversations/lead/${mine.conversationId}`, {}),
      404,
      `/conversations/lead/${mine.conversationId}`,
    );
    // No such route is a 404; a method a route does not answer is a 405 (the next test covers every path).
    assertProblem(await send("GET", "/nope"), 404, "/nope");
    assertProblem(await send("DELETE", `/leads/${mine.leadId}`), 405, `/leads/${mine.leadId}`, "DELETE");
    assertProblem(await send("GET", "/events/all/my"), 405, "/events/all/my", "POST");
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("a NUL character in an id or a text field is a 4xx, never a 500", async () => {
    const before = await counts(api.db.store.db);
    for (const [method, path, body] of [
      ["GET", "/leads/lead_%00"],
      ["PUT", "/leads/lead_%00", { contact: { firstName: "X" } }],
      ["GET", "/events/evt_%00"],
      ["GET", "/events/detail/evt_%00"],
      ["POST", "/events/leads/a%00b", {}],
      ["POST", "/events/conversations/a%00b", {}],
      ["POST", "/events/conversations/a%00b/notes", { text: "x" }],
      ["POST", "/conversations/lead/a%00b", {}],
      ["POST", `/events/conversations/${mine.conversationId}/notes`, { text: "nul \u0000 note" }],
    ] as Array<["GET" | "POST" | "PUT", string, unknown?]>) {
      const res = await send(method, path, body === undefined ? undefined : JSON.stringify(body));
      // SQLite stores and matches NUL; PostgreSQL cannot. Either way the answer is a problem, not a 500.
      if (res.statusCode >= 400) {
        assert.ok(res.statusCode < 500, `${method} ${path}: ${res.body}`);
        assertProblem(res, res.statusCode, path);
      } else {
        assert.equal(engine, "sqlite", `${method} ${path}: ${res.statusCode} ${res.body}`);
      }
    }
    if (engine === "postgresql") assert.deepEqual(await counts(api.db.store.db), before);
  });

  test("a lone UTF-16 surrogate in a body (valid JSON, not Unicode text) is a 400 naming where it sits", async () => {
    const before = await snapshot(api.db.store.db);
    // Written as JSON escapes: JSON.stringify would escape them the same way.
    for (const [method, path, payload, field] of [
      ["POST", "/leads", '{"contact":{"firstName":"sur\\ud800"}}', "contact.firstName"],
      ["POST", "/leads", '{"contact":{"lastName":"x\\udc00y"}}', "contact.lastName"],
      ["POST", "/leads", '{"metadata":{"k\\udbff":"v"}}', "metadata.k\udbff"],
      ["POST", `/events/conversations/${mine.conversationId}/notes`, '{"text":"\\ud83d"}', "text"],
      ["POST", "/events/all/my", '{"search":"\\udfff"}', "search"],
    ] as const) {
      const res = await send(method, path, payload);
      assertProblem(res, 400, path, "lone UTF-16 surrogate");
      assert.deepEqual(Object.keys(res.json().errors), [field], res.body);
    }
    // A surrogate pair is a character like any other.
    const emoji = await send("POST", "/leads", '{"contact":{"firstName":"Ana \\ud83d\\ude00"}}');
    assert.equal(emoji.statusCode, 201, emoji.body);
    assert.equal(emoji.json().contact.firstName, "Ana \u{1F600}");
    const created = emoji.json().id as string;
    const read = await send("GET", `/leads/${created}`);
    assert.equal(read.json().contact.firstName, "Ana \u{1F600}");
    const after = await snapshot(api.db.store.db);
    assert.equal(after.leads!.length, before.leads!.length + 1);
  });

  test("a body that is not UTF-8, or declared in another charset, is a 4xx, never stored with U+FFFD", async () => {
    const before = await snapshot(api.db.store.db);
    const latin1 = Buffer.concat([
      Buffer.from('{"contact":{"firstName":"Jos'),
      Buffer.from([0xe9]),
      Buffer.from('"}}'),
    ]);
    assertProblem(await send("POST", "/leads", latin1), 400, "/leads", "UTF-8");
    assertProblem(
      await send("POST", "/leads", latin1, api.org.apiKey, "application/json; charset=latin1"),
      415,
      "/leads",
      "charset=latin1",
    );
    assertProblem(
      await send("POST", "/leads", latin1, api.org.apiKey, "application/json; charset=us-ascii"),
      400,
      "/leads",
      "not ASCII",
    );
    assert.deepEqual(await snapshot(api.db.store.db), before);
    const ascii = await send(
      "POST",
      "/leads",
      '{"contact":{"firstName":"Jos\\u00e9"}}',
      api.org.apiKey,
      "application/json; charset=US-ASCII",
    );
    assert.equal(ascii.statusCode, 201, ascii.body);
    assert.equal(ascii.json().contact.firstName, "José");
    // UTF-8, declared or not (an empty charset is none), is read as sent.
    for (const contentType of [
      "application/json",
      "application/json; charset=UTF-8",
      'application/json;charset="utf-8"',
      "application/json; charset=",
    ]) {
      const res = await send(
        "POST",
        "/leads",
        '{"contact":{"firstName":"José"}}',
        api.org.apiKey,
        contentType,
      );
      assert.equal(res.statusCode, 201, `${contentType}: ${res.body}`);
      assert.equal(res.json().contact.firstName, "José");
    }
  });

  test("another organization's lead, conversation and event answer exactly like ones that do not exist", async () => {
    const before = await snapshot(api.db.store.db);
    const fake = {
      leadId: `lead_${"0".repeat(26)}`,
      conversationId: `conv_${"0".repeat(26)}`,
      eventId: `evt_${"0".repeat(26)}`,
      organizationId: `org_${"0".repeat(26)}`,
    };
    const real = { ...theirs, organizationId: other.organizationId };
    const cases: Array<[method: "GET" | "POST" | "PUT", path: (ids: typeof fake) => string, body?: unknown]> =
      [
        ["GET", (i) => `/leads/${i.leadId}`],
        ["PUT", (i) => `/leads/${i.leadId}`, { contact: { firstName: "Mallory" } }],
        ["GET", (i) => `/events/${i.eventId}`],
        ["GET", (i) => `/events/detail/${i.eventId}`],
        ["POST", (i) => `/events/leads/${i.leadId}`, {}],
        ["POST", (i) => `/events/conversations/${i.conversationId}`, {}],
        ["POST", (i) => `/events/conversations/${i.conversationId}/notes`, { text: "injected" }],
        ["POST", (i) => `/events/organizations/${i.organizationId}`, {}],
        ["POST", (i) => `/conversations/lead/${i.leadId}`, {}],
      ];
    const normalize = (res: LightMyRequestResponse, ids: typeof fake) => {
      let text = res.body;
      for (const [k, v] of Object.entries(ids)) text = text.split(v).join(`<${k}>`);
      return { status: res.statusCode, contentType: res.headers["content-type"], body: JSON.parse(text) };
    };
    for (const [method, path, body] of cases) {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const foreign = await send(method, path(real), payload);
      const missing = await send(method, path(fake), payload);
      assertProblem(foreign, 404, path(real));
      assertProblem(missing, 404, path(fake));
      assert.deepEqual(normalize(foreign, real), normalize(missing, fake), path(real));
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
    // And the owner still sees its data untouched.
    const own = await api.call("GET", `/leads/${theirs.leadId}`, undefined, other.apiKey);
    assert.equal(own.statusCode, 200, own.body);
    assert.equal(own.json().contact.firstName, "Cy");
  });

  test("POST /leads and PUT /leads/{id} reject bad contacts and wrong types with a 400 naming the field", async () => {
    const before = await snapshot(api.db.store.db);
    const leadBefore = (await send("GET", `/leads/${mine.leadId}`)).json();
    const cases: Array<[unknown, string]> = [
      [{ contact: { phone: { number: "not a phone" } } }, "contact.phone.number"],
      [{ contact: { phone: { number: "123" } } }, "contact.phone.number"],
      [{ contact: { phone: { number: "+1 555" } } }, "contact.phone.number"],
      [{ contact: { phone: { number: "(415) 555-014" } } }, "contact.phone.number"],
      [{ contact: { phone: { number: "" } } }, "contact.phone.number"],
      [{ contact: { phone: { number: "   " } } }, "contact.phone.number"],
      [{ contact: { phone: { number: "'; drop table leads; --" } } }, "contact.phone.number"],
      [{ contact: { phone: { number: "1".repeat(41) } } }, "contact.phone.number"],
      [{ contact: { phone: { number: 4155550142 } } }, "contact.phone.number"],
      [
        { contact: { phone: { number: "4155550142" }, streetAddress: { country: "GB" } } },
        "contact.phone.number",
      ],
      [{ contact: { email: "nope" } }, "contact.email"],
      [{ contact: { email: "a@" } }, "contact.email"],
      [{ contact: { email: "@b.com" } }, "contact.email"],
      [{ contact: { email: "a b@c.com" } }, "contact.email"],
      [{ contact: { email: "a@b@c.com" } }, "contact.email"],
      [{ contact: { email: `${"a".repeat(250)}@b.com` } }, "contact.email"],
      [{ contact: { email: 5 } }, "contact.email"],
      [{ contact: { email: ["a@b.com"] } }, "contact.email"],
      [{ contact: "x" }, "contact"],
      [{ contact: [] }, "contact"],
      [{ contact: { firstName: 5 } }, "contact.firstName"],
      [{ contact: { lastName: "x".repeat(201) } }, "contact.lastName"],
      // As a source's delivery is held to it (code points), the organization key's lead is too.
      [{ metadata: { sellerLeadId: "x".repeat(201) } }, "metadata.sellerLeadId"],
      [{ metadata: { sellerLeadId: "\u{1F600}".repeat(201) } }, "metadata.sellerLeadId"],
      // Free text has limits too (README: "A lead's text has limits"), in code points.
      [{ contact: { streetAddress: { city: "x".repeat(900_000) } } }, "contact.streetAddress.city"],
      [{ contact: { streetAddress: { line1: "\u{1F600}".repeat(201) } } }, "contact.streetAddress.line1"],
      [
        { contact: { streetAddress: { additionalInfo: "x".repeat(1001) } } },
        "contact.streetAddress.additionalInfo",
      ],
      [{ contact: { phone: { number: "4155550142", type: "x".repeat(51) } } }, "contact.phone.type"],
      [{ metadata: { utmSource: "x".repeat(501) } }, "metadata.utmSource"],
      [{ metadata: { referrer: "x".repeat(2049) } }, "metadata.referrer"],
      [{ metadata: { sourceMetadata: { clickId: "x".repeat(1001) } } }, "metadata.sourceMetadata.clickId"],
      [{ metadata: { sourceMetadata: { ["k".repeat(201)]: "v" } } }, "metadata.sourceMetadata"],
      [{ customer: { notes: "x".repeat(2049) } }, "customer.notes"],
      [{ customer: { history: [{ note: "\u{1F600}".repeat(2049) }] } }, "customer.history[0].note"],
      [{ contact: { ["k".repeat(201)]: 1 } }, "contact"],
      [{ contact: { timeZoneId: "Mars/Olympus_Mons" } }, "contact.timeZoneId"],
      [{ contact: { phone: "4155550142" } }, "contact.phone"],
      [{ metadata: [] }, "metadata"],
      [{ metadata: { trustedFormUrl: "javascript:alert(1)" } }, "metadata.trustedFormUrl"],
      [{ enabled: "yes" }, "enabled"],
      [{ tagIds: "a" }, "tagIds"],
      [{ tagIds: [5] }, "tagIds[0]"],
      [{ tagNames: Array.from({ length: 101 }, (_, i) => `t${i}`) }, "tagNames"],
    ];
    for (const [method, path] of [
      ["POST", "/leads"],
      ["PUT", `/leads/${mine.leadId}`],
      // Validation comes first: even for an id that does not exist, a bad body is a 400.
      ["PUT", `/leads/lead_${"0".repeat(26)}`],
    ] as const) {
      for (const [body, field] of cases) {
        const problem = assertProblem(await json(method, path, body), 400, path, field);
        assert.match(problem.type as string, /validation-error$/);
        const errors = problem.errors as Record<string, string[]> | undefined;
        assert.ok(errors?.[field], `errors should be keyed by ${field}: ${JSON.stringify(problem)}`);
      }
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
    assert.deepEqual((await send("GET", `/leads/${mine.leadId}`)).json(), leadBefore);
  });

  test("a lead's text at its limit, counted in code points, is taken on POST and PUT", async () => {
    // Emoji are two UTF-16 units each: a limit counted in units would refuse these.
    const emoji = (n: number) => "\u{1F600}".repeat(n);
    const atLimit = {
      metadata: {
        sellerLeadId: emoji(200),
        utmSource: emoji(500),
        referrer: emoji(2048),
        sourceMetadata: { [emoji(200)]: emoji(1000) },
      },
      contact: {
        phone: { number: "+14155550142", type: emoji(50) },
        streetAddress: { line1: emoji(200), city: emoji(200), country: "GB", additionalInfo: emoji(1000) },
        [emoji(200)]: emoji(2048),
      },
      customer: { history: [{ note: emoji(2048) }] },
    };
    const created = await json("POST", "/leads", atLimit);
    assert.equal(created.statusCode, 201, created.body.slice(0, 300));
    const id = created.json().id as string;
    const updated = await json("PUT", `/leads/${id}`, atLimit);
    assert.equal(updated.statusCode, 200, updated.body.slice(0, 300));
    const { metadata, contact, customer } = updated.json();
    assert.deepEqual(
      { metadata, contact, customer },
      { ...atLimit, metadata: { ...metadata, ...atLimit.metadata } },
    );
  });

  test("note text that is empty, blank, too long or not a string is a 400", async () => {
    const before = await snapshot(api.db.store.db);
    const path = `/events/conversations/${mine.conversationId}/notes`;
    for (const body of [
      { text: "" },
      { text: " " },
      { text: " \n\t \r\n " },
      { text: "\u00a0\u2003" },
      { text: "x".repeat(5001) },
      { text: ` ${"x".repeat(5001)} ` },
      { text: "x".repeat(100_000) },
      { text: 5 },
      { text: null },
      { text: ["a"] },
      { text: { value: "a" } },
      {},
      { note: "hello" },
    ]) {
      assertProblem(await json("POST", path, body), 400, path, "text");
    }
    // The same bodies against an unknown conversation: still a 400 first, nothing is looked up.
    assertProblem(
      await json("POST", "/events/conversations/nope/notes", { text: "   " }),
      400,
      "/events/conversations/nope/notes",
      "text",
    );
    assert.deepEqual(await snapshot(api.db.store.db), before);

    // The boundary: 5000 characters after trimming is accepted.
    const ok = await json("POST", path, { text: `  ${"y".repeat(5000)}  ` });
    assert.equal(ok.statusCode, 200, ok.body.slice(0, 300));
    assert.equal(ok.json().summary.length, 5000);
    const after = await counts(api.db.store.db);
    assert.equal(after.events, before.events!.length + 1);
  });

  test("bodies over 1 MiB are 413 problems; a body of exactly 1 MiB is read", async () => {
    const before = await snapshot(api.db.store.db);
    const limit = 1024 * 1024;
    for (const { method, path, ok } of bodyEndpoints()) {
      const base = JSON.stringify(ok);
      // Valid JSON, padded with whitespace to one byte over the limit.
      const over = base + " ".repeat(limit + 1 - Buffer.byteLength(base));
      assertProblem(await send(method, path, over), 413, path, "1 MiB");
      const big = JSON.stringify({ ...(ok as object), padding: "x".repeat(limit * 2) });
      assertProblem(await send(method, path, big), 413, path, "1 MiB");
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
    const exact = `{}${" ".repeat(limit - 2)}`;
    assert.equal(Buffer.byteLength(exact), limit);
    const res = await send("POST", "/events/all/my", exact);
    assert.equal(res.statusCode, 200, res.body.slice(0, 300));
  });

  test("a missing, malformed or unknown API key is a 401 with WWW-Authenticate: Bearer, before the body is looked at", async () => {
    const before = await snapshot(api.db.store.db);
    const keys: Array<{ header?: string }> = [
      {},
      { header: "" },
      { header: "Bearer" },
      { header: "Bearer " },
      { header: `Basic ${Buffer.from("user:pass").toString("base64")}` },
      { header: api.org.apiKey },
      { header: "Bearer sk_short" },
      { header: `Bearer sk_${"A".repeat(43)}` },
      { header: `Bearer ${api.org.apiKey}x` },
      { header: `Bearer ${api.org.apiKey.slice(0, -1)}` },
      { header: `Bearer ${api.org.apiKey} ${api.org.apiKey}` },
      { header: "Bearer sk_' or '1'='1" },
      // Source keys: unknown, too short, or an organization key dressed as one.
      { header: `Bearer lp_src_${"A".repeat(43)}` },
      { header: "Bearer lp_src_short" },
      { header: `Bearer lp_src_${api.org.apiKey.slice(3)}` },
    ];
    const endpoints: Array<["GET" | "POST" | "PUT", string, string | undefined]> = [
      ...bodyEndpoints().map(
        (e) => [e.method, e.path, JSON.stringify(e.ok)] as ["POST" | "PUT", string, string],
      ),
      ["GET", `/leads/${mine.leadId}`, undefined],
      ["GET", `/events/${mine.eventId}`, undefined],
      ["GET", `/events/detail/${mine.eventId}`, undefined],
      // A bad body without a key is still a 401: nothing is parsed for strangers.
      ["POST", "/leads", "{not json"],
      ["POST", "/events/all/my", JSON.stringify({ orderBy: [{ field: "nope" }] })],
    ];
    for (const [method, path, payload] of endpoints) {
      for (const { header } of keys) {
        const res = await api.app.inject({
          method,
          url: path,
          headers: {
            ...(header === undefined ? {} : { authorization: header }),
            ...(payload === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(payload === undefined ? {} : { payload }),
        });
        const problem = assertProblem(res, 401, path);
        assert.match(String(res.headers["www-authenticate"]), /^Bearer\b/, `${path} with ${header}`);
        // A key of ours in form, whatever its length or characters, is said to be invalid, not to
        // be in the wrong form.
        if (/^Bearer\s+(sk_|lp_src_)/i.test(header ?? "")) {
          assert.doesNotMatch(String(problem.detail), /must be `Bearer/, `${header}: ${problem.detail}`);
        }
      }
    }
    assert.deepEqual(await snapshot(api.db.store.db), before);
  });

  test("the error shapes are documented: every problem status is declared on the routes", async () => {
    const res = await send("GET", "/openapi.json");
    assert.equal(res.statusCode, 200);
    const paths = res.json().paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    for (const list of [
      "/events/all/my",
      "/leads/all/my",
      "/conversations/my",
      "/events/leads/{leadId}",
      "/events/conversations/{conversationId}",
      "/events/organizations/{organizationId}",
      "/conversations/lead/{leadId}",
      "/sources/all/my",
    ]) {
      const responses = paths[list]?.post?.responses ?? {};
      for (const status of ["400", "401", "403", "404", "429"])
        assert.ok(responses[status], `${list} documents ${status}`);
    }
  });

  test("a path that is not valid percent-encoding, or an over-long id, is a problem too", async () => {
    for (const path of ["/events/leads/%E0%A4%A", `/events/leads/${"x".repeat(201)}`, "/leads/%"]) {
      const res = await json("POST", path, {});
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, res.body);
      assertProblem(res, res.statusCode, path);
    }
  });

  test("lead bodies that cannot be stored are 400s, not 500s", async () => {
    const before = await counts(api.db.store.db);
    const deep = `${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}`;
    for (const payload of [
      JSON.stringify({ metadata: { price: 1e300 } }),
      JSON.stringify({ metadata: { price: -1e20 } }),
      `{"metadata":{"deep":${deep}}}`,
      `{"contact":{"firstName":"x"},"customer":${deep}}`,
    ]) {
      const res = await send("POST", "/leads", payload);
      assertProblem(res, 400, "/leads");
    }
    assert.deepEqual(await counts(api.db.store.db), before);
  });
});

forEachEngine("rate limit", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { rateLimitPerMinute: 3 });
  });
  after(() => api?.close());

  test("past the limit every request is a 429 problem with Retry-After, and changes nothing", async () => {
    const source = await createSource(api.db.store.db, api.org, normalizeSourceRequest({ name: "Vendor" }));
    for (let i = 0; i < 3; i++) {
      const res = await api.call("POST", "/events/all/my", {});
      assert.equal(res.statusCode, 200, res.body);
    }
    const before = await counts(api.db.store.db);
    for (const [method, path, body, key] of [
      ["POST", "/events/all/my", {}],
      ["POST", "/leads", { contact: { firstName: "Over", phone: { number: "(415) 555-0199" } } }],
      ["POST", "/leads/all/my", { orderBy: [{ field: "nope" }] }],
      ["GET", "/leads/lead_nope", undefined],
    ] as Array<["GET" | "POST", string, unknown, string?]>) {
      const res = await api.call(method, path, body, key);
      assertProblem(res, 429, path);
      const retryAfter = String(res.headers["retry-after"]);
      assert.match(retryAfter, /^\d+$/);
      // Up to the window plus the 100 ms slot its oldest request was counted in, rounded up.
      assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 61, retryAfter);
    }
    assert.deepEqual(await counts(api.db.store.db), before);

    // A source's key has a budget of its own: the organization being held back does not stop its
    // vendors, and a vendor past its budget is held back alone (a refused request is no use of it).
    const delivery = (i: number) => ({
      contact: { firstName: "Via", phone: { number: `(415) 555-018${i}` } },
    });
    for (let i = 0; i < 3; i++) {
      const res = await api.call("POST", "/leads", delivery(i), source.api_key!);
      assert.equal(res.statusCode, 201, res.body);
    }
    assertProblem(await api.call("POST", "/leads", delivery(3), source.api_key!), 429, "/leads");
    const sourceRow = await getSource(api.db.store.db, api.org.organizationId, source.id);
    assert.equal(sourceRow?.api_key_total_uses, 3, "a refused request is not a use of the key");

    // The limit is per organization: another one is not affected.
    const other = await createOrganization(api.db.store.db, "Other Org");
    const res = await api.call("POST", "/events/all/my", {}, other.apiKey);
    assert.equal(res.statusCode, 200, res.body);
    // And a stranger is told 401, not 429.
    const stranger = await api.call("POST", "/events/all/my", {}, null);
    assertProblem(stranger, 401, "/events/all/my");
  });
});

describe("frameworkErrorHandler", () => {
  test("turns Fastify's pre-routing errors into problems", async () => {
    const app = Fastify({ frameworkErrors: frameworkErrorHandler, routerOptions: { maxParamLength: 200 } });
    installErrorHandlers(app);
    app.get("/things/:id", async () => ({ ok: true }));
    await app.ready();
    try {
      const badUrl = await app.inject({ method: "GET", url: "/things/%E0%A4%A" });
      assertProblem(badUrl, 400, "/things/%E0%A4%A", "percent-encoding");
      const long = `/things/${"x".repeat(201)}`;
      assertProblem(await app.inject({ method: "GET", url: long }), 414, long);
      assert.equal((await app.inject({ method: "GET", url: "/things/ok" })).statusCode, 200);
    } finally {
      await app.close();
    }
  });
});
