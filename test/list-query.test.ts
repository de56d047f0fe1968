import assert from "node:assert/strict";
import { test } from "node:test";
import { DummyDriver, Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from "kysely";
import { EVENT_LIST_SPEC } from "../src/store/event-list-spec.js";
import { parseListOptions } from "../src/store/list-query.js";
import type { Database } from "../src/store/schema.js";
import { sqliteSearch } from "../src/store/search-match.js";

// Compiles conditions only: no database behind it.
const compiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});

const searchSql = (body: unknown): string => {
  const parsed = parseListOptions(EVENT_LIST_SPEC, body, "org", sqliteSearch("unicode_lower"));
  return parsed.conditions.map((c) => c.compile(compiler).sql).join(" and ");
};

test("a search field named more than once is searched once: each copy would scan every row again", () => {
  const once = searchSql({ search: "ééqq", searchFields: ["summary", "description"] });
  const repeated = searchSql({
    search: "ééqq",
    searchFields: Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "summary" : "description")),
  });
  assert.equal(repeated, once);
  assert.equal(once.match(/ like /g)?.length, 2);
});
