import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { EVENT_STATUSES } from "../src/domain/event-vocabulary.js";
import { insertEvents, newEventRow } from "../src/store/events-repo.js";
import type { EventRow } from "../src/store/schema.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

// The SMS lists show the lower-case lifecycle ("delivered", "blocked_billing") while the event
// record shows the seed's status ("Delivered", "Blocked"): a status filter takes either, in any
// case, and matches exactly the rows that display it.

const PROBLEM = /^application\/problem\+json\b/;
// SmsEventTableRow.status in the contract's subset.
const SMS_LIFECYCLE_STATUSES = [
  "draft",
  "scheduled",
  "queued",
  "sending",
  "sent",
  "received",
  "delivered",
  "failed",
  "undeliverable",
  "opted_out",
  "blocked_compliance",
  "blocked_billing",
  "blocked_missing_campaign",
  "canceled",
];
const LEAD_PHONE = "+12125550150";

type Item = { id: string; status: string | null };

forEachEngine("SMS list status filter", (engine) => {
  let api: TestApi;
  let leadId: string;
  /** Each message's seed status, by id. */
  const seedStatus = new Map<string, string>();

  before(async () => {
    api = await startTestApi(engine);
    const lead = await api.call("POST", "/leads", {
      contact: { firstName: "Val", phone: { number: LEAD_PHONE } },
    });
    assert.equal(lead.statusCode, 201, lead.body);
    leadId = lead.json().id;
    const message = (status: string, fields: Partial<EventRow> = {}) =>
      newEventRow({
        organization_id: api.org.organizationId,
        event_type: "SmsSent",
        activity_type: "Sms",
        activity_category: "Messaging",
        description: "",
        created_by: api.org.userId,
        lead_id: leadId,
        direction: "outbound",
        from_phone_number: "+14155550100",
        to_phone_number: LEAD_PHONE,
        status,
        ...fields,
      });
    const rows = [
      message("Delivered"),
      message("Delivered"),
      message("Sent"),
      message("Queued"),
      message("Canceled"),
      // smsLifecycleStatus reads InsufficientFunds before the compliance action.
      message("Blocked", { billing_status: "InsufficientFunds", compliance_action: "MissingTenDlcCampaign" }),
      message("Blocked", { compliance_action: "MissingTenDlcCampaign" }),
      message("Blocked", { compliance_action: "Suppressed" }),
      message("Blocked"),
      message("Received", {
        created_by: "system",
        direction: "inbound",
        from_phone_number: LEAD_PHONE,
        to_phone_number: "+14155550100",
      }),
      message("Opted out", {
        created_by: "system",
        direction: "inbound",
        from_phone_number: LEAD_PHONE,
        to_phone_number: "+14155550100",
      }),
    ];
    await insertEvents(api.db.store.db, rows);
    for (const row of rows) seedStatus.set(row.id, row.status!);
  });
  after(() => api.close());

  const paths = () => ["/events/sms/all/my", `/events/sms/lead/${leadId}`, `/events/sms/phone/${LEAD_PHONE}`];

  const ids = async (path: string, value?: string): Promise<Item[]> => {
    const body = value === undefined ? {} : { filters: [{ field: "status", value }] };
    const res = await api.call("POST", path, { ...body, pageSize: 500 });
    assert.equal(res.statusCode, 200, `${path} ${value}: ${res.body}`);
    return res.json().items.map((i: Item) => ({ id: i.id, status: i.status }));
  };
  const sorted = (items: Item[]) => items.map((i) => i.id).sort();

  test("a row names its author as the event record does, its sender and its organization", async () => {
    const db = api.db.store.db;
    const { name: organizationName } = await db
      .selectFrom("organizations")
      .select("name")
      .where("id", "=", api.org.organizationId)
      .executeTakeFirstOrThrow();
    const { name: userName } = await db
      .selectFrom("users")
      .select("name")
      .where("id", "=", api.org.userId)
      .executeTakeFirstOrThrow();
    for (const path of paths()) {
      const items = (await api.call("POST", path, { pageSize: 500 })).json().items as Record<
        string,
        unknown
      >[];
      assert.equal(items.length, seedStatus.size, path);
      for (const item of items) {
        const record = (await api.call("GET", `/events/${item.id}`)).json();
        const single = (await api.call("GET", `/events/sms/${item.id}`)).json();
        const inbound = item.direction === "inbound";
        const expected = {
          actorDisplayName: inbound ? "System" : userName,
          userName: inbound ? null : userName,
          senderName: inbound ? "Val" : userName,
          organizationName,
        };
        for (const row of [item, single]) {
          assert.deepEqual(
            Object.fromEntries(Object.keys(expected).map((k) => [k, row[k]])),
            expected,
            `${path} ${item.id}`,
          );
        }
        assert.equal(record.actorDisplayName, expected.actorDisplayName);
      }
    }
  });

  test('filters: [{"field":"status","value":"delivered"}] matches the rows shown as delivered, as "Delivered" does', async () => {
    for (const path of paths()) {
      const lower = await ids(path, "delivered");
      assert.equal(lower.length, 2, path);
      assert.ok(
        lower.every((i) => i.status === "delivered"),
        path,
      );
      assert.deepEqual(sorted(await ids(path, "Delivered")), sorted(lower), path);
      assert.deepEqual(sorted(await ids(path, "DELIVERED")), sorted(lower), path);
    }
  });

  test("a toPhoneNumber filter takes the number as written, as /events/sms/phone/{number} does", async () => {
    const to = async (value: string) => {
      const res = await api.call("POST", "/events/sms/all/my", {
        filters: [{ field: "toPhoneNumber", value }],
        pageSize: 500,
      });
      assert.equal(res.statusCode, 200, res.body);
      return res
        .json()
        .items.map((i: Item) => i.id)
        .sort();
    };
    const stored = await to(LEAD_PHONE);
    assert.equal(stored.length, 9, "the outbound messages");
    assert.deepEqual(await to("(212) 555-0150"), stored);
    assert.deepEqual(await to("212.555.0150"), stored);
  });

  test("every lower-case status, in any case, matches exactly the rows that display it", async () => {
    for (const path of paths()) {
      const all = await ids(path);
      assert.equal(all.length, seedStatus.size, path);
      for (const status of SMS_LIFECYCLE_STATUSES) {
        const expected = sorted(all.filter((i) => i.status === status));
        assert.deepEqual(sorted(await ids(path, status)), expected, `${path} ${status}`);
        assert.deepEqual(sorted(await ids(path, status.toUpperCase())), expected, `${path} ${status}`);
      }
      // Each of the three blocked kinds is one row here.
      for (const kind of ["blocked_billing", "blocked_missing_campaign", "blocked_compliance"]) {
        assert.ok((await ids(path, kind)).length >= 1, `${path} ${kind}`);
      }
    }
  });

  test("every seed status, in any case, matches the rows with that event status", async () => {
    for (const path of paths()) {
      for (const status of EVENT_STATUSES) {
        const expected = [...seedStatus].filter(([, s]) => s === status).map(([id]) => id);
        assert.deepEqual(sorted(await ids(path, status)), expected.sort(), `${path} ${status}`);
        assert.deepEqual(sorted(await ids(path, status.toLowerCase())), expected.sort(), `${path} ${status}`);
      }
    }
  });

  test("a status of neither vocabulary is a 400 naming the value and both vocabularies", async () => {
    for (const path of paths()) {
      for (const value of ["deliverd", "opted-out", "Blocked_Sms", "pending_invoice"]) {
        const res = await api.call("POST", path, { filters: [{ field: "status", value }] });
        assert.equal(res.statusCode, 400, `${path} ${value}: ${res.body}`);
        assert.match(String(res.headers["content-type"]), PROBLEM);
        const detail = res.json().detail as string;
        assert.ok(detail.startsWith("filters[0].value"), detail);
        assert.ok(detail.includes("delivered") && detail.includes("Delivered"), detail);
      }
    }
  });
});

forEachEngine("SMS list by phone number", (engine) => {
  let api: TestApi;
  const PHONE = "+12125550160";
  const OURS = "+14155550100";
  const OTHER = "+12125550161";

  before(async () => {
    api = await startTestApi(engine);
    // Sent to it, sent from it, to and from it at once, with no sender yet, and other numbers' messages;
    // several share a createdAt, so the id decides between them.
    const shapes: Array<[string | null, string | null, string]> = [
      [OURS, PHONE, "outbound"],
      [PHONE, OURS, "inbound"],
      [OURS, OTHER, "outbound"],
      [OTHER, OURS, "inbound"],
      [PHONE, PHONE, "outbound"],
      [null, PHONE, "outbound"],
    ];
    const base = Date.now() - 3_600_000;
    const rows: EventRow[] = [];
    for (let i = 0; i < 40; i++) {
      const [from, to, direction] = shapes[i % shapes.length]!;
      rows.push(
        newEventRow(
          {
            organization_id: api.org.organizationId,
            event_type: direction === "inbound" ? "SmsInbound" : "SmsSent",
            activity_type: "Sms",
            activity_category: "Messaging",
            description: "",
            created_by: api.org.userId,
            direction,
            from_phone_number: from,
            to_phone_number: to,
            status: direction === "inbound" ? "Received" : i % 3 === 0 ? "Delivered" : "Queued",
          },
          base + Math.floor(i / 3) * 1000,
        ),
      );
    }
    await insertEvents(api.db.store.db, rows);
  });
  after(() => api.close());

  /** Follows continuation tokens to the end. */
  const walk = async (path: string, body: Record<string, unknown>) => {
    const ids: string[] = [];
    let token: string | null = null;
    let totalCount: number | null = null;
    do {
      const res = await api.call("POST", path, { ...body, continuationToken: token });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json();
      ids.push(...page.items.map((i: { id: string }) => i.id));
      token = page.continuationToken;
      totalCount ??= page.totalCount ?? null;
    } while (token);
    return { ids, totalCount };
  };

  test("pages hold each message to or from the number once, in the list's order, whatever the order", async () => {
    for (const orderBy of [
      [],
      [{ field: "createdAt", direction: "asc" }],
      [{ field: "id", direction: "desc" }],
      [
        { field: "createdAt", direction: "asc" },
        { field: "id", direction: "desc" },
      ],
    ]) {
      // The same order over every message, one page, narrowed here instead.
      const all = await api.call("POST", "/events/sms/all/my", { orderBy, pageSize: 500 });
      assert.equal(all.statusCode, 200, all.body);
      const everything = all.json().items as Array<{
        id: string;
        fromPhoneNumber: string | null;
        toPhoneNumber: string | null;
      }>;
      const expected = everything
        .filter((i) => i.fromPhoneNumber === PHONE || i.toPhoneNumber === PHONE)
        .map((i) => i.id);
      assert.equal(expected.length, 26, JSON.stringify(orderBy));
      const { ids, totalCount } = await walk(`/events/sms/phone/${PHONE}`, {
        orderBy,
        pageSize: 4,
        includeCount: true,
      });
      assert.deepEqual(ids, expected, JSON.stringify(orderBy));
      assert.equal(totalCount, expected.length);
    }
  });
});
