import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import type { Kysely } from "kysely";
import { toE164 } from "../src/domain/phone.js";
import { compareRfc3339, parseRfc3339 } from "../src/domain/time.js";
import { EVENT_LIST_SPEC } from "../src/store/event-list-spec.js";
import { CONVERSATION_LIST_SPEC, LEAD_LIST_SPEC } from "../src/store/leads-repo.js";
import type { ListField, ListSpec } from "../src/store/list-query.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import type { Database } from "../src/store/schema.js";
import { SOURCE_LIST_SPEC } from "../src/store/sources-repo.js";
import { assertEventRecord, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

// Property-based tests of the "Bad input" promise on every list endpoint: whatever body a client
// sends, the answer is a well-formed page (200) or an RFC 9457 problem (4xx), never a 5xx; a body
// with exactly one invalid part is a 400 that names that part; any valid body pages through every
// matching row exactly once; and none of it changes a row. Runs per property, endpoint and engine:
// LEADTRAIL_PROPERTY_RUNS (default 100). A failure prints fast-check's seed and shrunk counterexample.

const RUNS = Number(process.env.LEADTRAIL_PROPERTY_RUNS ?? 100);
const SEED = process.env.LEADTRAIL_PROPERTY_SEED ? Number(process.env.LEADTRAIL_PROPERTY_SEED) : undefined;
const fcOptions = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };

type Purpose = "order" | "filter" | "range" | "search";

/** Fields of an item that show an E.164 number, which a filter matches as the number it reads as. */
const PHONE_FIELDS = new Set(["phone", "leadPhoneNumber"]);
type Json = unknown;

interface Endpoint {
  name: string;
  path: string;
  spec: ListSpec;
  kind: "events" | "leads" | "conversations" | "sources";
  /** Item property → value every item of this list must have (the path scope). */
  scope: Record<string, string>;
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

function fieldOf(spec: ListSpec, name: string): ListField {
  return spec.fields[spec.aliases?.[name] ?? name]!;
}

const ALL_WIRE_NAMES = [
  ...new Set(
    [EVENT_LIST_SPEC, LEAD_LIST_SPEC, CONVERSATION_LIST_SPEC, SOURCE_LIST_SPEC].flatMap((s) => [
      ...Object.keys(s.fields),
      ...Object.keys(s.aliases ?? {}),
    ]),
  ),
];
const COLUMN_NAMES = [
  ...new Set(
    [EVENT_LIST_SPEC, LEAD_LIST_SPEC, CONVERSATION_LIST_SPEC, SOURCE_LIST_SPEC].flatMap((s) =>
      Object.values(s.fields).map((f) => f.column),
    ),
  ),
];
const SQL_SUFFIXES = [
  "; drop table events--",
  "; delete from leads; --",
  " desc, (select 1)",
  "' or '1'='1",
  ") or (1=1",
  " union select * from api_keys--",
  "/**/",
  '"',
  "`",
  "\u0000",
  " ",
  " collate nocase",
  "[0]",
  ".length",
];

/** Any string a client might put where a field name goes: real names, columns, SQL, prototype keys, junk. */
const anyFieldName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...ALL_WIRE_NAMES),
  fc.constantFrom(...COLUMN_NAMES, "__proto__", "constructor", "toString", "hasOwnProperty", "", "*"),
  fc
    .tuple(fc.constantFrom(...ALL_WIRE_NAMES, ...COLUMN_NAMES), fc.constantFrom(...SQL_SUFFIXES))
    .map(([a, b]) => a + b),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
);

function unsupportedName(spec: ListSpec, purpose: Purpose): fc.Arbitrary<string> {
  const supported = new Set(namesFor(spec, purpose));
  return anyFieldName.filter((n) => !supported.has(n));
}

const noNul = (s: string) => !s.includes("\u0000");

/** Strings that have broken text handling somewhere before: NUL, lone surrogates, LIKE and quote metacharacters. */
const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\udfff",
    "'",
    "''",
    '"',
    "%",
    "_",
    "\\",
    "\\%",
    "😀",
    "\u202e",
    " ",
    "",
  ),
  fc
    .tuple(
      fc.string({ maxLength: 8 }),
      fc.constantFrom("\u0000", "\ud800", "'", "%", "\\"),
      fc.string({ maxLength: 8 }),
    )
    .map(([a, b, c]) => a + b + c),
);

/** RFC 3339 in UTC or with an offset, at millisecond or finer precision. */
function rfc3339(ms: number, offsetMinutes: number, fraction: string): string {
  const shifted = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  if (offsetMinutes === 0) return `${shifted}${fraction}Z`;
  const sign = offsetMinutes > 0 ? "+" : "-";
  const abs = Math.abs(offsetMinutes);
  return `${shifted}${fraction}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

const NOW = Date.now();
const validTimestamp: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      fc.integer({ min: NOW - 3_600_000, max: NOW + 3_600_000 }),
      fc.integer({ min: 0, max: 4_102_444_800_000 }),
    ),
    fc.constantFrom(0, 0, 60, -300, 330, -720, 840),
    fc.constantFrom("", ".5", ".123", ".123456", ".123456789"),
  )
  .map(([ms, off, frac]) => rfc3339(ms, off, frac));

const invalidTimestamp: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(
    "2024-01-31",
    "2024-01-31T12:00:00",
    "2024-13-01T00:00:00Z",
    "2024-02-30T25:61:00Z",
    "yesterday",
    "1700000000000",
    "+275760-09-13T00:00:00Z",
    "2024-01-31T12:00:00Z; drop table events--",
    "",
  ),
  fc.string({ maxLength: 30 }).filter((s) => parseRfc3339(s) === null),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant({}),
  fc.array(validTimestamp, { minLength: 1, maxLength: 2 }),
);

/** Wrong-typed values for a parameter whose type is `allowed` (JSON type names). */
type JsonType = "string" | "number" | "boolean" | "array" | "object";

function wrongType(...allowed: JsonType[]): fc.Arbitrary<Json> {
  const all: Array<[JsonType, fc.Arbitrary<Json>]> = [
    ["string", fc.string({ maxLength: 10 })],
    ["number", fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))],
    ["boolean", fc.boolean()],
    ["array", fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 })],
    ["object", fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 })],
  ];
  return fc.oneof(...all.filter(([t]) => !allowed.includes(t)).map(([, a]) => a));
}

interface Pools {
  /** Real string values of the seeded rows, so that valid filters sometimes match. */
  strings: string[];
  /** Genuine continuation tokens per endpoint path (default order). */
  tokens: Record<string, string[]>;
  allTokens: string[];
}

function filterValue(field: ListField, pools: Pools): fc.Arbitrary<Json> {
  if (field.values) return fc.oneof(fc.constantFrom(...field.values), fc.constant(null));
  if (field.kind === "boolean") return fc.oneof(fc.boolean(), fc.constant(null));
  return fc.oneof(
    fc.constantFrom(...pools.strings),
    fc.string({ maxLength: 20 }).filter(noNul),
    fc.string({ unit: "binary", maxLength: 20 }).filter(noNul),
    fc.constant(null),
  );
}

const BOUNDS = ["greaterThan", "greaterThanOrEqual", "lessThan", "lessThanOrEqual"] as const;

/** A RequestDataOptions body every list must accept, without a continuation token. */
function validBody(
  spec: ListSpec,
  pools: Pools,
  pageSize: fc.Arbitrary<Json>,
): fc.Arbitrary<Record<string, Json>> {
  const orderNames = namesFor(spec, "order");
  const filterNames = namesFor(spec, "filter");
  const rangeNames = namesFor(spec, "range");
  const searchNames = namesFor(spec, "search");
  const orderEntry = fc.record(
    { field: fc.constantFrom(...orderNames), direction: fc.constantFrom("asc", "desc", null) },
    { requiredKeys: ["field"] },
  );
  const filterEntry = fc
    .constantFrom(...filterNames)
    .chain((name) => fc.record({ field: fc.constant(name), value: filterValue(fieldOf(spec, name), pools) }));
  // Never a range that starts after it ends (a 400 of its own, see invalidBody): the starts take the
  // earliest of the instants drawn, across entries, as bounds on one field in two entries are one range.
  const rangeEntries = fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom(...rangeNames), fc.subarray([...BOUNDS], { minLength: 1 })), {
        maxLength: 2,
      }),
      fc.array(validTimestamp, { minLength: 8, maxLength: 8 }),
    )
    .map(([entries, values]) => {
      const sorted = [...values].sort((a, b) => compareRfc3339(a, b)!);
      const starts = entries.flatMap(([, bounds]) => bounds.filter((b) => b.startsWith("greater")));
      let nextStart = 0;
      let nextEnd = starts.length;
      return entries.map(([field, bounds]) => {
        const entry: Record<string, Json> = { field };
        for (const b of bounds) entry[b] = sorted[b.startsWith("greater") ? nextStart++ : nextEnd++]!;
        return entry;
      });
    });
  return fc.record(
    {
      pageSize,
      orderBy: fc.oneof(fc.constant(null), fc.array(orderEntry, { maxLength: 3 })),
      filters: fc.oneof(
        { weight: 3, arbitrary: fc.constant([]) },
        { weight: 2, arbitrary: fc.array(filterEntry, { maxLength: 2 }) },
        { weight: 1, arbitrary: fc.constant(null) },
      ),
      rangeFilters: fc.oneof(
        { weight: 3, arbitrary: fc.constant([]) },
        { weight: 2, arbitrary: rangeEntries },
      ),
      search: fc.oneof(
        fc.constant(null),
        fc.constantFrom("", " ", "Ada", "lead", "note", "%", "_", "\\", "a%b_c", "'", "LEAD CREATED"),
        fc.string({ maxLength: 20 }).filter(noNul),
      ),
      searchFields: fc.oneof(fc.constant(null), fc.subarray(searchNames)),
      includeCount: fc.constantFrom(true, false, null),
    },
    { requiredKeys: [] },
  );
}

/** One genuine token with one character changed (always to a different character). */
function flipped(tokens: string[]): fc.Arbitrary<string> {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/=";
  return fc
    .tuple(fc.constantFrom(...tokens), fc.nat(), fc.integer({ min: 1, max: alphabet.length - 1 }))
    .map(([token, at, step]) => {
      const i = at % token.length;
      const c = alphabet[(alphabet.indexOf(token[i]!) + step) % alphabet.length]!;
      return token.slice(0, i) + c + token.slice(i + 1);
    });
}

/** A body with exactly one invalid part, and the parameter name the 400 must mention. */
function invalidBody(endpoint: Endpoint, pools: Pools): fc.Arbitrary<{ body: Json; param: string }> {
  const { spec } = endpoint;
  const base = validBody(spec, pools, fc.integer({ min: 1, max: 500 }));
  const entriesOf = (b: Record<string, Json>, key: string) =>
    Array.isArray(b[key]) ? (b[key] as Json[]) : [];
  const withEntry = (key: string, entry: fc.Arbitrary<Json>, suffix: string) =>
    fc.tuple(base, entry).map(([b, e]) => {
      const list = [...entriesOf(b, key), e];
      return { body: { ...b, [key]: list }, param: `${key}[${list.length - 1}]${suffix}` };
    });
  const replace = (key: string, value: fc.Arbitrary<Json>, param = key) =>
    fc.tuple(base, value).map(([b, v]) => ({ body: { ...b, [key]: v }, param }));

  const stringFilterFields = namesFor(spec, "filter").filter((n) => fieldOf(spec, n).kind === "string");
  const booleanFilterFields = namesFor(spec, "filter").filter((n) => fieldOf(spec, n).kind === "boolean");
  const tokens = pools.tokens[endpoint.path] ?? [];
  const variants: Array<fc.Arbitrary<{ body: Json; param: string }>> = [
    replace(
      "pageSize",
      fc.oneof(
        fc.integer({ max: 0 }),
        fc.integer({ min: 501 }),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
        fc.constantFrom(
          "0",
          "501",
          "abc",
          "",
          " 1",
          "1.5",
          "-1",
          "1e2",
          "999999",
          "1000000",
          true,
          false,
          [],
          {},
        ),
        fc.string({ maxLength: 8 }).filter((s) => !/^\d{1,6}$/.test(s) || Number(s) < 1 || Number(s) > 500),
      ),
    ),
    withEntry(
      "orderBy",
      fc.record({ field: unsupportedName(spec, "order"), direction: fc.constantFrom("asc", "desc") }),
      ".field",
    ),
    withEntry(
      "orderBy",
      fc.record({
        field: fc.constantFrom(...namesFor(spec, "order")),
        direction: fc.string({ maxLength: 8 }).filter((d) => d !== "asc" && d !== "desc"),
      }),
      ".direction",
    ),
    withEntry("filters", fc.record({ field: unsupportedName(spec, "filter"), value: fc.string() }), ".field"),
    withEntry(
      "filters",
      fc.constantFrom(...stringFilterFields).chain((field) => {
        const def = fieldOf(spec, field);
        const bad: Array<fc.Arbitrary<Json>> = [
          wrongType("string"),
          fc.string({ minLength: 501, maxLength: 600 }),
          fc
            .tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }))
            .map(([a, b]) => `${a}\u0000${b}`),
        ];
        if (def.values) bad.push(fc.string({ maxLength: 12 }).filter((v) => !def.values!.includes(v)));
        return fc.record({ field: fc.constant(field), value: fc.oneof(...bad) });
      }),
      ".value",
    ),
    ...(booleanFilterFields.length === 0
      ? []
      : [
          withEntry(
            "filters",
            fc.record({ field: fc.constantFrom(...booleanFilterFields), value: wrongType("boolean") }),
            ".value",
          ),
        ]),
    withEntry(
      "rangeFilters",
      fc.record({ field: unsupportedName(spec, "range"), greaterThan: validTimestamp }),
      ".field",
    ),
    fc
      .tuple(base, fc.constantFrom(...namesFor(spec, "range")), fc.constantFrom(...BOUNDS), invalidTimestamp)
      .map(([b, field, bound, value]) => {
        const list = [...entriesOf(b, "rangeFilters"), { field, [bound]: value }];
        return { body: { ...b, rangeFilters: list }, param: `rangeFilters[${list.length - 1}].${bound}` };
      }),
    withEntry("rangeFilters", fc.record({ field: fc.constantFrom(...namesFor(spec, "range")) }), ""),
    // A range that starts after it ends (its end is named, or its start when the body's own end on
    // that field comes before it).
    fc
      .tuple(
        base,
        fc.constantFrom(...namesFor(spec, "range")),
        fc.constantFrom("greaterThan", "greaterThanOrEqual"),
        fc.constantFrom("lessThan", "lessThanOrEqual"),
        validTimestamp,
        validTimestamp,
      )
      .filter(([, , , , a, b]) => compareRfc3339(a, b) !== 0)
      .map(([b, field, start, end, x, y]) => {
        const [earlier, later] = compareRfc3339(x, y)! < 0 ? [x, y] : [y, x];
        const list = [...entriesOf(b, "rangeFilters"), { field, [start]: later, [end]: earlier }];
        return { body: { ...b, rangeFilters: list }, param: `rangeFilters[${list.length - 1}].` };
      }),
    fc.tuple(base, unsupportedName(spec, "search")).map(([b, name]) => {
      const list = [...entriesOf(b, "searchFields"), name];
      return { body: { ...b, searchFields: list }, param: `searchFields[${list.length - 1}]` };
    }),
    replace("orderBy", wrongType("array")),
    replace("filters", wrongType("array")),
    replace("rangeFilters", wrongType("array")),
    replace("searchFields", wrongType("array")),
    replace(
      "search",
      fc.oneof(
        wrongType("string"),
        fc.string({ minLength: 201, maxLength: 300 }),
        fc.string({ maxLength: 5 }).map((s) => `${s}\u0000`),
      ),
    ),
    replace("includeCount", wrongType("boolean")),
    replace("continuationToken", wrongType("string")),
    // Strings that were never issued, and genuine tokens of this list with one character changed.
    fc
      .tuple(fc.integer({ min: 1, max: 500 }), fc.string({ minLength: 1, maxLength: 200 }))
      .map(([pageSize, t]) => ({ body: { pageSize, continuationToken: t }, param: "continuationToken" })),
  ];
  if (tokens.length > 0) {
    variants.push(
      fc
        .tuple(fc.integer({ min: 1, max: 500 }), flipped(tokens))
        .map(([pageSize, t]) => ({ body: { pageSize, continuationToken: t }, param: "continuationToken" })),
    );
  }
  return fc.oneof(...variants);
}

/** Anything at all: valid bodies, junk in every slot, arbitrary JSON, and text that is not JSON. */
function anyPayload(endpoint: Endpoint, pools: Pools): fc.Arbitrary<{ payload: string; body?: Json }> {
  const { spec } = endpoint;
  const junk = fc.jsonValue({ maxDepth: 3 });
  const slot = (...good: Array<fc.Arbitrary<Json>>) => fc.oneof(...good, junk);
  const tokenPool = [...(pools.tokens[endpoint.path] ?? []), ...pools.allTokens];
  const token = fc.oneof(
    fc.constantFrom(...tokenPool),
    flipped(tokenPool),
    fc.string({ maxLength: 60 }),
    fc.constantFrom("", null, ".", "a.b"),
    junk,
  );
  const entry = fc.dictionary(
    fc.oneof(fc.constantFrom("field", "value", "direction", ...BOUNDS), fc.string({ maxLength: 8 })),
    slot(anyFieldName, validTimestamp, invalidTimestamp, nastyString, fc.constantFrom("asc", "desc")),
    { maxKeys: 4 },
  );
  const options = fc.record(
    {
      pageSize: slot(
        fc.integer({ min: -10, max: 600 }),
        fc.constantFrom(0, 1, 500, 501, 1e9, -1, 1.5, Number.MAX_SAFE_INTEGER, "10", "0010", "abc", ""),
        fc.double(),
      ),
      continuationToken: token,
      orderBy: slot(fc.array(entry, { maxLength: 4 })),
      filters: slot(fc.array(entry, { maxLength: 4 })),
      rangeFilters: slot(fc.array(entry, { maxLength: 4 })),
      search: slot(fc.string({ maxLength: 30 }), fc.string({ unit: "binary", maxLength: 30 }), nastyString),
      searchFields: slot(fc.array(anyFieldName, { maxLength: 4 })),
      includeCount: slot(fc.boolean()),
      extra: junk,
    },
    { requiredKeys: [] },
  );
  // The body recorded is what the server parses (JSON.stringify turns NaN into null, drops undefined).
  const asJson = (a: fc.Arbitrary<Json>) =>
    a.map((value) => {
      const payload = JSON.stringify(value);
      return { payload, body: JSON.parse(payload) as Json };
    });
  return fc.oneof(
    { weight: 4, arbitrary: asJson(options) },
    // Near-valid: a valid body with one or two slots taken from the junk above, or a nasty filter value.
    // These are the bodies that get past validation and reach SQL, so they find what the rest cannot.
    {
      weight: 3,
      arbitrary: asJson(
        fc
          .tuple(validBody(spec, pools, fc.integer({ min: 1, max: 500 })), options)
          .chain(([valid, junkOptions]) =>
            fc.subarray(Object.keys(junkOptions), { minLength: 1, maxLength: 2 }).map((keys) => ({
              ...valid,
              ...Object.fromEntries(keys.map((k) => [k, (junkOptions as Record<string, Json>)[k]])),
            })),
          ),
      ),
    },
    {
      weight: 2,
      arbitrary: asJson(
        fc
          .tuple(
            validBody(spec, pools, fc.integer({ min: 1, max: 500 })),
            fc.constantFrom(...namesFor(spec, "filter")),
            nastyString,
            nastyString,
          )
          .map(([valid, field, value, search]) => ({ ...valid, filters: [{ field, value }], search })),
      ),
    },
    { weight: 2, arbitrary: asJson(validBody(spec, pools, fc.integer({ min: 1, max: 500 }))) },
    {
      weight: 2,
      arbitrary: asJson(
        fc
          .tuple(validBody(spec, pools, fc.constant(2)), token)
          .map(([b, t]) => ({ ...b, continuationToken: t })),
      ),
    },
    { weight: 2, arbitrary: asJson(junk) },
    // Not JSON (or JSON cut short): a 400, never a 500.
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((payload) => ({ payload })) },
    {
      weight: 1,
      arbitrary: asJson(options).map(({ payload }) => ({
        payload: payload.slice(0, Math.max(1, payload.length - 1)),
      })),
    },
  );
}

function assertProblem(res: LightMyRequestResponse, path: string, ...mentions: string[]): void {
  const where = `${res.statusCode} for ${path}: ${res.body.slice(0, 500)}`;
  assert.ok(res.statusCode >= 400 && res.statusCode < 500, where);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json\b/, where);
  const p = res.json() as Record<string, unknown>;
  assert.match(String(p.type), /^urn:leadtrail:problem:[a-z0-9-]+$/, where);
  assert.ok(typeof p.title === "string" && p.title.length > 0, where);
  assert.equal(p.status, res.statusCode, where);
  assert.ok(typeof p.detail === "string" && p.detail.length > 0, where);
  assert.equal(p.instance, path, where);
  for (const m of mentions) assert.ok((p.detail as string).includes(m), `detail should name ${m}: ${where}`);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/** A 200 must be a PagedResultOf… whose items belong to the list and honour the options sent. */
function assertPage(res: LightMyRequestResponse, endpoint: Endpoint, sent: Json): Record<string, Json> {
  const where = `${endpoint.path} ${JSON.stringify(sent)?.slice(0, 400)} → ${res.body.slice(0, 400)}`;
  assert.equal(res.statusCode, 200, where);
  assert.match(String(res.headers["content-type"]), /^application\/json\b/, where);
  const page = res.json() as {
    items: Array<Record<string, Json>>;
    pageSize: number;
    totalCount: Json;
    continuationToken: Json;
  };
  assert.deepEqual(Object.keys(page).sort(), ["continuationToken", "items", "pageSize", "totalCount"], where);
  assert.ok(Array.isArray(page.items), where);
  assert.ok(Number.isInteger(page.pageSize) && page.pageSize >= 1 && page.pageSize <= 500, where);
  assert.ok(page.items.length <= page.pageSize, where);
  assert.ok(page.continuationToken === null || typeof page.continuationToken === "string", where);
  if (page.continuationToken !== null) assert.equal(page.items.length, page.pageSize, where);
  const options = (typeof sent === "object" && sent !== null ? sent : {}) as Record<string, Json>;
  if (options.pageSize !== undefined && options.pageSize !== null) {
    assert.equal(page.pageSize, Number(options.pageSize), where);
  } else {
    assert.equal(page.pageSize, 50, where);
  }
  if (options.includeCount === true) {
    assert.ok(Number.isInteger(page.totalCount) && (page.totalCount as number) >= page.items.length, where);
  } else {
    assert.equal(page.totalCount, null, where);
  }
  const ids = new Set<string>();
  for (const item of page.items) {
    assert.equal(typeof item.id, "string", where);
    assert.ok(!ids.has(item.id as string), `duplicate ${item.id}: ${where}`);
    ids.add(item.id as string);
    for (const [key, value] of Object.entries(endpoint.scope)) assert.equal(item[key], value, where);
    if (endpoint.kind === "events") {
      assertEventRecord(item);
    } else if (endpoint.kind === "leads") {
      assert.match(item.id as string, /^lead_/, where);
      assert.match(String(item.createdAt), ISO, where);
    } else if (endpoint.kind === "sources") {
      assert.match(item.id as string, /^src_/, where);
      assert.equal(typeof item.enabled, "boolean", where);
    } else {
      assert.match(item.id as string, /^conv_/, where);
      assert.match(String(item.leadId), /^lead_/, where);
    }
    // Exact filters hold for every item that shows the filtered field, as the field stores it: a
    // phone number filter written "(415) 555-0144" finds +14155550144 (phoneEquals).
    for (const f of Array.isArray(options.filters) ? (options.filters as Array<Record<string, Json>>) : []) {
      const name = f.field as string;
      if ((typeof f.value === "string" || typeof f.value === "boolean") && Object.hasOwn(item, name)) {
        const stored =
          typeof f.value === "string" && PHONE_FIELDS.has(name) ? (toE164(f.value) ?? f.value) : f.value;
        assert.equal(item[name], stored, `filter ${name}: ${where}`);
      }
    }
    // createdAt range filters hold.
    for (const r of Array.isArray(options.rangeFilters)
      ? (options.rangeFilters as Array<Record<string, Json>>)
      : []) {
      if (r.field !== "createdAt" || typeof item.createdAt !== "string") continue;
      const at = Date.parse(item.createdAt);
      const bound = (k: string) => parseRfc3339(r[k] as string)!;
      if (typeof r.greaterThan === "string") assert.ok(at > bound("greaterThan"), where);
      if (typeof r.greaterThanOrEqual === "string") assert.ok(at >= bound("greaterThanOrEqual"), where);
      if (typeof r.lessThan === "string") assert.ok(at < bound("lessThan"), where);
      if (typeof r.lessThanOrEqual === "string") assert.ok(at <= bound("lessThanOrEqual"), where);
    }
  }
  return page as unknown as Record<string, Json>;
}

async function counts(db: Kysely<Database>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ["events", "leads", "conversations", "event_transitions", "sources"] as const) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

forEachEngine("list endpoints under random bodies", (engine) => {
  let api: TestApi;
  const endpoints: Endpoint[] = [];
  const pools: Pools = { strings: [], tokens: {}, allTokens: [] };
  let countsBefore: Record<string, number>;

  const post = (path: string, payload: string) =>
    api.app.inject({
      method: "POST",
      url: path,
      headers: { authorization: `Bearer ${api.org.apiKey}`, "content-type": "application/json" },
      payload,
    });

  before(async () => {
    api = await startTestApi(engine);
    const leads: Array<{ id: string; conversationId: string }> = [];
    for (const [firstName, lastName, phone, email] of [
      ["Ada", "Lovelace", "(415) 555-0142", "ada@example.com"],
      ["Grace", "Hopper", "(415) 555-0143", null],
      ["Alan", "Turing", "(415) 555-0144", "alan@example.com"],
      ["Edsger", null, "(415) 555-0145", null],
    ] as const) {
      const res = await api.call("POST", "/leads", {
        contact: { firstName, lastName, email, phone: { number: phone } },
        metadata: { sourceId: "src_web" },
      });
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      const conv = await api.call("POST", `/conversations/lead/${id}`, {});
      leads.push({ id, conversationId: conv.json().items[0].id });
      pools.strings.push(id, conv.json().items[0].id, firstName, phone, "+14155550142");
      if (lastName) pools.strings.push(lastName);
      if (email) pools.strings.push(email);
    }
    const [a] = leads;
    for (const text of ["first note", "second note: 50% off_sale \\ 'quoted'", "third"]) {
      const note = await api.call("POST", `/events/conversations/${a!.conversationId}/notes`, { text });
      assert.equal(note.statusCode, 200, note.body);
      pools.strings.push(note.json().id);
    }
    const updated = await api.call("PUT", `/leads/${a!.id}`, {
      contact: { firstName: "Ada", lastName: "King", phone: { number: "(415) 555-0142" } },
    });
    assert.equal(updated.statusCode, 200, updated.body);
    pools.strings.push("src_web", "King", "LeadCreated", "Note", "Completed");

    // Another organization with data of its own: none of it may ever show up.
    const other = await createOrganization(api.db.store.db, "Other Org");
    const theirs = await api.call(
      "POST",
      "/leads",
      { contact: { firstName: "Ada", phone: { number: "(415) 555-0142" } } },
      other.apiKey,
    );
    assert.equal(theirs.statusCode, 201, theirs.body);
    pools.strings.push(theirs.json().id, other.organizationId);

    for (const [name, enabled] of [
      ["Quote Form Co", true],
      ["quote form co", false],
      ["Acme Leads", true],
    ] as const) {
      const source = await api.call("POST", "/sources", { name, enabled, description: `${name} vendor` });
      assert.equal(source.statusCode, 201, source.body);
      pools.strings.push(source.json().id, name);
    }
    const theirSource = await api.call("POST", "/sources", { name: "Acme Leads" }, other.apiKey);
    assert.equal(theirSource.statusCode, 201, theirSource.body);
    pools.strings.push(theirSource.json().id);

    endpoints.push(
      {
        name: "POST /events/leads/{leadId}",
        path: `/events/leads/${a!.id}`,
        spec: EVENT_LIST_SPEC,
        kind: "events",
        scope: { leadId: a!.id },
      },
      {
        name: "POST /events/conversations/{conversationId}",
        path: `/events/conversations/${a!.conversationId}`,
        spec: EVENT_LIST_SPEC,
        kind: "events",
        scope: { conversationId: a!.conversationId },
      },
      {
        name: "POST /events/organizations/{organizationId}",
        path: `/events/organizations/${api.org.organizationId}`,
        spec: EVENT_LIST_SPEC,
        kind: "events",
        scope: {},
      },
      {
        name: "POST /events/all/my",
        path: "/events/all/my",
        spec: EVENT_LIST_SPEC,
        kind: "events",
        scope: {},
      },
      { name: "POST /leads/all/my", path: "/leads/all/my", spec: LEAD_LIST_SPEC, kind: "leads", scope: {} },
      {
        name: "POST /conversations/lead/{leadId}",
        path: `/conversations/lead/${a!.id}`,
        spec: CONVERSATION_LIST_SPEC,
        kind: "conversations",
        scope: { leadId: a!.id },
      },
      {
        name: "POST /conversations/my",
        path: "/conversations/my",
        spec: CONVERSATION_LIST_SPEC,
        kind: "conversations",
        scope: {},
      },
      {
        name: "POST /sources/all/my",
        path: "/sources/all/my",
        spec: SOURCE_LIST_SPEC,
        kind: "sources",
        scope: {},
      },
    );
    for (const endpoint of endpoints) {
      pools.tokens[endpoint.path] = [];
      for (const pageSize of [1, 2]) {
        const res = await post(endpoint.path, JSON.stringify({ pageSize }));
        assert.equal(res.statusCode, 200, res.body);
        const token = res.json().continuationToken;
        if (typeof token === "string") pools.tokens[endpoint.path]!.push(token);
      }
      const ordered = await post(
        endpoint.path,
        JSON.stringify({ pageSize: 1, orderBy: [{ field: "id", direction: "asc" }] }),
      );
      const token = ordered.json().continuationToken;
      if (typeof token === "string") pools.allTokens.push(token);
      pools.allTokens.push(...pools.tokens[endpoint.path]!);
    }
    assert.ok(pools.allTokens.length > 0);
    countsBefore = await counts(api.db.store.db);
  });

  after(async () => {
    if (!api) return;
    try {
      // Thousands of random requests later, not a row has changed.
      assert.deepEqual(await counts(api.db.store.db), countsBefore);
    } finally {
      await api.close();
    }
  });

  // Declared synchronously (the suite body cannot await); each test reads `endpoints` when it runs.
  const ENDPOINT_NAMES = [
    "POST /events/leads/{leadId}",
    "POST /events/conversations/{conversationId}",
    "POST /events/organizations/{organizationId}",
    "POST /events/all/my",
    "POST /leads/all/my",
    "POST /conversations/lead/{leadId}",
    "POST /conversations/my",
    "POST /sources/all/my",
  ];
  const endpointNamed = (name: string) => endpoints.find((e) => e.name === name)!;

  for (const name of ENDPOINT_NAMES) {
    test(`${name}: any body is a well-formed page or a 4xx problem, never a 5xx`, async () => {
      const endpoint = endpointNamed(name);
      await fc.assert(
        fc.asyncProperty(anyPayload(endpoint, pools), async ({ payload, body }) => {
          const res = await post(endpoint.path, payload);
          assert.ok(
            res.statusCode < 500,
            `${res.statusCode} for ${payload.slice(0, 400)}: ${res.body.slice(0, 400)}`,
          );
          if (res.statusCode === 200) assertPage(res, endpoint, body);
          else assertProblem(res, endpoint.path);
        }),
        fcOptions,
      );
    });

    test(`${name}: a body with one invalid part is a 400 naming that part`, async () => {
      const endpoint = endpointNamed(name);
      await fc.assert(
        fc.asyncProperty(invalidBody(endpoint, pools), async ({ body, param }) => {
          const res = await post(endpoint.path, JSON.stringify(body));
          assert.equal(
            res.statusCode,
            400,
            `${JSON.stringify(body).slice(0, 400)} → ${res.body.slice(0, 400)}`,
          );
          assertProblem(res, endpoint.path, param);
        }),
        fcOptions,
      );
    });

    test(`${name}: any valid body is a page, and its tokens walk every matching row exactly once`, async () => {
      const endpoint = endpointNamed(name);
      const body = validBody(endpoint.spec, pools, fc.integer({ min: 1, max: 3 })).map((b) => ({
        ...b,
        includeCount: true,
      }));
      await fc.assert(
        fc.asyncProperty(body, async (options) => {
          const seen = new Set<string>();
          let token: string | null = null;
          let total: number | null = null;
          for (let pages = 0; pages < 100; pages++) {
            const sent = token === null ? options : { ...options, continuationToken: token };
            const page = assertPage(await post(endpoint.path, JSON.stringify(sent)), endpoint, sent);
            total ??= page.totalCount as number;
            assert.equal(page.totalCount, total, "totalCount is stable across pages");
            for (const item of page.items as Array<{ id: string }>) {
              assert.ok(!seen.has(item.id), `${item.id} seen twice for ${JSON.stringify(options)}`);
              seen.add(item.id);
            }
            token = page.continuationToken as string | null;
            if (token === null) break;
          }
          assert.equal(token, null, "the walk ends");
          assert.equal(seen.size, total, `every row once for ${JSON.stringify(options)}`);
        }),
        { ...fcOptions, numRuns: Math.max(10, Math.round(RUNS / 2)) },
      );
    });
  }
});
