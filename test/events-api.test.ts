import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { insertEvents, newEventRow } from "../src/store/events-repo.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import { assertEventRecord, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

const SEED_PROPERTIES = [
  "id",
  "eventType",
  "eventCategory",
  "activityType",
  "activityCategory",
  "description",
  "conversationId",
  "leadId",
  "summary",
  "direction",
  "status",
  "statusReason",
  "isWarmup",
  "trafficType",
  "fromPhoneNumberId",
  "outboundPhoneNumberId",
  "fromPhoneNumber",
  "toPhoneNumber",
  "telnyxId",
  "providerMessageId",
  "selectionReason",
  "wasManuallyOverridden",
  "campaignId",
  "sourceId",
  "tenDlcCampaignId",
  "complianceAction",
  "billingStatus",
  "billableAmount",
  "errorCode",
  "retryCount",
  "queuedAt",
  "sendingStartedAt",
  "sentAt",
  "deliveredAt",
  "receivedAt",
  "failedAt",
  "undeliverableAt",
  "blockedAt",
  "nextRetryAt",
  "scheduledFor",
  "scheduledReason",
  "canceledAt",
  "cancelReason",
  "createdAt",
  "createdBy",
];

forEachEngine("events API", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  test("a created lead has a LeadCreated event with every seed property", async () => {
    const created = await api.call("POST", "/leads", {
      contact: { firstName: "Ada", lastName: "Lovelace", phone: { number: "(415) 555-0142" } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const lead = created.json();
    assert.equal(lead.contact.phone.number, "+14155550142");

    const list = await api.call("POST", `/events/leads/${lead.id}`, {});
    assert.equal(list.statusCode, 200, list.body);
    const page = list.json();
    assert.equal(page.items.length, 1);
    const [event] = page.items;
    assertEventRecord(event);
    assert.equal(event.activityType, "LeadCreated");
    assert.equal(event.timelineType, "LeadCreated");
    assert.equal(event.leadId, lead.id);

    const one = await api.call("GET", `/events/${event.id}`);
    assert.equal(one.statusCode, 200);
    const record = one.json();
    assertEventRecord(record);
    assert.equal(SEED_PROPERTIES.length, 45);
    for (const key of SEED_PROPERTIES) assert.ok(Object.hasOwn(record, key), `missing ${key}`);
    assert.equal(record.createdBy, api.org.userId);
    assert.equal(record.retryCount, 0);
    assert.equal(record.isWarmup, false);
    assert.match(record.createdAt, /Z$/);
  });

  test("an event a transaction has written but not committed is not read, and after its rollback never was", async () => {
    const db = api.db.store.db;
    const [row] = [
      newEventRow({
        organization_id: api.org.organizationId,
        event_type: "Note",
        activity_type: "Note",
        activity_category: "Note",
        description: "A note that is rolled back.",
        created_by: api.org.userId,
        summary: "uncommitted",
      }),
    ];
    let reads: Array<[number, number]> = [];
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await insertEvents(trx, [row!]);
        // Other requests run while the transaction is open (on SQLite, on the same connection).
        const one = await api.call("GET", `/events/${row!.id}`);
        const list = await api.call("POST", "/events/all/my", { search: "uncommitted" });
        reads = [[one.statusCode, list.json().items.length]];
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.deepEqual(reads, [[404, 0]]);
    assert.equal((await api.call("GET", `/events/${row!.id}`)).statusCode, 404);
  });

  test("event detail names its author from the users table: name, email when known, null otherwise", async () => {
    const db = api.db.store.db;
    const org = await createOrganization(db, "Detail Org", "Grace Hopper");
    const detailOf = async (eventId: string) => {
      const res = await api.call("GET", `/events/detail/${eventId}`, undefined, org.apiKey);
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };
    const leadEvent = async (firstName: string) => {
      const lead = await api.call("POST", "/leads", { contact: { firstName } }, org.apiKey);
      assert.equal(lead.statusCode, 201, lead.body);
      const page = await api.call("POST", `/events/leads/${lead.json().id}`, {}, org.apiKey);
      return page.json().items[0].id as string;
    };

    // A user without an email.
    const first = await detailOf(await leadEvent("Ada"));
    assert.equal(first.userId, org.userId);
    assert.deepEqual(first.user, { id: org.userId, name: "Grace Hopper" });
    assert.equal(first.userEmail, null);

    const firstRecord = (await api.call("GET", `/events/${first.id}`, undefined, org.apiKey)).json();
    assert.equal(firstRecord.actorDisplayName, "Grace Hopper");
    assert.equal(firstRecord.actorEmail, null);

    // With one (set before leadtrail first reads the user: no endpoint edits users, and each
    // process remembers the authors it has read).
    const withEmail = await createOrganization(db, "Email Org", "Alan Turing");
    await db
      .updateTable("users")
      .set({ email: "alan@example.com" })
      .where("organization_id", "=", withEmail.organizationId)
      .where("id", "=", withEmail.userId)
      .execute();
    const lead = await api.call("POST", "/leads", { contact: { firstName: "Kurt" } }, withEmail.apiKey);
    const page = (await api.call("POST", `/events/leads/${lead.json().id}`, {}, withEmail.apiKey)).json();
    assert.equal(page.items[0].actorDisplayName, "Alan Turing");
    assert.equal(page.items[0].actorEmail, "alan@example.com");
    const second = (
      await api.call("GET", `/events/detail/${page.items[0].id}`, undefined, withEmail.apiKey)
    ).json();
    assert.deepEqual(second.user, { id: withEmail.userId, name: "Alan Turing" });
    assert.equal(second.userEmail, "alan@example.com");
    const record = (await api.call("GET", `/events/${page.items[0].id}`, undefined, withEmail.apiKey)).json();
    assert.equal(record.actorDisplayName, "Alan Turing");
    assert.equal(record.actorEmail, "alan@example.com");

    // An author that is no user (the system writes inbound messages and replies): unknown.
    const system = newEventRow({
      organization_id: org.organizationId,
      event_type: "SmsReceived",
      activity_type: "Sms",
      activity_category: "Messaging",
      description: "",
      created_by: "system",
    });
    await insertEvents(db, [system]);
    const bySystem = await detailOf(system.id);
    assert.equal(bySystem.userId, "system");
    assert.equal(bySystem.user, null);
    assert.equal(bySystem.userEmail, null);
    const systemRecord = (await api.call("GET", `/events/${system.id}`, undefined, org.apiKey)).json();
    assert.equal(systemRecord.actorUserId, null);
    assert.equal(systemRecord.actorDisplayName, "System");
    assert.equal(systemRecord.actorEmail, null);
  });
});
