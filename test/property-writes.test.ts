import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { snapshotAllRows } from "./helpers/snapshot.js";

// "No input produces a 500" and "bad input changes nothing", for every endpoint that writes:
// random JSON, and a valid body with one part replaced, removed or added, each answer a success or
// an RFC 9457 problem, and a refused body leaves every table exactly as it was.
// (test/property-lists.test.ts does the same for the list endpoints.)

const RUNS = Math.max(10, Math.round(Number(process.env.LEADTRAIL_PROPERTY_RUNS ?? 100) / 3));
const SEED = process.env.LEADTRAIL_PROPERTY_SEED ? Number(process.env.LEADTRAIL_PROPERTY_SEED) : undefined;
const fcOptions = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface WriteEndpoint {
  method: "POST" | "PUT";
  path: string;
  /** A body the endpoint accepts: the starting point of the mutations. */
  valid: { [key: string]: Json };
}

/** Values a client might put anywhere: any JSON, hostile strings, edge numbers. */
const strangeValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue() as fc.Arbitrary<Json>,
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom<Json>(
    "",
    " ",
    "\u0000",
    "x".repeat(2000),
    "+1",
    "null",
    "__proto__",
    -1,
    0,
    1e308,
    2 ** 53 + 1,
  ),
);

/** Every property path of a body (objects only; arrays are replaced whole). */
function propertyPaths(value: Json, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, inner]) => [
    [...prefix, key],
    ...propertyPaths(inner, [...prefix, key]),
  ]);
}

/** A deep copy of `body` with the property at `path` set to `value`, or removed when value is undefined. */
function withProperty(body: Json, path: string[], value: Json | undefined): Json {
  const copy = structuredClone(body) as { [key: string]: Json };
  let target = copy;
  for (const key of path.slice(0, -1)) target = target[key] as { [key: string]: Json };
  const last = path[path.length - 1]!;
  if (value === undefined) delete target[last];
  else Object.defineProperty(target, last, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function bodies(valid: { [key: string]: Json }): fc.Arbitrary<Json> {
  const paths = propertyPaths(valid);
  return fc.oneof(
    fc.jsonValue() as fc.Arbitrary<Json>,
    fc
      .tuple(fc.constantFrom(...paths), strangeValue)
      .map(([path, value]) => withProperty(valid, path, value)),
    fc.constantFrom(...paths).map((path) => withProperty(valid, path, undefined)),
    fc
      .tuple(fc.constantFrom(...paths), fc.string({ maxLength: 12 }), strangeValue)
      .map(([path, key, value]) => withProperty(valid, [...path.slice(0, -1), key], value)),
  );
}

forEachEngine("write endpoints under random bodies", (engine) => {
  let api: TestApi;
  const endpoints: WriteEndpoint[] = [];

  before(async () => {
    api = await startTestApi(engine);
    const ok = async (method: "POST" | "PUT", path: string, body: Json) => {
      const res = await api.call(method, path, body);
      assert.ok(res.statusCode < 300, `${method} ${path}: ${res.statusCode} ${res.body}`);
      return res.json() as { [key: string]: Json };
    };
    const sender = await ok("POST", "/phone-numbers", {
      number: "+14155550100",
      name: "Main line",
      routing: { tenDlcCampaignId: "CAMP-1" },
      isDefault: true,
    });
    const lead = await ok("POST", "/leads", {
      contact: { firstName: "Ada", phone: { number: "(415) 555-0142" } },
    });
    const conversations = await ok("POST", `/conversations/lead/${lead.id}`, {});
    const conversationId = (conversations.items as { id: string }[])[0]!.id;
    const sms = await ok("POST", "/sms/send", {
      conversationId,
      text: "Hello",
      sendAt: "2099-01-01T00:00:00Z",
    });
    const smsId = String(sms.id ?? sms.eventId ?? sms.smsEventId);
    const leadBody = {
      contact: {
        firstName: "Ada",
        lastName: "Lovelace",
        email: "ada@example.com",
        phone: { number: "(415) 555-0142" },
      },
      metadata: { utmSource: "facebook-ads" },
      tagNames: ["hot"],
    };
    const suppression = {
      organizationId: api.org.organizationId,
      phoneNumber: "+14155550199",
      reason: "asked",
    };
    endpoints.push(
      { method: "POST", path: "/leads", valid: leadBody },
      { method: "PUT", path: `/leads/${lead.id}`, valid: leadBody },
      {
        method: "POST",
        path: `/events/conversations/${conversationId}/notes`,
        valid: { text: "Called back." },
      },
      {
        method: "POST",
        path: "/phone-numbers",
        valid: {
          number: "+14155550177",
          name: "Second",
          routing: { tenDlcCampaignId: "CAMP-2" },
          isPreferred: false,
        },
      },
      {
        method: "PUT",
        path: `/phone-numbers/${sender.id}`,
        valid: { number: "+14155550100", name: "Renamed" },
      },
      {
        method: "POST",
        path: `/phone-numbers/outgoing/conversation/${conversationId}/override`,
        valid: { fromPhoneNumberId: String(sender.id) },
      },
      {
        method: "POST",
        path: "/phone-numbers/outgoing/new",
        valid: { leadId: String(lead.id), campaignId: "camp", sourceId: "src" },
      },
      {
        method: "POST",
        path: "/phone-numbers/outgoing/new",
        valid: { conversationId, leadId: String(lead.id), channel: "sms" },
      },
      { method: "POST", path: "/suppressions", valid: suppression },
      {
        method: "POST",
        path: "/suppressions",
        valid: { ...suppression, recipientIdentifier: "crm-contact-1" },
      },
      { method: "POST", path: "/suppressions/release", valid: suppression },
      { method: "POST", path: "/suppressions/check", valid: suppression },
      { method: "POST", path: "/sms/send", valid: { conversationId, text: "Following up", mediaUrls: null } },
      // A retry of the message sent above: answers it and sends nothing.
      { method: "POST", path: "/sms/send", valid: { conversationId, text: "Hello", smsEventId: smsId } },
      { method: "POST", path: `/sms/${smsId}/cancel`, valid: { reason: "changed my mind" } },
      {
        method: "POST",
        path: "/simulator/inbound",
        valid: { from: "+14155550142", to: "+14155550100", text: "Yes" },
      },
    );
  });
  after(() => api.close());

  test("every write endpoint takes its valid body", async () => {
    for (const { method, path, valid } of endpoints) {
      const res = await api.call(method, path, valid);
      assert.ok(res.statusCode < 300, `${method} ${path}: ${res.statusCode} ${res.body}`);
    }
  });

  test("any body is a success or a problem, never a 5xx, and a refused one changes nothing", async () => {
    let state = await snapshotAllRows(api.db.store.db);
    const statuses = new Map<number, number>();
    for (const { method, path, valid } of endpoints) {
      await fc.assert(
        fc.asyncProperty(bodies(valid), async (body) => {
          const res = await api.call(method, path, JSON.stringify(body));
          const where = `${method} ${path} ${JSON.stringify(body).slice(0, 300)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          assert.ok(res.statusCode < 500, where);
          const after = await snapshotAllRows(api.db.store.db);
          if (res.statusCode >= 400) {
            assert.match(String(res.headers["content-type"]), /^application\/problem\+json/, where);
            const problem = res.json() as { status?: unknown; detail?: unknown };
            assert.equal(problem.status, res.statusCode, where);
            assert.ok(typeof problem.detail === "string" && problem.detail.length > 0, where);
            assert.deepEqual(after, state, `a refused request changed a table: ${where}`);
          }
          state = after;
        }),
        fcOptions,
      );
    }
    // The mutations reach both sides: some bodies are accepted, and some are refused for their content.
    const accepted = [...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0);
    const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, c]) => n + c, 0);
    assert.ok(accepted > 0 && refused > 0, `statuses: ${JSON.stringify([...statuses])}`);
  });
});
