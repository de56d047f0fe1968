import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import { newEventRow } from "../src/store/events-repo.js";
import { assertEventRecord, countEvents, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine, PG_URL } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

type Item = Record<string, unknown> & { id: string; createdAt: string };

forEachEngine("event lists", (engine) => {
  let api: TestApi;
  let leadId: string;
  let conversationId: string;
  const base = Date.parse("2025-03-01T12:00:00Z");

  before(async () => {
    api = await startTestApi(engine);
    const lead = (
      await api.call("POST", "/leads", {
        contact: { firstName: "List", phone: { number: "+1 212 555 0187" } },
      })
    ).json();
    leadId = lead.id;
    conversationId = (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0].id;
    // 60 events spread one minute apart, several sharing a timestamp, mixed types and statuses.
    const rows = Array.from({ length: 60 }, (_, i) =>
      newEventRow(
        {
          organization_id: api.org.organizationId,
          event_type: i % 3 === 0 ? "SmsOutbound" : "NoteCreated",
          activity_type: i % 3 === 0 ? "Sms" : "Note",
          activity_category: i % 3 === 0 ? ACTIVITY_CATEGORY.Sms : ACTIVITY_CATEGORY.Note,
          description: i % 3 === 0 ? "Outbound SMS." : "Internal note.",
          summary: i === 7 ? "Customer asked about BUNDLING discounts" : `entry ${i}`,
          status: i % 3 === 0 ? (i % 2 === 0 ? "Delivered" : "Failed") : "Completed",
          direction: i % 3 === 0 ? "outbound" : null,
          queued_at: i % 3 === 0 ? base + i * 60_000 : null,
          lead_id: leadId,
          conversation_id: conversationId,
          created_by: api.org.userId,
          created_at: base + Math.floor(i / 2) * 60_000,
        },
        base + Math.floor(i / 2) * 60_000,
      ),
    );
    await api.db.store.db.insertInto("events").values(rows).execute();
  });
  after(() => api.close());

  const list = async (url: string, body: unknown) => {
    const res = await api.call("POST", url, body);
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as {
      items: Item[];
      continuationToken: string | null;
      totalCount: number | null;
      pageSize: number;
    };
    page.items.forEach(assertEventRecord);
    return page;
  };

  const pageAll = async (url: string, body: Record<string, unknown>) => {
    const ids: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const page = await list(url, { ...body, continuationToken: token });
      ids.push(...page.items.map((i) => i.id));
      token = page.continuationToken;
      pages++;
      assert.ok(pages < 200, "paging does not terminate");
    } while (token);
    return ids;
  };

  test("default order is createdAt desc with id as tie-breaker, default page size 50", async () => {
    const page = await list(`/events/leads/${leadId}`, {});
    assert.equal(page.pageSize, 50);
    assert.equal(page.items.length, 50);
    for (let i = 1; i < page.items.length; i++) {
      const [a, b] = [page.items[i - 1]!, page.items[i]!];
      assert.ok(
        a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id),
        `${a.id} before ${b.id}`,
      );
    }
    assert.equal(page.totalCount, null);
  });

  test("paging in any order visits every event exactly once", async () => {
    const everything = new Set(
      (await list(`/events/leads/${leadId}`, { pageSize: 500 })).items.map((i) => i.id),
    );
    assert.equal(everything.size, 61);
    for (const orderBy of [
      [{ field: "createdAt", direction: "asc" }],
      [{ field: "createdAt", direction: "desc" }],
      [{ field: "id", direction: "asc" }],
      [
        { field: "createdAt", direction: "asc" },
        { field: "id", direction: "desc" },
      ],
    ]) {
      const ids = await pageAll(`/events/leads/${leadId}`, { pageSize: 7, orderBy });
      assert.equal(ids.length, 61, JSON.stringify(orderBy));
      assert.deepEqual(new Set(ids), everything);
    }
  });

  test("paging never repeats or skips while new events are written between pages", async () => {
    const seen: string[] = [];
    const expected = new Set(
      (await list(`/events/conversations/${conversationId}`, { pageSize: 500 })).items.map((i) => i.id),
    );
    let token: string | null = null;
    let n = 0;
    do {
      const page = await list(`/events/conversations/${conversationId}`, {
        pageSize: 9,
        continuationToken: token,
      });
      seen.push(...page.items.map((i) => i.id));
      token = page.continuationToken;
      // A note written between pages lands before page 1 (newest first) and must not disturb paging.
      const note = await api.call("POST", `/events/conversations/${conversationId}/notes`, {
        text: `between pages ${n++}`,
      });
      assert.equal(note.statusCode, 200, note.body);
    } while (token);
    assert.equal(new Set(seen).size, seen.length, "an event was repeated");
    assert.deepEqual(new Set(seen), expected);
  });

  test("filters, range filters, search and includeCount", async () => {
    const sms = await list(`/events/leads/${leadId}`, {
      filters: [{ field: "activityType", value: "Sms" }],
      includeCount: true,
      pageSize: 500,
    });
    assert.equal(sms.totalCount, 20);
    assert.ok(sms.items.every((i) => i.activityType === "Sms"));

    const alias = await list(`/events/leads/${leadId}`, {
      filters: [{ field: "timelineType", value: "Sms" }],
      includeCount: true,
    });
    assert.equal(alias.totalCount, 20);
    // LeadStatusChange is in the later revision's timelineType vocabulary only: no event is one, and
    // asking is not an error in either revision's name.
    for (const field of ["timelineType", "activityType"]) {
      const none = await list(`/events/leads/${leadId}`, {
        filters: [{ field, value: "LeadStatusChange" }],
        includeCount: true,
      });
      assert.equal(none.totalCount, 0, field);
    }

    const failed = await list(`/events/leads/${leadId}`, {
      filters: [
        { field: "status", value: "Failed" },
        { field: "direction", value: "outbound" },
      ],
      includeCount: true,
    });
    assert.equal(failed.totalCount, 10);

    const window = await list(`/events/leads/${leadId}`, {
      rangeFilters: [
        {
          field: "createdAt",
          greaterThanOrEqual: new Date(base + 10 * 60_000).toISOString(),
          lessThan: new Date(base + 20 * 60_000).toISOString(),
        },
      ],
      includeCount: true,
    });
    assert.equal(window.totalCount, 20);

    const queued = await list(`/events/leads/${leadId}`, {
      rangeFilters: [{ field: "queuedAt", lessThanOrEqual: new Date(base + 30 * 60_000).toISOString() }],
      includeCount: true,
    });
    assert.equal(queued.totalCount, 11);

    const search = await list(`/events/all/my`, { search: "bundling", includeCount: true });
    assert.equal(search.totalCount, 1);
    assert.equal(search.items[0]!.summary, "Customer asked about BUNDLING discounts");
    const inDescription = await list(`/events/all/my`, {
      search: "bundling",
      searchFields: ["description"],
      includeCount: true,
    });
    assert.equal(inDescription.totalCount, 0);
    const percent = await list(`/events/all/my`, { search: "%", includeCount: true });
    assert.equal(percent.totalCount, 0, "LIKE wildcards are escaped");
  });

  test("organization list: own organization only, another one is 404", async () => {
    const own = await list(`/events/organizations/${api.org.organizationId}`, {
      pageSize: 1,
      includeCount: true,
    });
    assert.ok((own.totalCount ?? 0) >= 61);
    const other = await api.call("POST", "/events/organizations/org_01HZZZZZZZZZZZZZZZZZZZZZZZ", {});
    assert.equal(other.statusCode, 404);
  });

  test("a changed continuation token is a 400 problem", async () => {
    const page = await list(`/events/leads/${leadId}`, { pageSize: 5 });
    const token = page.continuationToken!;
    const flipped = `${token.slice(0, 3)}${token[3] === "A" ? "B" : "A"}${token.slice(4)}`;
    const res = await api.call("POST", `/events/leads/${leadId}`, {
      pageSize: 5,
      continuationToken: flipped,
    });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().detail, /continuationToken/);
    const otherOrder = await api.call("POST", `/events/leads/${leadId}`, {
      continuationToken: token,
      orderBy: [{ field: "createdAt", direction: "asc" }],
    });
    assert.equal(otherOrder.statusCode, 400, "a token only continues the query it came from");
  });

  test("a token continues only the filters, ranges and search it came from; pageSize may change", async () => {
    const url = `/events/leads/${leadId}`;
    const query = {
      filters: [
        { field: "activityType", value: "Sms" },
        { field: "direction", value: "outbound" },
      ],
      rangeFilters: [{ field: "createdAt", greaterThanOrEqual: new Date(base).toISOString() }],
      search: "outbound",
      searchFields: ["description"],
    };
    const first = await list(url, { ...query, pageSize: 3 });
    const continuationToken = first.continuationToken!;
    // The same query, its filters in another order and another page size: the walk goes on.
    const reordered = await list(url, {
      ...query,
      filters: [...query.filters].reverse(),
      pageSize: 4,
      continuationToken,
    });
    assert.ok(reordered.items.every((i) => !first.items.some((f) => f.id === i.id)));
    for (const changed of [
      { filters: [{ field: "activityType", value: "Note" }] },
      { filters: [query.filters[0]] },
      { rangeFilters: [{ field: "createdAt", greaterThanOrEqual: new Date(base + 60_000).toISOString() }] },
      { rangeFilters: [] },
      { search: "sms" },
      { searchFields: ["summary"] },
    ]) {
      const res = await api.call("POST", url, { ...query, ...changed, pageSize: 3, continuationToken });
      assert.equal(res.statusCode, 400, JSON.stringify(changed));
      assert.match(res.json().detail, /continuationToken/);
    }
  });

  test("an unsupported field is a 400 that lists the supported names", async () => {
    const res = await api.call("POST", `/events/all/my`, { orderBy: [{ field: "summary" }] });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().detail, /supported: createdAt, id/);
    const filter = await api.call("POST", `/events/all/my`, {
      filters: [{ field: "1=1; drop table events", value: "x" }],
    });
    assert.equal(filter.statusCode, 400);
    assert.match(filter.json().detail, /activityType/);
    // timelineType is accepted as a filter (an alias of activityType), so it is listed too.
    assert.match(
      filter.json().detail,
      /supported: activityType, campaignId, conversationId, direction, eventType, leadId, sourceId, status, timelineType, trafficType\.$/,
    );
    const alias = await api.call("POST", `/events/all/my`, {
      filters: [{ field: "timelineType", value: "Note" }],
    });
    assert.equal(alias.statusCode, 200, alias.body);
    // It names no orderable field, so an orderBy problem does not list it.
    assert.doesNotMatch(res.json().detail, /timelineType/);
  });
});

// Pages are written item by item as bytes (src/http/paged-json.ts), not by Fastify's serializer:
// the wire must be the same JSON, in UTF-8, with the same properties.
forEachEngine("event pages on the wire", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  test("a page is application/json UTF-8 with items, pageSize, totalCount and continuationToken", async () => {
    const lead = (
      await api.call("POST", "/leads", { contact: { firstName: "Zoë", phone: { number: "+12125550188" } } })
    ).json();
    const conversationId = (await api.call("POST", `/conversations/lead/${lead.id}`, {})).json().items[0].id;
    const texts = ["Café — 10:30 works 👋", "Plain ASCII note", "日本語のメモ"];
    for (const text of texts) {
      const res = await api.call("POST", `/events/conversations/${conversationId}/notes`, { text });
      assert.equal(res.statusCode, 200, res.body);
    }
    const res = await api.call("POST", `/events/conversations/${conversationId}`, {
      pageSize: 2,
      includeCount: true,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers["content-type"]), /^application\/json; charset=utf-8$/);
    assert.equal(Number(res.headers["content-length"]), res.rawPayload.length);
    const page = JSON.parse(res.rawPayload.toString("utf8"));
    assert.deepEqual(Object.keys(page), ["items", "pageSize", "totalCount", "continuationToken"]);
    assert.equal(page.pageSize, 2);
    assert.equal(page.totalCount, 4); // the lead's creation event and three notes
    assert.equal(typeof page.continuationToken, "string");
    assert.deepEqual(
      page.items.map((e: { summary: string }) => e.summary),
      [texts[2], texts[1]],
    );
    page.items.forEach(assertEventRecord);
    // Each item is exactly what GET /events/{id} answers for it.
    for (const item of page.items) {
      assert.deepEqual(item, (await api.call("GET", `/events/${item.id}`)).json());
    }
    const last = await api.call("POST", `/events/conversations/${conversationId}`, {
      pageSize: 2,
      continuationToken: page.continuationToken,
    });
    const lastPage = last.json();
    assert.deepEqual(Object.keys(lastPage), ["items", "pageSize", "totalCount", "continuationToken"]);
    assert.equal(lastPage.totalCount, null); // not asked for
    assert.equal(lastPage.continuationToken, null);
    assert.deepEqual(lastPage.items.map((e: { summary: string }) => e.summary).slice(0, 1), [texts[0]]);
  });
});

// The query parameters the subset declares on two event lists: category (activityCategory or
// eventCategory), startAt (inclusive) and endAt (exclusive), combined with the body's query.
forEachEngine("event list query parameters", (engine) => {
  let api: TestApi;
  const base = Date.parse("2025-04-01T08:00:00Z");
  const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
  const smsIds: string[] = [];
  const noteIds: string[] = [];
  let leadCreatedId: string;
  let orgPath: string;

  before(async () => {
    api = await startTestApi(engine);
    orgPath = `/events/organizations/${api.org.organizationId}`;
    // A lead, with its LeadCreated event (category Lead, created now: after every window here).
    const lead = await api.call("POST", "/leads", {
      contact: { firstName: "Query", phone: { number: "+12125550190" } },
    });
    leadCreatedId = (await post(`/events/leads/${lead.json().id}`)).json().items[0].id;
    const rows = Array.from({ length: 10 }, (_, i) => [
      newEventRow(
        {
          organization_id: api.org.organizationId,
          event_type: "SmsOutbound",
          event_category: "Messaging",
          activity_type: "Sms",
          activity_category: ACTIVITY_CATEGORY.Sms,
          description: "Outbound SMS.",
          status: i % 2 === 0 ? "Delivered" : "Failed",
          created_by: api.org.userId,
        },
        base + i * 60_000,
      ),
      newEventRow(
        {
          organization_id: api.org.organizationId,
          event_type: "NoteCreated",
          event_category: "Note",
          activity_type: "Note",
          activity_category: ACTIVITY_CATEGORY.Note,
          description: "Internal note.",
          status: "Completed",
          created_by: api.org.userId,
        },
        base + i * 60_000 + 30_000,
      ),
    ]).flat();
    for (const row of rows) (row.activity_type === "Sms" ? smsIds : noteIds).push(row.id);
    await api.db.store.db.insertInto("events").values(rows).execute();
  });
  after(() => api.close());

  const post = (url: string, body: Record<string, unknown> = {}) => api.call("POST", url, body);
  const ids = async (url: string, body: Record<string, unknown> = {}) => {
    const res = await post(url, { pageSize: 500, ...body });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    res.json().items.forEach(assertEventRecord);
    return (res.json().items as Item[]).map((i) => i.id).sort();
  };
  const window = `startAt=${encodeURIComponent(at(2))}&endAt=${encodeURIComponent(at(5))}`;
  // [2 min, 5 min): SMS at 2, 3, 4 and notes at 2.5, 3.5, 4.5; the SMS at 5 is excluded.
  const inWindow = () => [...smsIds.slice(2, 5), ...noteIds.slice(2, 5)].sort();

  test("category matches activityCategory or eventCategory, in any case", async () => {
    assert.deepEqual(await ids("/events/all/my?category=Messaging"), [...smsIds].sort());
    assert.deepEqual(await ids("/events/all/my?category=messaging"), [...smsIds].sort());
    // Notes: the activityCategory; Note: the eventCategory of the same events.
    assert.deepEqual(await ids("/events/all/my?category=Notes"), [...noteIds].sort());
    assert.deepEqual(await ids("/events/all/my?category=NOTE"), [...noteIds].sort());
    const lead = await post("/events/all/my?category=Lead", {});
    assert.deepEqual(
      lead.json().items.map((i: Item) => i.activityType),
      ["LeadCreated"],
    );
    assert.deepEqual(await ids("/events/all/my?category=Billing"), []);
  });

  test("startAt is inclusive and endAt exclusive, on both lists", async () => {
    for (const path of ["/events/all/my", orgPath]) {
      assert.deepEqual(await ids(`${path}?${window}`), inWindow(), path);
      assert.deepEqual(
        await ids(`${path}?startAt=${encodeURIComponent(at(9))}`),
        [smsIds[9]!, noteIds[9]!, leadCreatedId].sort(),
        path,
      );
      assert.deepEqual(
        await ids(`${path}?endAt=${encodeURIComponent(at(1))}`),
        [smsIds[0]!, noteIds[0]!].sort(),
        path,
      );
    }
  });

  test("a bound finer than the millisecond is compared as written, on every operator and parameter", async () => {
    // SMS 3 is at 08:03:00.000, before 08:03:00.0005 and not at or after it.
    const justAfter = at(3).replace(".000Z", ".0005Z");
    const range = (op: string) => ({ rangeFilters: [{ field: "createdAt", [op]: justAfter }] });
    const messaging = "/events/all/my?category=Messaging";
    assert.ok((await ids(messaging, range("lessThan"))).includes(smsIds[3]!));
    assert.ok((await ids(messaging, range("lessThanOrEqual"))).includes(smsIds[3]!));
    assert.ok(!(await ids(messaging, range("greaterThanOrEqual"))).includes(smsIds[3]!));
    assert.ok(!(await ids(messaging, range("greaterThan"))).includes(smsIds[3]!));
    const q = (name: string) => `${messaging}&${name}=${encodeURIComponent(justAfter)}`;
    assert.ok((await ids(q("endAt"))).includes(smsIds[3]!));
    assert.ok(!(await ids(q("startAt"))).includes(smsIds[3]!));
  });

  test("query parameters combine with the body's filters and range filters", async () => {
    const both = await ids(`/events/all/my?category=Messaging&${window}`, {
      filters: [{ field: "status", value: "Delivered" }],
    });
    assert.deepEqual(both, [smsIds[2]!, smsIds[4]!].sort());
    const narrower = await ids(`${orgPath}?${window}`, {
      rangeFilters: [{ field: "createdAt", greaterThan: at(3) }],
    });
    assert.deepEqual(narrower, [noteIds[3]!, smsIds[4]!, noteIds[4]!].sort());
  });

  test("paging with the parameters visits each matching event once; a token needs the same parameters", async () => {
    const url = `/events/all/my?${window}`;
    const seen: string[] = [];
    let token: string | null = null;
    let first: string | null = null;
    do {
      const res = await post(url, { pageSize: 2, continuationToken: token });
      assert.equal(res.statusCode, 200, res.body);
      seen.push(...res.json().items.map((i: Item) => i.id));
      token = res.json().continuationToken;
      first ??= token;
    } while (token);
    assert.deepEqual([...seen].sort(), inWindow());
    assert.equal(new Set(seen).size, seen.length);

    const otherQueries = [
      "/events/all/my",
      `/events/all/my?startAt=${encodeURIComponent(at(1))}&endAt=${encodeURIComponent(at(5))}`,
      `/events/all/my?startAt=${encodeURIComponent(at(2))}`,
      `/events/all/my?category=Messaging&${window}`,
    ];
    for (const other of otherQueries) {
      const res = await post(other, { pageSize: 2, continuationToken: first });
      assert.equal(res.statusCode, 400, `${other}: ${res.body}`);
      assert.match(res.json().detail, /continuationToken/);
    }
    // The same instants written another way are the same query.
    const sameInstants = `startAt=${encodeURIComponent("2025-04-01T10:02:00+02:00")}&endAt=${encodeURIComponent(at(5))}`;
    const same = await post(`/events/all/my?${sameInstants}`, { pageSize: 2, continuationToken: first });
    assert.equal(same.statusCode, 200, same.body);
  });

  test("a range that starts after it ends is a 400 naming its end, in the query and the body alike; one that starts where it ends is taken", async () => {
    const later = at(5);
    // The same instant as at(5) less a nanosecond, written at another offset: after it as written.
    const justBefore = "2025-04-01T10:04:59.999999999+02:00";
    const inverted: Array<[string, Record<string, unknown>, string]> = [
      [
        `/events/all/my?startAt=${encodeURIComponent(later)}&endAt=${encodeURIComponent(justBefore)}`,
        {},
        "endAt",
      ],
      [`${orgPath}?startAt=${encodeURIComponent(at(9))}&endAt=${encodeURIComponent(at(1))}`, {}, "endAt"],
      [
        "/events/all/my",
        { rangeFilters: [{ field: "createdAt", greaterThanOrEqual: later, lessThan: justBefore }] },
        "rangeFilters[0].lessThan",
      ],
      [
        orgPath,
        { rangeFilters: [{ field: "createdAt", greaterThan: at(9), lessThanOrEqual: at(1) }] },
        "rangeFilters[0].lessThanOrEqual",
      ],
      // Bounds on one field in two entries make one range.
      [
        "/events/all/my",
        {
          rangeFilters: [
            { field: "createdAt", lessThan: at(1) },
            { field: "createdAt", greaterThanOrEqual: at(2) },
          ],
        },
        "rangeFilters[1].greaterThanOrEqual",
      ],
    ];
    const before = await countEvents(api);
    for (const [url, body, param] of inverted) {
      const res = await post(url, body);
      assert.equal(res.statusCode, 400, `${url} ${JSON.stringify(body)}: ${res.body}`);
      const problem = res.json();
      assert.ok(String(problem.detail).startsWith(param), `${url}: ${problem.detail}`);
      assert.deepEqual(Object.keys(problem.errors), [param], res.body);
    }
    assert.equal(await countEvents(api), before);

    // Start equal to end: [t, t) selects nothing, [t, t] the events at t.
    for (const path of ["/events/all/my", orgPath]) {
      assert.deepEqual(
        await ids(`${path}?startAt=${encodeURIComponent(later)}&endAt=${encodeURIComponent(later)}`),
        [],
      );
      const range = (bounds: Record<string, string>) => ({
        rangeFilters: [{ field: "createdAt", ...bounds }],
      });
      assert.deepEqual(await ids(path, range({ greaterThanOrEqual: later, lessThan: later })), []);
      assert.deepEqual(await ids(path, range({ greaterThan: later, lessThanOrEqual: later })), []);
      assert.deepEqual(await ids(path, range({ greaterThanOrEqual: later, lessThanOrEqual: later })), [
        smsIds[5]!,
      ]);
      // Bounds in separate entries that are not inverted narrow as one range does.
      assert.deepEqual(
        await ids(path, {
          rangeFilters: [
            { field: "createdAt", greaterThanOrEqual: at(2) },
            { field: "createdAt", lessThan: later },
          ],
        }),
        inWindow(),
      );
    }
  });

  test("a bad parameter is a 400 problem naming it, and changes nothing", async () => {
    const count = () => countEvents(api);
    const before = await count();
    const cases: Array<[string, string]> = [
      ["/events/all/my?startAt=yesterday", "startAt"],
      ["/events/all/my?startAt=2025-04-01", "startAt"],
      ["/events/all/my?startAt=2025-04-01T08:00:00", "startAt"],
      ["/events/all/my?endAt=2025-13-01T00:00:00Z", "endAt"],
      ["/events/all/my?startAt=", "startAt"],
      [`/events/all/my?startAt=${encodeURIComponent(at(1))}&startAt=${encodeURIComponent(at(2))}`, "startAt"],
      ["/events/all/my?category=Sms", "category"],
      ["/events/all/my?category=", "category"],
      [`/events/all/my?category=${"x".repeat(101)}`, "category"],
      [`${"/events/organizations/"}ORG?endAt=soon`, "endAt"],
      [
        `${"/events/organizations/"}ORG?startAt=${encodeURIComponent(at(9))}&endAt=${encodeURIComponent(at(1))}`,
        "endAt",
      ],
    ];
    for (const [rawUrl, param] of cases) {
      const url = rawUrl.replace("ORG", api.org.organizationId);
      const res = await post(url, {});
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.match(String(res.headers["content-type"]), /^application\/problem\+json\b/);
      const problem = res.json();
      assert.ok(String(problem.detail).startsWith(param), `${url}: ${problem.detail}`);
      assert.equal(problem.instance, url.split("?")[0]);
    }
    const unknown = await post("/events/all/my?category=Sms", {});
    assert.match(unknown.json().detail, /supported: Billing, Calls, Lead, Messaging, Note, Notes, System\./);
    assert.equal(await count(), before);
  });

  test("/openapi.json documents the parameters", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    const query = (path: string) =>
      Object.fromEntries(
        (doc.paths[path].post.parameters as Array<{ in: string; name: string; schema: { format?: string } }>)
          .filter((p) => p.in === "query")
          .map((p) => [p.name, p.schema.format ?? null]),
      );
    assert.deepEqual(query("/events/all/my"), { category: null, startAt: "date-time", endAt: "date-time" });
    assert.deepEqual(query("/events/organizations/{organizationId}"), {
      startAt: "date-time",
      endAt: "date-time",
    });
  });
});

// Search folds case the same way on both engines, one character at a time: PostgreSQL's lower()
// knows no word-final sigma and folds İ to i, where JavaScript's toLowerCase (the term, and SQLite's
// function) wrote ς at the end of a word and i + U+0307 for İ, so a term never met the stored text.
forEachEngine("event list search case folding", (engine) => {
  let api: TestApi;
  const summaries = [
    "ΟΔΥΣΣΕΑΣ Παπαδοπουλος",
    "Οδυσσέας wrote back",
    "İstanbul office",
    "Straße 5",
    // U+212A KELVIN SIGN, which lower-cases to an ASCII k, like İ to i.
    "Freezer at 255 \u212a",
    "50% off_sale \\ back",
    "500 offXsale",
    "Zoë 👋 ÉCOLE",
  ];
  before(async () => {
    api = await startTestApi(engine);
    const rows = summaries.map((summary) =>
      newEventRow({
        organization_id: api.org.organizationId,
        event_type: "NoteCreated",
        activity_type: "Note",
        activity_category: ACTIVITY_CATEGORY.Note,
        description: "Internal note.",
        summary,
        created_by: api.org.userId,
      }),
    );
    await api.db.store.db.insertInto("events").values(rows).execute();
  });
  after(() => api.close());

  const found = async (search: string) => {
    const res = await api.call("POST", "/events/all/my", { search, includeCount: true, pageSize: 500 });
    assert.equal(res.statusCode, 200, res.body);
    res.json().items.forEach(assertEventRecord);
    assert.equal(res.json().totalCount, res.json().items.length);
    return (res.json().items as Item[]).map((i) => i.summary).sort();
  };

  test("a term finds the text it was written in, in any case", async () => {
    const cases: Array<[string, string[]]> = [
      ["ΟΔΥΣΣΕΑΣ", [summaries[0]!]],
      ["ΟΔΥΣΣΕΑΣ Παπαδοπουλος", [summaries[0]!]],
      ["οδυσσεας", [summaries[0]!]],
      ["Οδυσσεας", [summaries[0]!]],
      // A term ending in Σ (a prefix of a longer word) matches the σ inside the word.
      ["ΟΔΥΣ", [summaries[0]!, summaries[1]!].sort()],
      ["οδυσσέας", [summaries[1]!]],
      ["ΟΔΥΣΣΈΑΣ", [summaries[1]!]],
      ["παπαδοπουλοσ", [summaries[0]!]],
      ["İstanbul", [summaries[2]!]],
      ["İSTANBUL OFFICE", [summaries[2]!]],
      ["STRAẞE", [summaries[3]!]],
      ["école", [summaries[7]!]],
      ["zoË 👋", [summaries[7]!]],
      ["👋", [summaries[7]!]],
    ];
    for (const [term, expected] of cases) assert.deepEqual(await found(term), expected, term);
  });

  test("an ASCII term finds the letters that lower-case to it, on both engines", async () => {
    // SQLite's built-in lower() folds ASCII only: "istanbul" missed İstanbul there, which PostgreSQL's
    // lower() (and the Unicode fold a non-ASCII term uses) folds to i.
    const cases: Array<[string, string[]]> = [
      ["istanbul", [summaries[2]!]],
      ["ISTANBUL OFFICE", [summaries[2]!]],
      ["255 k", [summaries[4]!]],
      ["255 K", [summaries[4]!]],
    ];
    for (const [term, expected] of cases) assert.deepEqual(await found(term), expected, term);
  });

  test("LIKE wildcards in a term are matched as written", async () => {
    const cases: Array<[string, string[]]> = [
      ["%", [summaries[5]!]],
      ["50%", [summaries[5]!]],
      ["0% o", [summaries[5]!]],
      ["off_sale", [summaries[5]!]],
      ["_", [summaries[5]!]],
      ["\\", [summaries[5]!]],
      ["\\ back", [summaries[5]!]],
      ["%off", []],
      ["5_0", []],
      ["\\%", []],
      ["\\_", []],
    ];
    for (const [term, expected] of cases) assert.deepEqual(await found(term), expected, term);
  });
});

// An event is stamped when it is written, not before a wait: a lead delivered with a source's key
// waits for a re-keying of that source (its lock), an inbound message for another message of the same
// sender; stamped before the wait, its event sorted before events written meanwhile, and a walk that
// had passed its place never showed it.
forEachEngine("event lists and a write that waited", (engine) => {
  let api: TestApi;
  const OUR = "+14155550100";
  before(async () => {
    api = await startTestApi(engine);
    await addSenderNumber(api, { number: OUR });
  });
  after(() => api.close());

  /**
   * Holds the advisory lock `lockKey` in another session while `write` starts and waits for it; in
   * the meantime writes two notes in the conversation and reads the first page of a walk of the list
   * at `path` by createdAt; then lets the write commit and walks on. Answers the summaries walked.
   */
  const walkWhileWaiting = async (
    lockKey: string,
    path: string,
    conversationId: string,
    write: () => Promise<{ statusCode: number; body: string }>,
  ) => {
    const body = { pageSize: 2, orderBy: [{ field: "createdAt", direction: "asc" }] };
    const read = async (continuationToken: string | null) => {
      const res = await api.call("POST", path, { ...body, continuationToken });
      assert.equal(res.statusCode, 200, res.body);
      res.json().items.forEach(assertEventRecord);
      return res.json() as { items: Item[]; continuationToken: string | null };
    };
    const locker = new pg.Client({ connectionString: PG_URL });
    await locker.connect();
    let written: Promise<{ statusCode: number; body: string }> | undefined;
    let page: { items: Item[]; continuationToken: string | null };
    try {
      await locker.query(`set search_path to ${api.db.options.pgSchema}`);
      await locker.query("begin");
      await locker.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [lockKey]);
      written = write();
      let waiting = 0;
      for (let tries = 0; waiting === 0 && tries < 200; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        waiting = (await locker.query("select count(*)::int as n from pg_locks where not granted")).rows[0].n;
      }
      assert.ok(waiting > 0, "the write waits for the lock");
      for (const text of ["meanwhile", "meanwhile too"]) {
        const note = await api.call("POST", `/events/conversations/${conversationId}/notes`, { text });
        assert.equal(note.statusCode, 200, note.body);
      }
      page = await read(null);
    } finally {
      await locker.query("commit").catch(() => {});
      await locker.end();
    }
    const done = await written!;
    assert.equal(done.statusCode, 201, done.body);
    const seen = [...page.items];
    while (page.continuationToken) {
      page = await read(page.continuationToken);
      seen.push(...page.items);
    }
    return seen.map((item) => item.summary);
  };

  // PostgreSQL only: SQLite runs one writer at a time, and takes no such locks.
  const onPostgres = engine === "postgresql" ? test : () => {};
  onPostgres("a walk by createdAt shows a lead a source delivered while it was under way", async () => {
    const source = await api.call("POST", "/sources", { name: "Vendor" });
    assert.equal(source.statusCode, 201, source.body);
    const { conversationId } = await addLead(api, "+12125550111", { firstName: "First" });
    // The delivered lead's LeadCreated event is on its own timeline: walk the organization's.
    const walked = await walkWhileWaiting(
      `source:${api.org.organizationId}:${source.json().id}`,
      "/events/all/my",
      conversationId,
      async () =>
        api.call(
          "POST",
          "/leads",
          { contact: { firstName: "Delivered", phone: { number: "+12125550122" } } },
          source.json().apiKey,
        ),
    );
    assert.deepEqual(walked, [
      "Lead created: First",
      "meanwhile",
      "meanwhile too",
      "Lead created: Delivered",
    ]);
  });

  onPostgres("a walk by createdAt shows a message that arrived while it was under way", async () => {
    const phone = "+12125550133";
    const { conversationId } = await addLead(api, phone, { firstName: "Second" });
    // Another message of the same sender holds the sender's lock.
    const walked = await walkWhileWaiting(
      `inbound-sender:${api.org.organizationId}:${phone}`,
      `/events/conversations/${conversationId}`,
      conversationId,
      async () => api.call("POST", "/simulator/inbound", { from: phone, to: OUR, text: "arrived" }),
    );
    assert.deepEqual(walked, ["Lead created: Second", "meanwhile", "meanwhile too", "arrived"]);
  });
});
