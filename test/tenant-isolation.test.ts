import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { type CreatedOrganization, createOrganization } from "../src/store/orgs-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import {
  addLead,
  addSenderNumber,
  isFinal,
  senderNumberRow,
  startSimulator,
  waitForEvent,
} from "./helpers/messaging.js";
import { assertProblem } from "./helpers/problem.js";
import { type RouteEntry, routeTable } from "./helpers/routes.js";
import { snapshotAllRows } from "./helpers/snapshot.js";

// CONTRACT.md, on every route: no key is a 401, and a resource of another organization answers
// exactly as one that does not exist (404, no hint that it exists) and changes nothing. The routes
// are read from the app's own route table, so a route added later fails the first test until it is
// given its cases here (or declared public).

/**
 * Routes that take no API key: they show nothing of an organization, or authenticate by other means.
 * The Telnyx webhook is authenticated by Telnyx's signature; its ?org=…&event=… is used only with our
 * own sig over them, and then only when the signed payload agrees (test/telnyx.test.ts, "?event= and
 * &org= are used only with our sig over them…" and "?org= and ?event= naming another organization's
 * message, even signed, move nothing of it…", with a provider the simulator app here does not have).
 */
const PUBLIC_ROUTES = [/^\/healthz$/, /^\/openapi\.json$/, /^\/docs(\/|\*|$)/, /^\/webhooks\/telnyx$/];
const isPublic = (url: string) => PUBLIC_ROUTES.some((pattern) => pattern.test(url));

/** What one organization's data is called by: ids, and the phone numbers that identify it. */
interface Named {
  organizationId: string;
  leadId: string;
  conversationId: string;
  /** A lead a source delivered (it has a usage line). */
  sourceLeadId: string;
  noteId: string;
  inboundId: string;
  /** An outbound message, Scheduled (so it could still be canceled). */
  scheduledId: string;
  phoneNumberId: string;
  number: string;
  leadPhone: string;
  sourceId: string;
  suppressionId: string;
  suppressedPhone: string;
  tagId: string;
  /** The continuation token of the first page of its events. */
  eventsToken: string;
}

/**
 * The never-existing twin of an id: the same prefix and length, another ULID tail. Phone numbers
 * are given their own unused twins (fictional 555-01xx numbers).
 */
const twinId = (id: string) => `${id.slice(0, -6)}ZZZZZZ`;

/** One request as the other organization, naming the victim's data (or its never-existing twins). */
interface Probe {
  /** What the request names, for messages. */
  names: string;
  url: (x: Named) => string;
  body?: (x: Named) => unknown;
  /**
   * The status expected for the victim's data and for data that never existed alike: 404 for a
   * path's resource, 400 for a body field naming a resource, 200 for a list filter (an empty page).
   */
  status: number;
  /** What a problem's detail must name, beside the answer for data that never existed. */
  mentions?: string[];
}

/** A route's probes, or why it names nothing of another organization. */
type RouteCases = Probe[] | { namesNothing: string };

const filterBy = (field: string, value: string) => ({ filters: [{ field, value }], includeCount: true });

forEachEngine("tenant isolation on every route", (engine) => {
  let api: TestApi;
  let other: CreatedOrganization;
  /** The victim's data (organization A: the test API's own organization). */
  const victim = {} as Named;
  /** The never-existing twins of the victim's data. */
  const twin = {} as Named;
  /** The caller's own data (organization B), for requests that name both. */
  const own = { conversationId: "", leadId: "", phoneNumberId: "" };

  const as = (key: string | null, method: string, url: string, body?: unknown) =>
    api.call(method as InjectOptions["method"], url, body, key);

  const ok = async (res: LightMyRequestResponse) => {
    assert.ok(res.statusCode < 300, `${res.statusCode} ${res.body}`);
    return res.json() as Record<string, unknown> & { id: string };
  };

  before(async () => {
    api = await startTestApi(engine);
    other = await createOrganization(api.db.store.db, "Other Org", { startingCreditMicros: 10_000_000 });
    const key = api.org.apiKey;

    // Organization A: a sender number, a lead with its conversation, a note, an inbound, a sent and a
    // scheduled outbound message, a source with a lead it delivered (charged), a suppression, and a
    // manual sender on the conversation.
    const number = await addSenderNumber(api, { number: "+14155550100" });
    const lead = await addLead(api, "+14155550142");
    const note = await ok(
      await as(key, "POST", `/events/conversations/${lead.conversationId}/notes`, { text: "Call back" }),
    );
    const inbound = await ok(
      await as(key, "POST", "/simulator/inbound", { from: "+14155550142", to: number.number, text: "Hi" }),
    );
    const scheduled = await ok(
      await as(key, "POST", "/sms/send", {
        conversationId: lead.conversationId,
        text: "See you tomorrow",
        scheduledFor: new Date(Date.now() + 86_400_000).toISOString(),
      }),
    );
    // One message sent (through the simulator, the default provider) for a charged usage line.
    const worker = startSimulator(api, 0);
    const sent = await ok(
      await as(key, "POST", "/sms/send", { conversationId: lead.conversationId, text: "Hi" }),
    );
    await waitForEvent(api, sent.id, isFinal);
    await worker.stop();
    const source = await ok(await as(key, "POST", "/sources", { name: "Vendor", costPerLead: 2 }));
    const sourceLead = await ok(
      await as(String(source.apiKey), "POST", "/leads", {
        contact: { firstName: "Sol", phone: { number: "+14155550144" } },
      }),
    );
    const suppression = await ok(
      await as(key, "POST", "/suppressions", {
        organizationId: api.org.organizationId,
        phoneNumber: "+14155550123",
      }),
    );
    await ok(
      await as(key, "POST", `/phone-numbers/outgoing/conversation/${lead.conversationId}/override`, {
        fromPhoneNumberId: number.id,
      }),
    );
    const tagged = await ok(
      await as(key, "POST", "/leads", { contact: { firstName: "Tia" }, tagNames: ["Hot"] }),
    );
    const events = await ok(await as(key, "POST", "/events/all/my", { pageSize: 1 }));
    Object.assign(victim, {
      organizationId: api.org.organizationId,
      leadId: lead.leadId,
      conversationId: lead.conversationId,
      sourceLeadId: sourceLead.id,
      noteId: note.id,
      inboundId: inbound.id,
      scheduledId: scheduled.id,
      phoneNumberId: number.id,
      number: number.number,
      leadPhone: "+14155550142",
      sourceId: source.id,
      suppressionId: suppression.id,
      suppressedPhone: "+14155550123",
      tagId: (tagged.tags as { id: string }[])[0]!.id,
      eventsToken: String(events.continuationToken),
    } satisfies Named);
    const unused: Record<string, string> = {
      number: "+14155550198",
      leadPhone: "+14155550197",
      suppressedPhone: "+14155550196",
      tagId: "tag_zzz",
    };
    for (const [name, value] of Object.entries(victim)) {
      Object.assign(twin, { [name]: unused[name] ?? twinId(value) });
    }

    // Organization B, the caller: a number, a lead with its conversation and an inbound message.
    const ownNumber = senderNumberRow(other.organizationId, { number: "+14155550111" });
    await api.db.store.db.insertInto("phone_numbers").values(ownNumber).execute();
    const ownLead = await ok(
      await as(other.apiKey, "POST", "/leads", {
        contact: { firstName: "Bo", phone: { number: "+14155550143" } },
      }),
    );
    const ownConversations = await ok(
      await as(other.apiKey, "POST", `/conversations/lead/${ownLead.id}`, {}),
    );
    own.leadId = ownLead.id;
    own.conversationId = (ownConversations.items as { id: string }[])[0]!.id;
    own.phoneNumberId = ownNumber.id;
    await ok(
      await as(other.apiKey, "POST", "/simulator/inbound", {
        from: "+14155550143",
        to: ownNumber.number,
        text: "Hello",
      }),
    );
  });
  after(() => api?.close());

  /** Every route that takes an API key, with what it names of another organization's data. */
  const cases = (): Record<string, RouteCases> => {
    const list = (names: string, url: string, field: string, value: (x: Named) => string): Probe => ({
      names: `filter ${field}: ${names}`,
      url: () => url,
      body: (x) => filterBy(field, value(x)),
      status: 200,
    });
    const ownOrg = other.organizationId;
    return {
      "GET /events/:eventId": [
        { names: "a note", url: (x) => `/events/${x.noteId}`, status: 404 },
        { names: "an inbound message", url: (x) => `/events/${x.inboundId}`, status: 404 },
        { names: "a scheduled message", url: (x) => `/events/${x.scheduledId}`, status: 404 },
      ],
      "GET /events/detail/:eventId": [
        { names: "a note", url: (x) => `/events/detail/${x.noteId}`, status: 404 },
        { names: "a scheduled message", url: (x) => `/events/detail/${x.scheduledId}`, status: 404 },
      ],
      "POST /events/leads/:leadId": [
        { names: "a lead", url: (x) => `/events/leads/${x.leadId}`, body: () => ({}), status: 404 },
      ],
      "POST /events/conversations/:conversationId": [
        {
          names: "a conversation",
          url: (x) => `/events/conversations/${x.conversationId}`,
          body: () => ({}),
          status: 404,
        },
      ],
      "POST /events/conversations/:conversationId/notes": [
        {
          names: "a conversation",
          url: (x) => `/events/conversations/${x.conversationId}/notes`,
          body: () => ({ text: "Not yours" }),
          status: 404,
        },
      ],
      "POST /events/organizations/:organizationId": [
        {
          names: "an organization",
          url: (x) => `/events/organizations/${x.organizationId}`,
          body: () => ({}),
          status: 404,
        },
      ],
      "POST /events/all/my": [
        list("a lead", "/events/all/my", "leadId", (x) => x.leadId),
        list("a conversation", "/events/all/my", "conversationId", (x) => x.conversationId),
        list("a source", "/events/all/my", "sourceId", (x) => x.sourceId),
        {
          names: "a continuation token",
          url: () => "/events/all/my",
          body: (x) => ({ pageSize: 1, continuationToken: x.eventsToken }),
          status: 400,
          mentions: ["continuationToken"],
        },
      ],
      "POST /events/sms/lead/:leadId": [
        { names: "a lead", url: (x) => `/events/sms/lead/${x.leadId}`, body: () => ({}), status: 404 },
      ],
      "POST /events/sms/phone/:phoneNumber": [
        {
          names: "a sender number",
          url: (x) => `/events/sms/phone/${x.number}`,
          body: () => ({}),
          status: 200,
        },
        {
          names: "a lead's phone",
          url: (x) => `/events/sms/phone/${x.leadPhone}`,
          body: () => ({}),
          status: 200,
        },
      ],
      "POST /events/sms/all/my": [
        list("a lead", "/events/sms/all/my", "leadId", (x) => x.leadId),
        list("a conversation", "/events/sms/all/my", "conversationId", (x) => x.conversationId),
        list("a sender number", "/events/sms/all/my", "fromPhoneNumberId", (x) => x.phoneNumberId),
        list("a lead's phone", "/events/sms/all/my", "toPhoneNumber", (x) => x.leadPhone),
      ],
      "GET /events/sms/:smsEventId": [
        { names: "an inbound message", url: (x) => `/events/sms/${x.inboundId}`, status: 404 },
        { names: "a scheduled message", url: (x) => `/events/sms/${x.scheduledId}`, status: 404 },
      ],
      "POST /leads": { namesNothing: "creates a lead of the caller's organization" },
      "POST /leads/all/my": [
        list("a lead", "/leads/all/my", "id", (x) => x.leadId),
        list("a source", "/leads/all/my", "sourceId", (x) => x.sourceId),
        { names: "a tag", url: (x) => `/leads/all/my?tagIds=${x.tagId}`, body: () => ({}), status: 200 },
      ],
      "GET /leads/:id": [{ names: "a lead", url: (x) => `/leads/${x.leadId}`, status: 404 }],
      "PUT /leads/:id": [
        {
          names: "a lead",
          url: (x) => `/leads/${x.leadId}`,
          body: () => ({ contact: { firstName: "Mallory" } }),
          status: 404,
        },
      ],
      "POST /sources": { namesNothing: "creates a source of the caller's organization" },
      "POST /sources/all/my": [list("a source", "/sources/all/my", "id", (x) => x.sourceId)],
      "GET /sources/:id": [{ names: "a source", url: (x) => `/sources/${x.sourceId}`, status: 404 }],
      "PUT /sources/:id": [
        {
          names: "a source",
          url: (x) => `/sources/${x.sourceId}`,
          body: () => ({ name: "Mine" }),
          status: 404,
        },
      ],
      "DELETE /sources/:id": [{ names: "a source", url: (x) => `/sources/${x.sourceId}`, status: 404 }],
      "POST /suppressions": [
        {
          names: "an organization",
          url: () => "/suppressions",
          body: (x) => ({ organizationId: x.organizationId, phoneNumber: "+14155550145" }),
          status: 404,
        },
      ],
      "POST /suppressions/release": [
        {
          names: "an organization",
          url: () => "/suppressions/release",
          body: (x) => ({ organizationId: x.organizationId, phoneNumber: x.suppressedPhone }),
          status: 404,
        },
        {
          names: "a suppressed phone",
          url: () => "/suppressions/release",
          body: (x) => ({ organizationId: ownOrg, phoneNumber: x.suppressedPhone }),
          status: 404,
        },
      ],
      "POST /suppressions/check": [
        {
          names: "an organization",
          url: () => "/suppressions/check",
          body: (x) => ({ organizationId: x.organizationId, phoneNumber: x.suppressedPhone }),
          status: 404,
        },
        {
          names: "a suppressed phone",
          url: () => "/suppressions/check",
          body: (x) => ({ organizationId: ownOrg, phoneNumber: x.suppressedPhone }),
          status: 200,
        },
      ],
      "POST /suppressions/all/my": [
        list("a suppression", "/suppressions/all/my", "id", (x) => x.suppressionId),
        list("a suppressed phone", "/suppressions/all/my", "normalizedPhoneNumber", (x) => x.suppressedPhone),
      ],
      "GET /suppressions/:id": [
        { names: "a suppression", url: (x) => `/suppressions/${x.suppressionId}`, status: 404 },
      ],
      "POST /sms/send": [
        {
          names: "a conversation",
          url: () => "/sms/send",
          body: (x) => ({ conversationId: x.conversationId, text: "Hello" }),
          status: 404,
        },
        {
          names: "a message retried (smsEventId)",
          url: () => "/sms/send",
          body: (x) => ({ conversationId: own.conversationId, smsEventId: x.scheduledId, text: "Hello" }),
          status: 404,
        },
        {
          names: "a sender number (fromPhoneNumberId)",
          url: () => "/sms/send",
          body: (x) => ({
            conversationId: own.conversationId,
            text: "Hello",
            fromPhoneNumberId: x.phoneNumberId,
            wasManuallyOverridden: true,
          }),
          status: 400,
          mentions: ["fromPhoneNumberId"],
        },
      ],
      "POST /sms/:smsEventId/cancel": [
        {
          names: "a scheduled message",
          url: (x) => `/sms/${x.scheduledId}/cancel`,
          body: () => ({}),
          status: 404,
        },
        {
          names: "an inbound message",
          url: (x) => `/sms/${x.inboundId}/cancel`,
          body: () => ({}),
          status: 404,
        },
      ],
      "POST /simulator/inbound": [
        {
          names: "a sender number",
          url: () => "/simulator/inbound",
          body: (x) => ({ from: "+14155550143", to: x.number, text: "Hello" }),
          status: 404,
        },
      ],
      "POST /conversations/lead/:leadId": [
        { names: "a lead", url: (x) => `/conversations/lead/${x.leadId}`, body: () => ({}), status: 404 },
      ],
      "POST /conversations/my": [
        list("a conversation", "/conversations/my", "id", (x) => x.conversationId),
        list("a lead", "/conversations/my", "leadId", (x) => x.leadId),
      ],
      "POST /phone-numbers": {
        namesNothing:
          "creates a number of the caller's organization (a number another organization holds is a 409: a number receives for one organization only)",
      },
      "POST /phone-numbers/all/organization": [
        list("a number", "/phone-numbers/all/organization", "id", (x) => x.phoneNumberId),
        list("a number", "/phone-numbers/all/organization", "number", (x) => x.number),
      ],
      "POST /phone-numbers/outgoing/conversation/:conversationId": [
        {
          names: "a conversation",
          url: (x) => `/phone-numbers/outgoing/conversation/${x.conversationId}`,
          body: () => ({}),
          status: 404,
        },
        {
          names: "a lead beside the caller's conversation",
          url: () => `/phone-numbers/outgoing/conversation/${own.conversationId}`,
          body: (x) => ({ leadId: x.leadId }),
          status: 400,
          mentions: ["leadId"],
        },
        {
          names: "a source (routing attribution, kept as sent)",
          url: () => `/phone-numbers/outgoing/conversation/${own.conversationId}`,
          body: (x) => ({ sourceId: x.sourceId }),
          status: 200,
        },
      ],
      "POST /phone-numbers/outgoing/conversation/:conversationId/override": [
        {
          names: "a conversation",
          url: (x) => `/phone-numbers/outgoing/conversation/${x.conversationId}/override`,
          body: () => ({ fromPhoneNumberId: own.phoneNumberId }),
          status: 404,
        },
        {
          names: "a sender number (fromPhoneNumberId)",
          url: () => `/phone-numbers/outgoing/conversation/${own.conversationId}/override`,
          body: (x) => ({ fromPhoneNumberId: x.phoneNumberId }),
          status: 400,
          mentions: ["fromPhoneNumberId"],
        },
      ],
      "DELETE /phone-numbers/outgoing/conversation/:conversationId/override": [
        {
          names: "a conversation",
          url: (x) => `/phone-numbers/outgoing/conversation/${x.conversationId}/override`,
          status: 404,
        },
      ],
      "POST /phone-numbers/outgoing/new": [
        {
          names: "a lead",
          url: () => "/phone-numbers/outgoing/new",
          body: (x) => ({ leadId: x.leadId }),
          status: 404,
        },
        {
          names: "a conversation",
          url: () => "/phone-numbers/outgoing/new",
          body: (x) => ({ conversationId: x.conversationId }),
          status: 404,
        },
        {
          names: "a lead's phone",
          url: () => "/phone-numbers/outgoing/new",
          body: (x) => ({ recipientPhoneNumber: x.leadPhone }),
          status: 200,
        },
      ],
      "GET /phone-numbers/:phoneNumberId": [
        { names: "a number", url: (x) => `/phone-numbers/${x.phoneNumberId}`, status: 404 },
      ],
      "PUT /phone-numbers/:phoneNumberId": [
        {
          names: "a number",
          url: (x) => `/phone-numbers/${x.phoneNumberId}`,
          body: () => ({ number: "+14155550188", name: "Mine now" }),
          status: 404,
        },
      ],
      "DELETE /phone-numbers/:phoneNumberId": [
        { names: "a number", url: (x) => `/phone-numbers/${x.phoneNumberId}`, status: 404 },
      ],
      "GET /phone-numbers/:phoneNumberId/warmup": [
        { names: "a number", url: (x) => `/phone-numbers/${x.phoneNumberId}/warmup`, status: 404 },
      ],
      "GET /wallets/me": { namesNothing: "the caller's own wallet" },
      "GET /usage/summary/my": { namesNothing: "the caller's own usage totals" },
      "POST /usage/all/my": [
        list("a lead", "/usage/all/my", "leadId", (x) => x.sourceLeadId),
        list("a number", "/usage/all/my", "phoneNumberId", (x) => x.phoneNumberId),
      ],
    };
  };

  const keyOf = (route: RouteEntry) => `${route.method} ${route.url}`;
  /** The routes that take an API key; HEAD is answered by its GET's handler, checked beside it. */
  const keyedRoutes = () => routeTable(api.app).filter((r) => !isPublic(r.url) && r.method !== "HEAD");

  test("every route is public or has its cross-tenant cases here", async () => {
    const routes = routeTable(api.app);
    // The table is read from printRoutes: it must hold every documented operation.
    const documented = (await as(null, "GET", "/openapi.json")).json().paths as Record<string, object>;
    for (const [path, operations] of Object.entries(documented)) {
      const url = path.replace(/\{(\w+)\}/g, ":$1");
      for (const method of Object.keys(operations)) {
        assert.ok(
          routes.some((r) => r.url === url && r.method === method.toUpperCase()),
          `${method} ${url} is documented but missing from the route table read`,
        );
      }
    }
    const listed = Object.keys(cases()).sort();
    const keyed = keyedRoutes().map(keyOf).sort();
    assert.deepEqual(
      keyed.filter((k) => !listed.includes(k)),
      [],
      "routes without cross-tenant cases: add them to cases() in this file",
    );
    assert.deepEqual(
      listed.filter((k) => !keyed.includes(k)),
      [],
      "cases for routes the app no longer has",
    );
  });

  test("every route but the public ones answers 401 without a key, or with an unknown one, and changes nothing", async () => {
    const before = await snapshotAllRows(api.db.store.db);
    const params: Record<string, string> = {
      eventId: victim.noteId,
      smsEventId: victim.scheduledId,
      leadId: victim.leadId,
      conversationId: victim.conversationId,
      organizationId: victim.organizationId,
      phoneNumberId: victim.phoneNumberId,
      phoneNumber: victim.number,
      id: victim.sourceId,
    };
    const routes = routeTable(api.app).filter((r) => !isPublic(r.url));
    assert.ok(routes.length > 40, `only ${routes.length} routes read`);
    for (const route of routes) {
      const url = route.url.replace(/:(\w+)/g, (_, name: string) => params[name] ?? "x");
      const body = ["POST", "PUT"].includes(route.method) ? {} : undefined;
      for (const key of [null, `sk_${"A".repeat(43)}`]) {
        const res = await as(key, route.method, url, body);
        const where = `${route.method} ${url} ${key ? "with an unknown key" : "without a key"}`;
        if (route.method === "HEAD") {
          assert.equal(res.statusCode, 401, where);
        } else {
          assertProblem(res, 401, url);
        }
        assert.match(String(res.headers["www-authenticate"]), /^Bearer\b/, where);
      }
    }
    assert.deepEqual(await snapshotAllRows(api.db.store.db), before);
  });

  /** The victim's data as its own organization sees it, through its read-only routes. */
  const victimView = async () => {
    const view: Record<string, unknown> = {};
    for (const url of [
      `/leads/${victim.leadId}`,
      `/leads/${victim.sourceLeadId}`,
      `/events/${victim.noteId}`,
      `/events/detail/${victim.scheduledId}`,
      `/events/sms/${victim.inboundId}`,
      `/sources/${victim.sourceId}`,
      `/suppressions/${victim.suppressionId}`,
      `/phone-numbers/${victim.phoneNumberId}`,
      `/phone-numbers/${victim.phoneNumberId}/warmup`,
    ]) {
      view[url] = await ok(await as(api.org.apiKey, "GET", url));
    }
    return view;
  };

  /** A response's headers but its date, which only says when it was sent. */
  const headersOf = (res: LightMyRequestResponse) => {
    const { date: _date, ...headers } = res.headers;
    return headers;
  };

  /** Replaces every piece of the victim's data a text names by its twin. */
  const asTwin = (text: string) =>
    (Object.keys(victim) as (keyof Named)[])
      .sort((a, b) => victim[b].length - victim[a].length)
      .reduce((out, name) => out.split(victim[name]).join(twin[name]), text);

  test("another organization's data answers exactly as data that never existed, and nothing changes", async () => {
    const seen = await victimView();
    let probes = 0;
    for (const [route, routeCases] of Object.entries(cases())) {
      if (!Array.isArray(routeCases)) continue;
      const method = route.split(" ")[0]!;
      for (const probe of routeCases) {
        const where = `${route} naming ${probe.names}`;
        const before = await snapshotAllRows(api.db.store.db);
        const foreign = await as(other.apiKey, method, probe.url(victim), probe.body?.(victim));
        const missing = await as(other.apiKey, method, probe.url(twin), probe.body?.(twin));
        assert.deepEqual(await snapshotAllRows(api.db.store.db), before, `${where} changed data`);
        if (probe.status >= 400) {
          const mentions = probe.mentions ?? ["was not found"];
          assertProblem(foreign, probe.status, probe.url(victim), ...mentions);
        } else {
          assert.equal(foreign.statusCode, probe.status, `${where}: ${foreign.body}`);
          const items = (foreign.json() as { items?: unknown[] }).items;
          if (items) {
            assert.deepEqual(items, [], `${where} shows the other organization's rows`);
            // The same list asked by the victim shows its rows: the probe names real data.
            const mine = await as(api.org.apiKey, method, probe.url(victim), probe.body?.(victim));
            assert.notDeepEqual((await ok(mine)).items, [], `${where}: the victim's own list is empty`);
          }
        }
        assert.deepEqual(headersOf(foreign), headersOf(missing), `${where}: headers`);
        assert.deepEqual(
          JSON.parse(asTwin(foreign.body)),
          missing.json(),
          `${where}: answered otherwise than for data that never existed`,
        );
        if (method === "GET") {
          const head = await as(other.apiKey, "HEAD", probe.url(victim));
          assert.equal(head.statusCode, foreign.statusCode, `HEAD ${where}`);
        }
        probes++;
      }
    }
    assert.ok(probes > 50, `${probes} probes`);
    assert.deepEqual(await victimView(), seen, "the victim's data reads as before");
  });
});
