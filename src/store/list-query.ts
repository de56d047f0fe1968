import { createHash } from "node:crypto";
import { type Kysely, type RawBuilder, sql } from "kysely";
import { foldCase } from "../domain/case-fold.js";
import { toE164 } from "../domain/phone.js";
import { exceedsCharacters } from "../domain/plain-text.js";
import { badRequest } from "../domain/problem.js";
import { compareRfc3339, parseRfc3339 } from "../domain/time.js";
import type { CursorCodec, CursorValue } from "./cursor.js";
import type { Connection } from "./database.js";
import type { Database } from "./schema.js";
import type { SearchMatch } from "./search-match.js";

// The RequestDataOptions query language (CONTRACT.md "Lists"), shared by every paged resource:
// exact filters, range filters, search and keyset ordering over whitelisted fields only. Field names
// never reach SQL: each wire name maps to a column in the resource's ListSpec.

/** "boolean": a 0/1 column, filtered by a JSON true or false. */
export type FieldKind = "string" | "timestamp" | "integer" | "boolean";

export interface ListField {
  column: string;
  kind: FieldKind;
  filter?: boolean;
  range?: boolean;
  /** Only NOT NULL, indexed columns may order a list (keyset paging needs total order). */
  order?: boolean;
  search?: boolean;
  /** Allowed values for an exact filter (enums), checked so a typo is a 400, not an empty page. */
  values?: readonly string[];
  /**
   * Builds an exact filter's condition from its (string) value instead of `column = value`: for a
   * value with several spellings. Throws a 400 naming `param` for a value it does not know.
   */
  match?: (value: string, param: string) => RawBuilder<unknown>;
  /** The search term as this field's stored form spells it, when that differs (phone numbers). */
  searchTerm?: (term: string) => string;
}

export interface ListSpec {
  resource: string;
  table: keyof Database;
  fields: Record<string, ListField>;
  /** Wire names that mean the same field (e.g. timelineType for activityType). */
  aliases?: Record<string, string>;
  defaultOrder: { field: string; direction: Direction };
  /** Appended after the requested order, in order, unless already present: makes the order total. */
  tieBreakers: string[];
  /**
   * Read the rows as arrays of these columns (ArrayRowReader) and build each with `fromArray`,
   * instead of `select *` into driver-built objects: for wide rows.
   */
  rowShape?: RowShape;
}

export interface RowShape {
  columns: readonly string[];
  fromArray: (values: unknown[]) => unknown;
}

/**
 * ListField.match for a column of E.164 numbers: the value is compared as the number it reads as
 * ("(415) 555-0142" finds +14155550142, as stored); one that is no phone number (a short code, a
 * sender id) as written.
 */
export const phoneEquals = (column: string) => (value: string) =>
  sql`${sql.ref(column)} = ${toE164(value) ?? value}`;

/** ListField.match for a column of emails, which are stored lower-cased: a filter in any case finds them. */
export const emailEquals = (column: string) => (value: string) =>
  sql`${sql.ref(column)} = ${value.trim().toLowerCase()}`;

/**
 * ListField.searchTerm for a column of E.164 numbers: a term written as (part of) a phone number,
 * "(415) 555-01" or "415.555", is searched as its digits, which the stored +14155550142 contains in a
 * row; any other term as written.
 */
export const phoneDigits = (term: string) =>
  /^[\d\s().+-]*\d[\d\s().+-]*$/.test(term) ? term.replace(/\D/g, "") : term;

export type Direction = "asc" | "desc";

export interface RequestDataOptions {
  pageSize?: unknown;
  continuationToken?: unknown;
  orderBy?: unknown;
  includeCount?: unknown;
  search?: unknown;
  searchFields?: unknown;
  filters?: unknown;
  rangeFilters?: unknown;
}

export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 50;

interface OrderKey {
  field: string;
  column: string;
  direction: Direction;
}

export interface ParsedList {
  pageSize: number;
  order: OrderKey[];
  conditions: RawBuilder<unknown>[];
  /** The continuation token as sent (canonical form checked); runList verifies it against the full scope. */
  token: string | null;
  includeCount: boolean;
  /** Whether the query searches text: a scan of the organization's rows that no index serves. */
  searches: boolean;
  fingerprint: string;
}

function listNames(names: Iterable<string>): string {
  return [...names].sort().join(", ");
}

function resolveField(
  spec: ListSpec,
  name: unknown,
  purpose: keyof ListField,
  param: string,
): [string, ListField] {
  // Every name that is accepted for this purpose, aliases included (timelineType is a filter too).
  const supported = Object.entries(spec.fields)
    .filter(([, f]) => f[purpose])
    .map(([n]) => n);
  for (const [alias, target] of Object.entries(spec.aliases ?? {})) {
    if (spec.fields[target]?.[purpose]) supported.push(alias);
  }
  if (typeof name !== "string" || name.length === 0) {
    throw badRequest(`${param} needs a field name; supported: ${listNames(supported)}.`, param);
  }
  // Own properties only: "constructor" or "__proto__" must not resolve through the prototype chain.
  const canonical = spec.aliases && Object.hasOwn(spec.aliases, name) ? spec.aliases[name]! : name;
  const field = Object.hasOwn(spec.fields, canonical) ? spec.fields[canonical] : undefined;
  if (!field?.[purpose]) {
    throw badRequest(
      `${param}: '${name.slice(0, 100)}' is not a supported field for ${spec.resource}; supported: ${listNames(supported)}.`,
      param,
    );
  }
  return [canonical, field];
}

function asArray(value: unknown, param: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw badRequest(`${param} must be an array.`, param);
  if (value.length > 20) throw badRequest(`${param} accepts at most 20 entries.`, param);
  return value;
}

function asObject(value: unknown, param: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(`${param} entries must be objects.`, param);
  }
  return value as Record<string, unknown>;
}

/**
 * PostgreSQL text cannot hold U+0000 (the query fails with SQLSTATE 22021), so a NUL in a value is a
 * 400 on both engines rather than a 500 on one and an empty page on the other.
 */
function assertStorableText(value: string, param: string): void {
  if (value.includes("\u0000")) {
    throw badRequest(`${param} must not contain the NUL character (U+0000).`, param);
  }
}

/**
 * Tokens are compared as issued: base64url in canonical form only. Node's decoder also takes the
 * standard alphabet and ignores the unused low bits of the last character, so without this check a
 * token with one character changed could still decode to the same bytes and be accepted.
 */
function isCanonicalToken(token: string): boolean {
  const parts = token.split(".");
  return (
    parts.length === 2 &&
    parts.every(
      (part) =>
        /^[A-Za-z0-9_-]+$/.test(part) && Buffer.from(part, "base64url").toString("base64url") === part,
    )
  );
}

function parsePageSize(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_PAGE_SIZE;
  const n = typeof value === "string" && /^\d{1,6}$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw badRequest(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}.`, "pageSize");
  }
  return n;
}

/**
 * Converts a wire value to the column's stored type, or throws a 400 naming the parameter. A time
 * finer than the millisecond is rounded up for a `<` or `>=` bound (`roundUp`), else cut off.
 */
function columnValue(field: ListField, value: unknown, param: string, roundUp = false): string | number {
  switch (field.kind) {
    case "timestamp": {
      const ms = typeof value === "string" ? parseRfc3339(value, roundUp) : null;
      if (ms === null)
        throw badRequest(`${param} must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z.`, param);
      return ms;
    }
    case "integer": {
      const n = typeof value === "string" && /^-?\d{1,15}$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isSafeInteger(n))
        throw badRequest(`${param} must be an integer.`, param);
      return n;
    }
    case "boolean": {
      if (typeof value !== "boolean") throw badRequest(`${param} must be true or false.`, param);
      return value ? 1 : 0;
    }
    case "string": {
      if (typeof value !== "string" || exceedsCharacters(value, 500)) {
        throw badRequest(`${param} must be a string of at most 500 characters.`, param);
      }
      assertStorableText(value, param);
      if (field.values && !field.values.includes(value)) {
        throw badRequest(
          `${param}: '${value.slice(0, 100)}' is not one of ${field.values.join(", ")}.`,
          param,
        );
      }
      return value;
    }
  }
}

function parseOrder(spec: ListSpec, value: unknown): OrderKey[] {
  const requested = asArray(value, "orderBy").map((entry, i) => {
    const o = asObject(entry, `orderBy[${i}]`);
    const [field, def] = resolveField(spec, o.field, "order", `orderBy[${i}].field`);
    const direction = o.direction ?? "asc";
    if (direction !== "asc" && direction !== "desc") {
      throw badRequest(`orderBy[${i}].direction must be 'asc' or 'desc'.`, `orderBy[${i}].direction`);
    }
    return { field, column: def.column, direction: direction as Direction };
  });
  const order = requested.length > 0 ? requested : [{ ...spec.defaultOrder, column: "" }];
  const keys: OrderKey[] = [];
  for (const key of order) {
    if (keys.some((k) => k.field === key.field)) continue;
    keys.push({ ...key, column: spec.fields[key.field]!.column });
  }
  const tieDirection = keys[0]!.direction;
  for (const field of spec.tieBreakers) {
    if (!keys.some((k) => k.field === field)) {
      keys.push({ field, column: spec.fields[field]!.column, direction: tieDirection });
    }
  }
  return keys;
}

function escapeLike(term: string): string {
  return term.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The scope a continuation token is bound to (a token from one lead's list fails on another's). */
export function scopeKeyOf(scope: Record<string, string>): string {
  return Object.entries(scope)
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/**
 * The bounds a body's rangeFilters put on each field, across its entries: a start (greaterThan,
 * greaterThanOrEqual) after an end (lessThan, lessThanOrEqual) is a 400 naming the bound that makes
 * it so, as startAt after endAt is (event-list-spec.ts). Compared as written, to the nanosecond; a
 * start equal to its end is taken: `greaterThanOrEqual` and `lessThanOrEqual` at one instant match
 * it, and a bound that excludes it (`lessThan`, half-open as endAt is) makes an empty page.
 */
class RangeBounds {
  private readonly byColumn = new Map<
    string,
    Array<{ start: boolean; value: string | number; param: string }>
  >();

  add(field: ListField, name: string, value: string | number, param: string): void {
    const start = name.startsWith("greater");
    const seen = this.byColumn.get(field.column) ?? [];
    for (const other of seen) {
      if (other.start === start) continue;
      const [first, last] = start ? [{ value, param }, other] : [other, { value, param }];
      if (compareBounds(field, first.value, last.value) > 0) {
        const shown = (b: { value: string | number; param: string }) =>
          `${b.param} (${String(b.value).slice(0, 40)})`;
        throw badRequest(
          `${param}: ${shown(last)} is before ${shown(first)}; a range that starts after it ends matches nothing (one that starts where it ends is taken).`,
          param,
        );
      }
    }
    seen.push({ start, value, param });
    this.byColumn.set(field.column, seen);
  }
}

/** Two wire values of a range field, compared as the instants or integers they write. */
function compareBounds(field: ListField, a: string | number, b: string | number): number {
  if (field.kind === "timestamp") return compareRfc3339(String(a), String(b)) ?? 0;
  return Number(a) - Number(b);
}

export function parseListOptions(
  spec: ListSpec,
  raw: unknown,
  // The continuation token is only checked for form here; runList verifies it against the full scope.
  scope: string,
  /** The engine's search SQL (Connection.search). */
  search: SearchMatch,
): ParsedList {
  const options: RequestDataOptions = raw === undefined || raw === null ? {} : asObject(raw, "body");
  const pageSize = parsePageSize(options.pageSize);
  const order = parseOrder(spec, options.orderBy);
  const conditions: RawBuilder<unknown>[] = [];
  // What the conditions narrow the list to, as values a token is bound to (see `fingerprint`).
  const narrowing: unknown[][] = [];

  asArray(options.filters, "filters").forEach((entry, i) => {
    const f = asObject(entry, `filters[${i}]`);
    const [, def] = resolveField(spec, f.field, "filter", `filters[${i}].field`);
    if (f.value === null) {
      conditions.push(sql`${sql.ref(def.column)} is null`);
      narrowing.push([def.column, "is null"]);
    } else if (def.match) {
      const param = `filters[${i}].value`;
      const value = columnValue(def, f.value, param) as string;
      conditions.push(def.match(value, param));
      narrowing.push([def.column, "matches", value]);
    } else {
      const value = columnValue(def, f.value, `filters[${i}].value`);
      conditions.push(sql`${sql.ref(def.column)} = ${value}`);
      narrowing.push([def.column, "=", value]);
    }
  });

  const ranges = new RangeBounds();
  asArray(options.rangeFilters, "rangeFilters").forEach((entry, i) => {
    const r = asObject(entry, `rangeFilters[${i}]`);
    const [, def] = resolveField(spec, r.field, "range", `rangeFilters[${i}].field`);
    const bounds = [
      ["greaterThan", ">"],
      ["greaterThanOrEqual", ">="],
      ["lessThan", "<"],
      ["lessThanOrEqual", "<="],
    ] as const;
    let count = 0;
    for (const [name, op] of bounds) {
      if (r[name] === undefined || r[name] === null) continue;
      count++;
      const roundUp = name === "lessThan" || name === "greaterThanOrEqual";
      const value = columnValue(def, r[name], `rangeFilters[${i}].${name}`, roundUp);
      ranges.add(def, name, r[name] as string | number, `rangeFilters[${i}].${name}`);
      conditions.push(sql`${sql.ref(def.column)} ${sql.raw(op)} ${value}`);
      narrowing.push([def.column, op, value]);
    }
    if (count === 0) {
      throw badRequest(
        `rangeFilters[${i}] needs at least one of greaterThan, greaterThanOrEqual, lessThan, lessThanOrEqual.`,
        `rangeFilters[${i}]`,
      );
    }
  });

  // searchFields is checked even without a search term: an unsupported name is always a 400. An empty
  // array means the default fields, as null does: it must not turn a search term into no condition.
  const searchFields = asArray(options.searchFields, "searchFields");
  // Each field once (by column: an alias names the same one): a field named twice matches nothing
  // more, and each copy would scan every row again.
  const chosen =
    searchFields.length === 0
      ? Object.values(spec.fields).filter((f) => f.search)
      : [
          ...new Map(
            searchFields.map((name, i) => {
              const field = resolveField(spec, name, "search", `searchFields[${i}]`)[1];
              return [field.column, field] as const;
            }),
          ).values(),
        ];
  let searches = false;
  if (options.search !== undefined && options.search !== null) {
    if (typeof options.search !== "string" || exceedsCharacters(options.search, 200)) {
      throw badRequest("search must be a string of at most 200 characters.", "search");
    }
    assertStorableText(options.search, "search");
    const term = options.search.trim();
    if (term.length > 0 && chosen.length > 0) {
      const pattern = `%${escapeLike(foldCase(term))}%`;
      // An ASCII term matches ASCII letters and the few others that fold into them: cheaper SQL.
      const contains = /^[\x20-\x7e]*$/.test(term) ? search.ascii : search.unicode;
      const patternFor = (f: ListField) => {
        const own = f.searchTerm?.(term);
        return own === undefined || own === term ? pattern : `%${escapeLike(foldCase(own))}%`;
      };
      const ors = chosen.map((f) => contains(sql.ref(f.column), patternFor(f)));
      conditions.push(sql`(${sql.join(ors, sql` or `)})`);
      narrowing.push(["search", pattern, ...chosen.map((f) => f.column).sort()]);
      for (const f of chosen)
        if (patternFor(f) !== pattern) narrowing.push(["search", f.column, patternFor(f)]);
      searches = true;
    }
  }

  if (
    options.includeCount !== undefined &&
    options.includeCount !== null &&
    typeof options.includeCount !== "boolean"
  ) {
    throw badRequest("includeCount must be a boolean.", "includeCount");
  }

  // A token resumes the query that issued it: the same order and the same narrowing (filters, ranges,
  // search; in any order), as its 400 says. Only pageSize and includeCount may change between pages.
  const narrowed = narrowing.map((n) => JSON.stringify(n)).sort();
  const fingerprint = `${spec.resource}|${scope}|${order.map((k) => `${k.field}:${k.direction}`).join(",")}|${JSON.stringify(narrowed)}`;
  let token: string | null = null;
  if (
    options.continuationToken !== undefined &&
    options.continuationToken !== null &&
    options.continuationToken !== ""
  ) {
    if (typeof options.continuationToken !== "string") {
      throw badRequest("continuationToken must be a string.", "continuationToken");
    }
    if (!isCanonicalToken(options.continuationToken)) throw invalidToken();
    token = options.continuationToken;
  }

  return {
    pageSize,
    order,
    conditions,
    token,
    includeCount: options.includeCount === true,
    searches,
    fingerprint,
  };
}

function invalidToken() {
  return badRequest(
    "continuationToken is not valid for this query: pass back the token of the previous page unchanged, with the same orderBy and query parameters.",
    "continuationToken",
  );
}

/**
 * What a token is bound to: the resource, order and path scope (parseListOptions) and the full SQL
 * scope, organization included, so that a token only ever resumes the query that issued it: never
 * another organization's list. Hashed, so tokens stay short and do not spell out the scope.
 */
function boundFingerprint(parsed: ParsedList, scope: Record<string, string>): string {
  const entries = Object.entries(scope).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha256")
    .update(`${parsed.fingerprint}|${JSON.stringify(entries)}`)
    .digest("base64url")
    .slice(0, 22);
}

/**
 * Keyset condition "strictly after the cursor row". One direction: a row-value comparison
 * (c1, c2, …) > (v1, v2, …), which both engines answer with an index range scan. Mixed directions:
 * (k1 > v1) or (k1 = v1 and k2 > v2) or …, plus the redundant bound k1 >= v1 so the planner can
 * still seek into the index instead of walking it from the start.
 */
function keysetCondition(order: OrderKey[], values: CursorValue[]): RawBuilder<unknown> {
  const first = order[0]!;
  const op = (d: Direction, strict: boolean) =>
    sql.raw(d === "asc" ? (strict ? ">" : ">=") : strict ? "<" : "<=");
  if (order.every((k) => k.direction === first.direction)) {
    const columns = sql.join(order.map((k) => sql.ref(k.column)));
    return sql`(${columns}) ${op(first.direction, true)} (${sql.join(values)})`;
  }
  const ors = order.map((key, i) => {
    const ands = order.slice(0, i).map((prev, j) => sql`${sql.ref(prev.column)} = ${values[j]}`);
    ands.push(sql`${sql.ref(key.column)} ${op(key.direction, true)} ${values[i]}`);
    return sql`(${sql.join(ands, sql` and `)})`;
  });
  return sql`(${sql.ref(first.column)} ${op(first.direction, false)} ${values[0]} and (${sql.join(ors, sql` or `)}))`;
}

export interface ListPage<Row> {
  rows: Row[];
  pageSize: number;
  totalCount: number | null;
  continuationToken: string | null;
}

/**
 * Runs a parsed list query inside `scope` (organization and path-scope equalities). A spec with a
 * rowShape reads its rows through `readArrays`. With includeCount, the page and its count are read
 * from one snapshot (`readSnapshot`), so that a write committed meanwhile cannot make them disagree. `anyOf`, when given, narrows it to rows meeting at
 * least one of its conditions (read as one branch per condition: see below).
 */
export async function runList<Row>(
  db: Kysely<Database>,
  spec: ListSpec,
  scope: Record<string, string>,
  parsed: ParsedList,
  codec: CursorCodec,
  reads: Pick<Connection, "readArrays" | "readSnapshot">,
  anyOf: RawBuilder<unknown>[] = [],
): Promise<ListPage<Row>> {
  const base = [
    ...Object.entries(scope).map(([column, value]) => sql`${sql.ref(column)} = ${value}`),
    ...parsed.conditions,
  ];
  const where = (extra: RawBuilder<unknown>[]) => sql.join([...base, ...extra], sql` and `);
  const fingerprint = boundFingerprint(parsed, scope);
  let after: CursorValue[] | null = null;
  if (parsed.token !== null) {
    after = codec.decode(parsed.token, fingerprint, parsed.order.length);
    if (after === null) throw invalidToken();
  }
  const page = after ? [keysetCondition(parsed.order, after)] : [];
  const orderSql = sql.join(
    parsed.order.map((k) => sql`${sql.ref(k.column)} ${sql.raw(k.direction)}`),
    sql`, `,
  );
  const shape = spec.rowShape;
  const columns = shape ? sql.join(shape.columns.map((column) => sql.ref(column))) : sql`*`;
  const limit = parsed.pageSize + 1;
  const select = (extra: RawBuilder<unknown>[]) =>
    sql`select ${columns} from ${sql.table(spec.table)} where ${where([...page, ...extra])} order by ${orderSql} limit ${limit}`;
  // A disjunction is read as one branch per condition, each in the list's order up to a page (so an
  // index per condition serves it: SQLite would otherwise walk every row of the organization, or
  // gather and sort all the matches of each), without the rows an earlier branch already took, and
  // the branches merged in the same order.
  const branches = anyOf.map((condition, i) => [
    condition,
    ...anyOf.slice(0, i).map((earlier) => sql`not coalesce(${earlier}, false)`),
  ]);
  const query =
    branches.length === 0
      ? sql<Row>`${select([])}`
      : sql<Row>`${sql.join(
          branches.map((branch, i) => sql`select * from (${select(branch)}) as ${sql.raw(`branch${i}`)}`),
          sql` union all `,
        )} order by ${orderSql} limit ${limit}`;
  let rows: Row[];
  let totalCount: number | null = null;
  if (parsed.includeCount) {
    // The branches' counts, added up: each is read through its own index, as the page is.
    const count = (extra: RawBuilder<unknown>[]) =>
      sql`(select count(*) from ${sql.table(spec.table)} where ${where(extra)})`;
    const countQuery = sql`select ${branches.length === 0 ? count([]) : sql.join(branches.map(count), sql` + `)} as n`;
    [rows, totalCount] = await reads.readSnapshot(async (snapshot) => {
      const compiled = query.compile(db);
      const page = shape
        ? (await snapshot.arrays(compiled)).map((values) => shape.fromArray(values) as Row)
        : ((await snapshot.objects(compiled)) as Row[]);
      const counted = await snapshot.arrays(countQuery.compile(db));
      return [page, Number(counted[0]?.[0] ?? 0)] as const;
    });
  } else {
    rows = shape
      ? (await reads.readArrays(query.compile(db))).map((values) => shape.fromArray(values) as Row)
      : (await query.execute(db)).rows;
  }

  let continuationToken: string | null = null;
  if (rows.length > parsed.pageSize) {
    rows.length = parsed.pageSize;
    const last = rows[rows.length - 1] as Record<string, CursorValue>;
    continuationToken = codec.encode(
      fingerprint,
      parsed.order.map((k) => last[k.column] as CursorValue),
    );
  }
  return { rows, pageSize: parsed.pageSize, totalCount, continuationToken };
}
