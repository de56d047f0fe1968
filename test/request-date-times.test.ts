import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { countEvents, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

// CONTRACT.md: timestamps are RFC 3339 in UTC with Z. Every date-time a request carries besides a
// lead's metadata (leads.test.ts): sms scheduledFor, the usage summary's period, the event lists'
// startAt/endAt and every list's rangeFilters. Each is read by parseRfc3339: what a JSON Schema
// date-time check lets through but no instant JavaScript holds is a 400 naming the field, a time
// written with an offset is answered in Z form, and the same instant spelled otherwise is the same.

/** Pass a "date-time" format check (ajv-formats reads both), refused by parseRfc3339. */
const REFUSED = ["2026-12-31T23:59:60Z", "2026-03-01T09:00:00+0500"];

forEachEngine("date-times in requests", (engine) => {
  let api: TestApi;
  let conversationId: string;
  before(async () => {
    api = await startTestApi(engine);
    await addSenderNumber(api);
    ({ conversationId } = await addLead(api, "+12125550231"));
  });
  after(() => api.close());

  const eventCount = () => countEvents(api);

  const assertNames = (res: LightMyRequestResponse, field: string) => {
    assert.equal(res.statusCode, 400, res.body);
    assert.deepEqual(Object.keys(res.json().errors), [field], res.body);
    assert.ok(String(res.json().detail).startsWith(field), res.body);
  };

  test("POST /sms/send: scheduledFor refused by the parser is a 400 naming it; an offset is answered in Z", async () => {
    const before = await eventCount();
    for (const scheduledFor of REFUSED) {
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Hello", scheduledFor });
      assertNames(res, "scheduledFor");
    }
    assert.equal(await eventCount(), before, "nothing written");
    // Thirty days ahead at whole seconds, written at +05:30.
    const at = Math.floor((Date.now() + 30 * 86_400_000) / 1000) * 1000;
    const local = `${new Date(at + 330 * 60_000).toISOString().slice(0, 19)}+05:30`;
    const sent = await api.call("POST", "/sms/send", { conversationId, text: "Hello", scheduledFor: local });
    assert.equal(sent.statusCode, 201, sent.body);
    assert.equal(sent.json().scheduledFor, new Date(at).toISOString());
    const read = await api.call("GET", `/events/sms/${sent.json().id}`);
    assert.equal(read.json().scheduledFor, new Date(at).toISOString());
  });

  test("GET /usage/summary/my: a bound refused by the parser is a 400 naming it; an offset is answered in Z", async () => {
    for (const value of REFUSED) {
      for (const param of ["periodStart", "periodEnd"]) {
        assertNames(await api.call("GET", `/usage/summary/my?${param}=${encodeURIComponent(value)}`), param);
      }
    }
    const res = await api.call(
      "GET",
      `/usage/summary/my?periodStart=${encodeURIComponent("2024-01-01T00:00:00+02:00")}`,
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().periodStart, "2023-12-31T22:00:00.000Z");
    // An empty bound is none (README): the current month.
    const empty = await api.call("GET", "/usage/summary/my?periodStart=&periodEnd=");
    assert.equal(empty.statusCode, 200, empty.body);
    assert.equal(empty.json().periodStart, (await api.call("GET", "/usage/summary/my")).json().periodStart);
  });

  test("startAt and endAt of the event lists: refused by the parser is a 400 naming them", async () => {
    for (const value of REFUSED) {
      for (const param of ["startAt", "endAt"]) {
        assertNames(
          await api.call("POST", `/events/all/my?${param}=${encodeURIComponent(value)}`, {}),
          param,
        );
      }
    }
  });

  test("rangeFilters of every list: refused by the parser is a 400 naming the bound", async () => {
    const lists: Array<[string, string]> = [
      ["/leads/all/my", "updatedAt"],
      ["/conversations/my", "lastEventAt"],
      ["/events/all/my", "createdAt"],
      ["/events/sms/all/my", "scheduledFor"],
      ["/phone-numbers/all/organization", "updatedAt"],
      ["/sources/all/my", "modifiedAt"],
      ["/suppressions/all/my", "releasedAt"],
      ["/usage/all/my", "createdAt"],
    ];
    for (const [path, field] of lists) {
      for (const value of REFUSED) {
        const res = await api.call("POST", path, { rangeFilters: [{ field, greaterThanOrEqual: value }] });
        assertNames(res, "rangeFilters[0].greaterThanOrEqual");
      }
    }
  });

  test("rangeFilters: the same instant in another spelling continues the same walk", async () => {
    const page = (greaterThanOrEqual: string, continuationToken?: string) =>
      api.call("POST", "/events/all/my", {
        pageSize: 1,
        rangeFilters: [{ field: "createdAt", greaterThanOrEqual }],
        ...(continuationToken ? { continuationToken } : {}),
      });
    const first = await page("2000-01-01T00:00:00Z");
    const token = first.json().continuationToken;
    assert.ok(token, first.body);
    assert.equal((await page("2000-01-01T02:00:00+02:00", token)).statusCode, 200);
    assert.equal((await page("2000-01-01t00:00:00.000z", token)).statusCode, 200);
    assert.equal((await page("2000-01-01T00:00:00.001Z", token)).statusCode, 400);
  });
});
