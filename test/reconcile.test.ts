import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import { insertEvent, newEventRow } from "../src/store/events-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addSenderNumber, isFinal, startSimulator, waitForEvent } from "./helpers/messaging.js";

// A message left in Sending by a process that died mid-call is never resent: at its reconcile
// deadline it ends Failed / ProviderOutcomeUnknown, and a receipt arriving later still settles it.

forEachEngine("reconcile", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "off" } });
    startSimulator(api);
  });
  after(() => api.close());

  let sender: Awaited<ReturnType<typeof addSenderNumber>> | undefined;
  const stuckMessage = async (to: string) => {
    sender ??= await addSenderNumber(api);
    const number = sender;
    const now = Date.now();
    return insertEvent(
      api.db.store.db,
      newEventRow({
        organization_id: api.org.organizationId,
        event_type: "SmsOutbound",
        activity_type: "Sms",
        activity_category: ACTIVITY_CATEGORY.Sms,
        description: "Outbound SMS.",
        direction: "outbound",
        status: "Sending",
        traffic_type: "RealLead",
        from_phone_number_id: number.id,
        from_phone_number: number.number,
        to_phone_number: to,
        body: "hello",
        price_micros: 7900,
        segments: 1,
        queued_at: now - 10_000,
        sending_started_at: now - 9_000,
        next_attempt_at: now - 1,
        created_by: api.org.userId,
        created_at: now - 10_000,
      }),
    );
  };

  test("Sending past its deadline ends ProviderOutcomeUnknown without a provider call; a late receipt settles it", async () => {
    const stuck = await stuckMessage("+12125550190");
    const failed = await waitForEvent(api, stuck.id, isFinal);
    assert.equal(failed.status, "Failed");
    assert.equal(failed.errorCode, "ProviderOutcomeUnknown");
    assert.match(String(failed.statusReason), /^No answer from the provider before the reconcile deadline/);
    assert.equal(failed.providerMessageId, null, "the provider was not called again");
    const detail = (await api.call("GET", `/events/detail/${stuck.id}`)).json();
    assert.ok(
      !detail.transitions.some((t: { stage: string }) => t.stage === "provider" || t.stage === "sending"),
    );
    await api.pipeline.receipt({
      eventId: stuck.id,
      organizationId: api.org.organizationId,
      providerMessageId: "late-1",
      kind: "delivered",
      occurredAt: Date.now(),
    });
    const settled = (await api.call("GET", `/events/${stuck.id}`)).json();
    assert.equal(settled.status, "Delivered");
    assert.equal(settled.errorCode, null);
    assert.equal(settled.statusReason, null);
    assert.equal(settled.billingStatus, "Billed");
  });
  test("a late 'sent' receipt after the reconcile gave up makes it Sent: it did go out (billed, no error left)", async () => {
    const stuck = await stuckMessage("+12125550191");
    const failed = await waitForEvent(api, stuck.id, isFinal);
    assert.equal(failed.errorCode, "ProviderOutcomeUnknown");
    await api.pipeline.receipt({
      eventId: stuck.id,
      organizationId: api.org.organizationId,
      providerMessageId: "late-2",
      kind: "sent",
      occurredAt: Date.now(),
    });
    const sent = (await api.call("GET", `/events/${stuck.id}`)).json();
    assert.equal(sent.status, "Sent");
    assert.equal(sent.errorCode, null);
    assert.equal(sent.failedAt, null);
    assert.equal(sent.statusReason, null);
    assert.equal(sent.billingStatus, "Billed");
  });
});
