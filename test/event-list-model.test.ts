import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { foldCase } from "../src/domain/case-fold.js";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import { newEventRow } from "../src/store/events-repo.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import type { EventRow } from "../src/store/schema.js";
import { assertEventRecord, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

// A model of the event lists: the organization's events kept in memory beside the database, and what
// a page must be computed from them alone (filter, range, search, order, count, keyset cursor). Every
// page of a walk is compared with the model's page, while writes land between pages: new events on
// either side of the cursor, and changes to the mutable fields a query filters, ranges or searches
// on (status, deliveredAt, summary) or a list's scope holds (the recipient, for a phone number's SMS
// thread). Order keys (createdAt, id) never change, so the model's cursor is the last item's keys: a
// page is the model's matching events after it, in order, pageSize of them. Runs
// LEADTRAIL_PROPERTY_RUNS / 2 (default 50) walks per list and engine; a failure prints the seed.

const RUNS = Number(process.env.LEADTRAIL_PROPERTY_RUNS ?? 100);
const SEED = process.env.LEADTRAIL_PROPERTY_SEED ? Number(process.env.LEADTRAIL_PROPERTY_SEED) : undefined;
const fcOptions = {
  numRuns: Math.max(10, Math.round(RUNS / 2)),
  ...(SEED === undefined ? {} : { seed: SEED }),
};

const BASE = Date.parse("2025-06-01T12:00:00Z");

/**
 * Letters whose case folds differently across engines and runtimes (İ, the Kelvin sign, ß and ẞ, the
 * sigmas), LIKE's metacharacters, an emoji and a space.
 */
const LETTERS = [
  "a",
  "A",
  "i",
  "I",
  "k",
  "K",
  "İ",
  "ı",
  "\u212a",
  "é",
  "É",
  "ß",
  "ẞ",
  "σ",
  "Σ",
  "ς",
  "%",
  "_",
  "\\",
  "😀",
  " ",
];
const text = fc.array(fc.constantFrom(...LETTERS), { maxLength: 6 }).map((letters) => letters.join(""));

interface ModelEvent {
  id: string;
  createdAt: number;
  activityType: (typeof ACTIVITY_TYPES)[number];
  status: string | null;
  direction: string | null;
  campaignId: string | null;
  deliveredAt: number | null;
  summary: string | null;
  description: string;
  /** A message's text: the SMS lists' `text` field. */
  body: string | null;
  fromPhoneNumber: string | null;
  toPhoneNumber: string | null;
}

/** The number whose SMS thread is walked, and another one. */
const THREAD = "+14155550142";
const PHONES = [null, THREAD, "+14155550143"] as const;

const ACTIVITY_TYPES = ["Sms", "Mms", "Note", "Call"] as const;
const STATUSES = [null, "Queued", "Delivered", "Failed", "Completed"] as const;
const DIRECTIONS = [null, "inbound", "outbound"] as const;
const CAMPAIGNS = [null, "cmp_1", "cmp_2"] as const;

/** Instants half a second apart, so that events share a createdAt and bounds fall on and beside them. */
const instant = fc.integer({ min: 0, max: 6 }).map((half) => BASE + half * 500);

const newEvent = fc.record({
  createdAt: instant,
  activityType: fc.constantFrom(...ACTIVITY_TYPES),
  status: fc.constantFrom(...STATUSES),
  direction: fc.constantFrom(...DIRECTIONS),
  campaignId: fc.constantFrom(...CAMPAIGNS),
  deliveredAt: fc.option(instant),
  summary: fc.option(text),
  description: text,
  body: fc.option(text),
  fromPhoneNumber: fc.constantFrom(...PHONES),
  toPhoneNumber: fc.constantFrom(...PHONES),
});
type NewModelEvent = Omit<ModelEvent, "id">;

/** The mutable fields a write changes between pages, and their columns. */
const COLUMNS = {
  status: "status",
  deliveredAt: "delivered_at",
  summary: "summary",
  toPhoneNumber: "to_phone_number",
} as const;

type Write =
  | { kind: "insert"; event: NewModelEvent }
  | { kind: "update"; which: number; field: keyof typeof COLUMNS; value: string | number | null };

const change = (field: keyof typeof COLUMNS, value: fc.Arbitrary<string | number | null>) =>
  fc.record({ kind: fc.constant("update" as const), which: fc.nat(), field: fc.constant(field), value });

const write: fc.Arbitrary<Write> = fc.oneof(
  newEvent.map((event) => ({ kind: "insert" as const, event })),
  change("status", fc.constantFrom(...STATUSES)),
  change("deliveredAt", fc.option(instant)),
  change("summary", fc.option(text)),
  change("toPhoneNumber", fc.constantFrom(...PHONES)),
);

// The query: exact filters (null included) on fields some events leave empty, range bounds on a
// never-null and a nullable time (equal, inverted and open bounds, offsets, fractions finer than the
// millisecond; an inverted range is a 400 naming its bound), a search term and its fields, any order.

const BOUND_NAMES = ["greaterThan", "greaterThanOrEqual", "lessThan", "lessThanOrEqual"] as const;

interface Bound {
  name: (typeof BOUND_NAMES)[number];
  /** The instant written, in nanoseconds since the epoch. */
  nanos: bigint;
  wire: string;
}

/** An RFC 3339 instant with nine fraction digits, written at an offset from UTC. */
function writtenAt(nanos: bigint, offsetMinutes: number): string {
  const ms = Number(nanos / 1_000_000n);
  const fraction = String(nanos % 1_000_000_000n).padStart(9, "0");
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  if (offsetMinutes === 0) return `${local}.${fraction}Z`;
  const abs = Math.abs(offsetMinutes);
  const hhmm = `${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return `${local}.${fraction}${offsetMinutes > 0 ? "+" : "-"}${hhmm}`;
}

const bound: fc.Arbitrary<Bound> = fc
  .record({
    name: fc.constantFrom(...BOUND_NAMES),
    at: instant,
    finer: fc.constantFrom(0, 1, 500_000, 999_999, -1),
    offset: fc.constantFrom(0, 330, -300),
  })
  .map(({ name, at, finer, offset }) => {
    const nanos = BigInt(at) * 1_000_000n + BigInt(finer);
    return { name, nanos, wire: writtenAt(nanos, offset) };
  });

interface Range {
  field: "createdAt" | "deliveredAt";
  bounds: Bound[];
}

const range: fc.Arbitrary<Range> = fc.record({
  field: fc.constantFrom("createdAt" as const, "deliveredAt" as const),
  bounds: fc.uniqueArray(bound, { minLength: 1, maxLength: 2, selector: (b) => b.name }),
});

type FilterField = "activityType" | "status" | "direction" | "campaignId";
interface Filter {
  field: FilterField;
  value: string | null;
}
const filter: fc.Arbitrary<Filter> = fc.oneof(
  fc.record({ field: fc.constant("activityType" as const), value: fc.constantFrom(...ACTIVITY_TYPES) }),
  fc.record({ field: fc.constant("status" as const), value: fc.constantFrom(...STATUSES) }),
  fc.record({ field: fc.constant("direction" as const), value: fc.constantFrom(...DIRECTIONS) }),
  fc.record({ field: fc.constant("campaignId" as const), value: fc.constantFrom(...CAMPAIGNS) }),
);

type OrderField = "createdAt" | "id";
type Direction = "asc" | "desc";
interface Query {
  pageSize: number;
  orderBy: Array<{ field: OrderField; direction: Direction }>;
  filters: Filter[];
  rangeFilters: Range[];
  search: string | null;
  searchFields: SearchField[] | null;
}

type SearchField = "summary" | "description" | "text";
const SEARCHED: Record<SearchField, "summary" | "description" | "body"> = {
  summary: "summary",
  description: "description",
  text: "body",
};

/**
 * A list walked: its path, the events it holds (its scope), and the fields it searches by default
 * (every one it accepts).
 */
interface Endpoint {
  path: string;
  holds: (e: ModelEvent) => boolean;
  searchFields: SearchField[];
  /** Whether its items are event records (the SMS lists' are SmsEventTableRows). */
  eventRecords: boolean;
}

const ENDPOINTS: Record<string, Endpoint> = {
  "the organization's events": {
    path: "/events/all/my",
    holds: () => true,
    searchFields: ["summary", "description"],
    eventRecords: true,
  },
  // Its scope is a disjunction, read as one branch per side (runList's anyOf).
  "a phone number's SMS thread": {
    path: `/events/sms/phone/${encodeURIComponent(THREAD)}`,
    holds: (e) =>
      (e.activityType === "Sms" || e.activityType === "Mms") &&
      (e.fromPhoneNumber === THREAD || e.toPhoneNumber === THREAD),
    searchFields: ["summary", "description", "text"],
    eventRecords: false,
  },
};

const query = (endpoint: Endpoint): fc.Arbitrary<Query> =>
  fc.record({
    pageSize: fc.integer({ min: 1, max: 4 }),
    orderBy: fc.array(
      fc.record({
        field: fc.constantFrom("createdAt" as const, "id" as const),
        direction: fc.constantFrom("asc" as const, "desc" as const),
      }),
      { maxLength: 2 },
    ),
    filters: fc.array(filter, { maxLength: 2 }),
    rangeFilters: fc.array(range, { maxLength: 2 }),
    search: fc.option(fc.oneof(text, fc.constantFrom("I", "k", "ss", "%", "_", "\\", "😀"))),
    searchFields: fc.option(fc.subarray(endpoint.searchFields)),
  });

// The model's answers.

function matchesRange(value: number | null, b: Bound): boolean {
  if (value === null) return false;
  const at = BigInt(value) * 1_000_000n;
  switch (b.name) {
    case "greaterThan":
      return at > b.nanos;
    case "greaterThanOrEqual":
      return at >= b.nanos;
    case "lessThan":
      return at < b.nanos;
    case "lessThanOrEqual":
      return at <= b.nanos;
  }
}

/**
 * The bound a query's range is refused for, as the server reads them (entries in order, each one's
 * bounds in BOUND_NAMES order): the first that makes a field's range start after it ends, counting
 * the bounds of every entry on that field. Null when none does (a start equal to its end is taken).
 */
function invertedBound(q: Query): string | null {
  const seen: Array<{ field: Range["field"]; start: boolean; nanos: bigint }> = [];
  for (const [i, r] of q.rangeFilters.entries()) {
    for (const name of BOUND_NAMES) {
      const b = r.bounds.find((x) => x.name === name);
      if (!b) continue;
      const start = name.startsWith("greater");
      for (const other of seen) {
        if (other.field !== r.field || other.start === start) continue;
        if (start ? b.nanos > other.nanos : other.nanos > b.nanos) return `rangeFilters[${i}].${name}`;
      }
      seen.push({ field: r.field, start, nanos: b.nanos });
    }
  }
  return null;
}

function matches(endpoint: Endpoint, e: ModelEvent, q: Query): boolean {
  if (!endpoint.holds(e)) return false;
  if (!q.filters.every((f) => e[f.field] === f.value)) return false;
  if (!q.rangeFilters.every((r) => r.bounds.every((b) => matchesRange(e[r.field], b)))) return false;
  const term = q.search?.trim() ?? "";
  if (term.length === 0) return true;
  const fields = q.searchFields && q.searchFields.length > 0 ? q.searchFields : endpoint.searchFields;
  return fields.some((f) => {
    const value = e[SEARCHED[f]];
    return value !== null && foldCase(value).includes(foldCase(term));
  });
}

/** The order keys of a query: as asked (each field once), else createdAt desc; then createdAt, id. */
function orderKeys(q: Query): Array<{ field: OrderField; direction: Direction }> {
  const keys: Array<{ field: OrderField; direction: Direction }> = [];
  for (const key of q.orderBy.length > 0
    ? q.orderBy
    : [{ field: "createdAt" as const, direction: "desc" as const }]) {
    if (!keys.some((k) => k.field === key.field)) keys.push(key);
  }
  for (const field of ["createdAt", "id"] as const) {
    if (!keys.some((k) => k.field === field)) keys.push({ field, direction: keys[0]!.direction });
  }
  return keys;
}

function compare(q: Query, a: ModelEvent, b: ModelEvent): number {
  for (const { field, direction } of orderKeys(q)) {
    const diff = a[field] < b[field] ? -1 : a[field] > b[field] ? 1 : 0;
    if (diff !== 0) return direction === "asc" ? diff : -diff;
  }
  return 0;
}

function requestBody(q: Query, continuationToken: string | null): Record<string, unknown> {
  return {
    pageSize: q.pageSize,
    includeCount: true,
    continuationToken,
    orderBy: q.orderBy,
    filters: q.filters,
    rangeFilters: q.rangeFilters.map((r) => ({
      field: r.field,
      ...Object.fromEntries(r.bounds.map((b) => [b.name, b.wire])),
    })),
    search: q.search,
    searchFields: q.searchFields,
  };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

forEachEngine("event lists against a model, with writes between pages", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  let walk = 0;
  for (const [name, endpoint] of Object.entries(ENDPOINTS)) {
    test(`${name}: every page is the model's page after the cursor, and totalCount the model's count`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(newEvent, { maxLength: 12 }),
          query(endpoint),
          fc.array(fc.option(write, { nil: undefined }), { maxLength: 8 }),
          async (initial, q, writes) => {
            // An organization of its own per walk: nothing else in the list.
            const org = await createOrganization(api.db.store.db, `Model ${walk++}`);
            const model: ModelEvent[] = [];
            const insert = async (event: NewModelEvent) => {
              const row: EventRow = newEventRow(
                {
                  organization_id: org.organizationId,
                  event_type: event.activityType === "Note" ? "NoteCreated" : "SmsOutbound",
                  activity_type: event.activityType,
                  activity_category: ACTIVITY_CATEGORY[event.activityType],
                  description: event.description,
                  summary: event.summary,
                  status: event.status,
                  direction: event.direction,
                  campaign_id: event.campaignId,
                  delivered_at: event.deliveredAt,
                  body: event.body,
                  from_phone_number: event.fromPhoneNumber,
                  to_phone_number: event.toPhoneNumber,
                  created_by: org.userId,
                },
                event.createdAt,
              );
              await api.db.store.db.insertInto("events").values(row).execute();
              model.push({ ...event, id: row.id });
            };
            for (const event of initial) await insert(event);
            const update = async ({ which, field, value }: Extract<Write, { kind: "update" }>) => {
              if (model.length === 0) return;
              const target = model[which % model.length]!;
              await api.db.store.db
                .updateTable("events")
                .set({ [COLUMNS[field]]: value })
                .where("organization_id", "=", org.organizationId)
                .where("id", "=", target.id)
                .execute();
              Object.assign(target, { [field]: value });
            };

            // A range that starts after it ends is refused, naming the bound that makes it so.
            const inverted = invertedBound(q);
            if (inverted !== null) {
              const res = await api.call("POST", endpoint.path, requestBody(q, null), org.apiKey);
              const where = JSON.stringify(requestBody(q, null));
              assert.equal(res.statusCode, 400, `${where}: ${res.body}`);
              assert.deepEqual(Object.keys(res.json().errors), [inverted], `${where}: ${res.body}`);
              return;
            }
            const seen: ModelEvent[] = [];
            let token: string | null = null;
            for (let page = 0; ; page++) {
              assert.ok(page < 100, "the walk ends");
              const res = await api.call("POST", endpoint.path, requestBody(q, token), org.apiKey);
              assert.equal(res.statusCode, 200, res.body);
              const body = res.json() as {
                items: Array<Record<string, unknown>>;
                totalCount: number;
                continuationToken: string | null;
              };
              const matching = model.filter((e) => matches(endpoint, e, q)).sort((a, b) => compare(q, a, b));
              const last = seen.at(-1);
              const ahead = last ? matching.filter((e) => compare(q, e, last) > 0) : matching;
              const expected = ahead.slice(0, q.pageSize);
              const where = `page ${page} of ${JSON.stringify(requestBody(q, null))}`;
              assert.deepEqual(
                body.items.map((i) => i.id),
                expected.map((e) => e.id),
                where,
              );
              assert.equal(body.totalCount, matching.length, `totalCount, ${where}`);
              assert.equal(body.continuationToken !== null, ahead.length > q.pageSize, `token, ${where}`);
              if (endpoint.eventRecords)
                body.items.forEach((item, i) => {
                  assertEventRecord(item);
                  const e = expected[i]!;
                  assert.deepEqual(
                    [
                      item.createdAt,
                      item.status,
                      item.direction,
                      item.campaignId,
                      item.deliveredAt,
                      item.summary,
                    ],
                    [iso(e.createdAt), e.status, e.direction, e.campaignId, iso(e.deliveredAt), e.summary],
                    where,
                  );
                });
              seen.push(...expected);
              token = body.continuationToken;
              if (token === null) break;
              const next = writes[page];
              if (next?.kind === "insert") await insert(next.event);
              else if (next) await update(next);
            }
            assert.equal(new Set(seen.map((e) => e.id)).size, seen.length, "no event twice");
          },
        ),
        fcOptions,
      );
    });
  }
});
