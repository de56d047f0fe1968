import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createWallet } from "../src/store/billing-repo.js";
import { assertLeadpingShape, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber, isFinal, startSimulator, waitForEvent } from "./helpers/messaging.js";

// LeadMetadata's SMS consent fields (smsConsentStatus, smsOptedOut, smsOptOutAt, smsOptInAt,
// smsHelpRequestedAt, smsConsentPhoneNumber) record what the person replied and what the
// organization's suppression list says of their phone, on every lead at that phone.

forEachEngine("a lead's SMS consent", (engine) => {
  let api: TestApi;
  const OUR = "+14155550100";
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "off" } });
    await addSenderNumber(api, { number: OUR });
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    startSimulator(api);
  });
  after(() => api.close());

  const inbound = async (from: string, text: string) => {
    const res = await api.call("POST", "/simulator/inbound", { from, to: OUR, text });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { leadId: string; receivedAt: string };
  };

  const lead = async (id: string) => {
    const res = await api.call("GET", `/leads/${id}`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    // The consent fields against the subset's LeadMetadata (types, date-times). A lead without a
    // TrustedForm URL answers it as null, which the subset types as a string (lead-record.ts says why).
    assertLeadpingShape({ ...body.metadata, trustedFormUrl: "https://cert.example/1" }, "LeadMetadata");
    return body as { metadata: Record<string, unknown>; modifiedAt: string | null };
  };

  const suppressions = (path: string, phoneNumber: string, channel = "sms") =>
    api.call("POST", path, { organizationId: api.org.organizationId, phoneNumber, channel });

  const sendStatus = async (conversationId: string) => {
    const res = await api.call("POST", "/sms/send", { conversationId, text: "Checking in" });
    assert.equal(res.statusCode, 201, res.body);
    return waitForEvent(api, res.json().id, isFinal);
  };

  test("STOP opts out every lead at the phone; a repeated STOP keeps the first time; START opts them in", async () => {
    const phone = "+12065550150";
    const first = await addLead(api, phone, { firstName: "Ann" });
    const second = await addLead(api, phone, { firstName: "Ann (repeat delivery)" });
    const other = await addLead(api, "+12065550151");
    const stop = await inbound(phone, "STOP");
    for (const { leadId } of [first, second]) {
      const { metadata, modifiedAt } = await lead(leadId);
      assert.equal(metadata.smsConsentStatus, "OptedOut");
      assert.equal(metadata.smsOptedOut, true);
      assert.equal(metadata.smsOptOutAt, stop.receivedAt);
      assert.equal(metadata.smsConsentPhoneNumber, phone);
      assert.notEqual(modifiedAt, null);
    }
    assert.equal(
      (await lead(other.leadId)).metadata.smsOptedOut,
      undefined,
      "another phone's lead is untouched",
    );
    await inbound(phone, "stop");
    assert.equal((await lead(first.leadId)).metadata.smsOptOutAt, stop.receivedAt);

    const start = await inbound(phone, "START");
    for (const { leadId } of [first, second]) {
      const { metadata } = await lead(leadId);
      assert.equal(metadata.smsConsentStatus, "OptedIn");
      assert.equal(metadata.smsOptedOut, false);
      assert.equal(metadata.smsOptInAt, start.receivedAt);
      assert.equal(metadata.smsOptOutAt, stop.receivedAt, "the opt-out's time stays as history");
    }
    assert.equal((await sendStatus(second.conversationId)).status, "Delivered");
  });

  test("a STOP from a person the client already recorded as opted out keeps the client's opt-out time", async () => {
    const phone = "+12065550160";
    const created = await api.call("POST", "/leads", {
      contact: { firstName: "Lee", phone: { number: phone } },
      metadata: { smsOptedOut: true, smsOptOutAt: "2026-10-01T12:00:00.000Z" },
    });
    assert.equal(created.statusCode, 201, created.body);
    await inbound(phone, "STOP");
    const { metadata } = await lead(created.json().id);
    assert.equal(metadata.smsConsentStatus, "OptedOut");
    assert.equal(metadata.smsOptedOut, true);
    assert.equal(metadata.smsOptOutAt, "2026-10-01T12:00:00.000Z", "opted out since then");
    assert.equal(metadata.smsConsentPhoneNumber, phone);
  });

  test("HELP stamps smsHelpRequestedAt and changes no consent", async () => {
    const { leadId } = await addLead(api, "+12065550152");
    const help = await inbound("+12065550152", "HELP");
    const { metadata } = await lead(leadId);
    assert.equal(metadata.smsHelpRequestedAt, help.receivedAt);
    assert.equal(metadata.smsConsentStatus, undefined);
    assert.equal(metadata.smsOptedOut, undefined);
  });

  test("a STOP from an unknown sender makes a lead that shows the opt-out from its creation", async () => {
    const stop = await inbound("+12065550153", "Stop");
    const { metadata, modifiedAt } = await lead(stop.leadId);
    assert.equal(metadata.smsOptedOut, true);
    assert.equal(metadata.smsOptOutAt, stop.receivedAt);
    assert.equal(metadata.origin, "inbound-sms");
    assert.equal(modifiedAt, null, "written with the lead, not as a change after it");
  });

  test("an update that omits the consent fields keeps them; one that names a field sets it", async () => {
    const phone = "+12065550154";
    const { leadId, conversationId } = await addLead(api, phone);
    const stop = await inbound(phone, "STOP");
    const put = await api.call("PUT", `/leads/${leadId}`, {
      contact: { firstName: "Pat", lastName: "Renamed", phone: { number: phone } },
      metadata: { utmSource: "crm" },
    });
    assert.equal(put.statusCode, 200, put.body);
    let { metadata } = await lead(leadId);
    assert.equal(metadata.smsOptedOut, true, "a client that never read the opt-out did not erase it");
    assert.equal(metadata.smsOptOutAt, stop.receivedAt);
    assert.equal(metadata.utmSource, "crm");
    const named = await api.call("PUT", `/leads/${leadId}`, {
      contact: { firstName: "Pat", lastName: "Renamed", phone: { number: phone } },
      metadata: { utmSource: "crm", smsOptOutAt: null },
    });
    assert.equal(named.statusCode, 200, named.body);
    ({ metadata } = await lead(leadId));
    assert.equal(metadata.smsOptOutAt, null);
    assert.equal(metadata.smsOptedOut, true);
    // The suppression list still blocks, whatever the lead's metadata says.
    assert.equal((await sendStatus(conversationId)).complianceAction, "Suppressed");
  });

  test("the suppressions API records its changes on the phone's leads; a release lets a STOP's lead be texted again", async () => {
    const phone = "+12065550155";
    const { leadId, conversationId } = await addLead(api, phone);
    await inbound(phone, "STOP");
    // An operator who got the person's consent again releases the entry: the lead's own flag,
    // set by the STOP, must not keep blocking it.
    const released = await suppressions("/suppressions/release", phone);
    assert.equal(released.statusCode, 200, released.body);
    let { metadata } = await lead(leadId);
    assert.equal(metadata.smsOptedOut, false);
    assert.equal(metadata.smsConsentStatus, "OptedIn");
    assert.equal(metadata.smsOptInAt, released.json().releasedAt);
    assert.equal((await sendStatus(conversationId)).status, "Delivered");

    const entry = await suppressions("/suppressions", phone, "all");
    assert.equal(entry.statusCode, 201, entry.body);
    ({ metadata } = await lead(leadId));
    assert.equal(metadata.smsOptedOut, true);
    assert.equal(metadata.smsOptOutAt, entry.json().suppressedAt);

    // Email entries and releases that release nothing say nothing of SMS consent.
    const emailLead = await addLead(api, "+12065550156", { email: "pat@example.com" });
    const email = await api.call("POST", "/suppressions", {
      organizationId: api.org.organizationId,
      email: "pat@example.com",
      channel: "email",
    });
    assert.equal(email.statusCode, 201, email.body);
    assert.equal((await lead(emailLead.leadId)).metadata.smsOptedOut, undefined);
    await suppressions("/suppressions", "+12065550156");
    await suppressions("/suppressions/release", "+12065550156");
    const optInAt = (await lead(emailLead.leadId)).metadata.smsOptInAt;
    assert.equal((await suppressions("/suppressions/release", "+12065550156")).statusCode, 200);
    assert.equal((await lead(emailLead.leadId)).metadata.smsOptInAt, optInAt);
  });
  test("releasing an entry while another still blocks the phone on SMS (the person's STOP) records no opt-in", async () => {
    const phone = "+12065550158";
    const { leadId, conversationId } = await addLead(api, phone);
    const stop = await inbound(phone, "STOP");
    const all = await suppressions("/suppressions", phone, "all");
    assert.equal(all.statusCode, 201, all.body);
    // The operator lifts its every-channel entry; the person's STOP (the sms entry) still stands.
    const released = await suppressions("/suppressions/release", phone, "all");
    assert.equal(released.json().status, "released");
    const { metadata } = await lead(leadId);
    assert.equal(metadata.smsConsentStatus, "OptedOut");
    assert.equal(metadata.smsOptedOut, true);
    assert.equal(metadata.smsOptOutAt, stop.receivedAt);
    assert.equal(metadata.smsOptInAt, undefined);
    assert.equal((await sendStatus(conversationId)).complianceAction, "Suppressed");
    // Releasing the sms entry too frees the phone: now that is an opt-in.
    const free = await suppressions("/suppressions/release", phone, "sms");
    assert.equal((await lead(leadId)).metadata.smsOptInAt, free.json().releasedAt);
  });

  test("a PUT echoing what GET answered after a STOP is accepted and changes nothing", async () => {
    const phone = "+12065550157";
    const { leadId } = await addLead(api, phone);
    await inbound(phone, "STOP");
    const got = (await api.call("GET", `/leads/${leadId}`)).json();
    const put = await api.call("PUT", `/leads/${leadId}`, { contact: got.contact, metadata: got.metadata });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual((await lead(leadId)).metadata, got.metadata);
  });

  test("a lead whose phone changes does not carry the old phone's opt-out to the new one", async () => {
    const old = "+12065550158";
    const { leadId, conversationId } = await addLead(api, old);
    await inbound(old, "STOP");
    const fresh = "+12065550159";
    const put = await api.call("PUT", `/leads/${leadId}`, {
      contact: { firstName: "Moved", phone: { number: fresh } },
      metadata: { utmSource: "crm" },
    });
    assert.equal(put.statusCode, 200, put.body);
    const { metadata } = await lead(leadId);
    assert.notEqual(metadata.smsOptedOut, true, "the STOP came from the old phone, not the new one");
    assert.equal(metadata.smsConsentPhoneNumber, undefined);
    // The person at the new phone never opted out: a message to them goes out.
    assert.equal((await sendStatus(conversationId)).status, "Delivered");
  });
});
