import assert from "node:assert/strict";
import { after, before, test } from "node:test";
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
});
