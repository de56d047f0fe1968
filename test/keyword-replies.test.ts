import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { REPLIES } from "../src/messaging/inbound.js";
import { createWallet, getWallet } from "../src/store/billing-repo.js";
import type { Engine } from "../src/store/database.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import {
  addLead,
  addSenderNumber,
  isFinal,
  senderFailureCount,
  startSimulator,
  waitForEvent,
} from "./helpers/messaging.js";
import { postWebhook, startTelnyxWorker, telnyxEnv } from "./helpers/telnyx.js";

// Who answers STOP, START and HELP (LEADTRAIL_KEYWORD_REPLIES). Telnyx blocks a recipient at the
// messaging profile the moment they text STOP, before its webhook reaches us, so a confirmation of
// ours is refused (40300); with Advanced Opt-In/Out its profile sends its own. So with Telnyx the
// provider answers by default and leadtrail only records the keyword; with the simulator leadtrail
// answers. The fake Telnyx speaks the block rule and the profile's auto-responses.

const OUR = "+14155550100";
const AUTO = {
  "opt-out": "Acme: you are unsubscribed. Reply START to resubscribe.",
  "opt-in": "Acme: you are resubscribed. Reply STOP to unsubscribe.",
  help: "Acme: reply STOP to unsubscribe. Msg & data rates may apply.",
};

/** An API on the fake Telnyx (whose profile has auto-responses), its worker started. */
async function startOnTelnyx(engine: Engine, env: NodeJS.ProcessEnv = {}, sendTimeoutMs?: number) {
  const fake = new FakeTelnyx({ autoResponses: AUTO });
  const url = await fake.start();
  const api = await startTestApi(engine, { env: { ...telnyxEnv(fake, url), ...env } });
  await addSenderNumber(api, { number: OUR });
  await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
  startTelnyxWorker(api, url, sendTimeoutMs);
  return { api, fake };
}

/** `phone` texts `text` to our number through Telnyx's signed message.received webhook. */
async function textViaTelnyx(api: TestApi, fake: FakeTelnyx, phone: string, text: string) {
  const res = await postWebhook(api, fake, fake.inbound({ from: phone, to: OUR, text }));
  assert.equal(res.statusCode, 200, res.body);
}

/** Every outbound message leadtrail wrote to `phone`. */
const messagesTo = (api: TestApi, phone: string) =>
  api.db.store.db
    .selectFrom("events")
    .selectAll()
    .where("organization_id", "=", api.org.organizationId)
    .where("to_phone_number", "=", phone)
    .where("direction", "=", "outbound")
    .execute();

/** The inbound events from `phone`, oldest first. */
const inboundFrom = (api: TestApi, phone: string) =>
  api.db.store.db
    .selectFrom("events")
    .select(["status", "compliance_action", "description"])
    .where("organization_id", "=", api.org.organizationId)
    .where("from_phone_number", "=", phone)
    .where("direction", "=", "inbound")
    .orderBy("created_at")
    .orderBy("id")
    .execute();

async function allowed(api: TestApi, phone: string): Promise<boolean> {
  const res = await api.call("POST", "/suppressions/check", {
    organizationId: api.org.organizationId,
    phoneNumber: phone,
    channel: "sms",
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().allowed;
}

async function optedOut(api: TestApi, leadId: string): Promise<unknown> {
  const res = await api.call("GET", `/leads/${leadId}`);
  assert.equal(res.statusCode, 200, res.body);
  return res.json().metadata.smsOptedOut;
}

/** The inbox status of the lead's conversation, with its reason. */
async function inboxStatus(api: TestApi, leadId: string): Promise<[string, string]> {
  const res = await api.call("POST", `/conversations/lead/${leadId}`, {});
  assert.equal(res.statusCode, 200, res.body);
  const conversation = res.json().items[0];
  return [conversation.status, conversation.statusReason];
}

async function send(api: TestApi, conversationId: string, text: string) {
  const res = await api.call("POST", "/sms/send", { conversationId, text });
  assert.equal(res.statusCode, 201, res.body);
  return waitForEvent(api, res.json().id, (e) => e.status === "Sent" || isFinal(e));
}

forEachEngine("keyword replies on Telnyx, by default the provider's", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  before(async () => {
    ({ api, fake } = await startOnTelnyx(engine));
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  test("STOP, HELP and START are recorded and confirmed once each, by Telnyx's profile: leadtrail sends nothing Telnyx would refuse", async () => {
    const phone = "+12125550301";
    const { leadId, conversationId } = await addLead(api, phone);
    assert.equal((await send(api, conversationId, "Your quote is ready")).status, "Sent");

    await textViaTelnyx(api, fake, phone, "STOP");
    assert.equal(await allowed(api, phone), false, "suppressed");
    assert.equal(await optedOut(api, leadId), true);
    // The provider answered it: nobody in the inbox is asked to reply to a STOP.
    const [status, reason] = await inboxStatus(api, leadId);
    assert.equal(status, "waiting");
    assert.match(reason, /^The lead opted out/);
    await textViaTelnyx(api, fake, phone, "HELP");
    assert.equal((await inboxStatus(api, leadId))[0], "waiting");
    await textViaTelnyx(api, fake, phone, "START");
    assert.equal(await allowed(api, phone), true, "released");
    assert.equal(await optedOut(api, leadId), false);
    assert.equal((await inboxStatus(api, leadId))[0], "waiting");
    const inbound = await inboundFrom(api, phone);
    assert.deepEqual(
      inbound.map((e) => [e.status, e.compliance_action]),
      [
        ["Opted out", "OptOut"],
        ["Received", "Help"],
        ["Received", "OptIn"],
      ],
    );
    for (const e of inbound) assert.match(String(e.description), /the provider answers its keyword/);

    // One confirmation of each, the profile's: none of ours was queued, so none was refused.
    assert.deepEqual(
      (await messagesTo(api, phone)).map((m) => m.body),
      ["Your quote is ready"],
    );
    assert.deepEqual(
      fake.autoResponded.map((r) => [r.from, r.to, r.text]),
      [
        [OUR, phone, AUTO["opt-out"]],
        [OUR, phone, AUTO.help],
        [OUR, phone, AUTO["opt-in"]],
      ],
    );
    assert.equal(fake.requests.filter((r) => r.body.to === phone).length, 1);
    // Telnyx's block rule is lifted with our suppression: texting them works again.
    assert.equal((await send(api, conversationId, "Welcome back")).status, "Sent");
  });
});

forEachEngine("a refusal (40300) recorded after the person's START", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  before(async () => {
    // A send call times out later than any wait here: only a release ends a held one.
    ({ api, fake } = await startOnTelnyx(engine, {}, 60_000));
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  /** The suppression entries on `phone` (any status). */
  const entriesOf = async (phone: string) => {
    const res = await api.call("POST", "/suppressions/all/my", {
      filters: [{ field: "recipient", value: phone }],
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().items as Array<{ status: string; source: string }>;
  };

  test("the send call's refusal, answered after START reached us, leaves the person opted in: no suppression, the next message goes out", async () => {
    const phone = "+12125550304";
    const { leadId, conversationId } = await addLead(api, phone);
    // Telnyx holds a block rule from a STOP that never reached us, and answers the call only after
    // the person's START (their word, processed by Telnyx after it refused).
    fake.behaviour.set(phone, "stop-blocked");
    const held = fake.holdRecipient(phone);
    let refusedId: string;
    try {
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Your quote is ready" });
      assert.equal(res.statusCode, 201, res.body);
      refusedId = res.json().id;
      await held.arrived;
      await textViaTelnyx(api, fake, phone, "START");
      assert.equal(await optedOut(api, leadId), false);
    } finally {
      held.release();
    }
    const refused = await waitForEvent(api, refusedId, isFinal);
    assert.equal(refused.status, "Failed");
    assert.equal(refused.errorCode, "40300");
    assert.equal(await allowed(api, phone), true, "START is their last word");
    assert.deepEqual(await entriesOf(phone), []);
    assert.equal(await optedOut(api, leadId), false);

    fake.behaviour.delete(phone); // START lifted Telnyx's block rule
    assert.equal((await send(api, conversationId, "Welcome back")).status, "Sent");
  });

  test("a message.finalized refusal after STOP and START leaves the entry released and the lead opted in", async () => {
    const phone = "+12125550305";
    const { leadId, conversationId } = await addLead(api, phone);
    const sent = await send(api, conversationId, "Your quote is ready");
    assert.equal(sent.status, "Sent");
    await textViaTelnyx(api, fake, phone, "STOP");
    await textViaTelnyx(api, fake, phone, "START");
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(sent.id))!;
    const hook = fake.webhook("message.finalized", request.id, request.body, "sending_failed", {
      errors: [{ code: "40300", title: "Blocked due to STOP message" }],
    });
    const query = `?event=${sent.id}&org=${api.org.organizationId}`;
    assert.equal((await postWebhook(api, fake, hook, { query })).statusCode, 200);
    const refused = await waitForEvent(api, sent.id, isFinal);
    assert.equal(refused.status, "Failed");
    assert.equal(refused.errorCode, "40300");
    assert.equal(await allowed(api, phone), true);
    assert.deepEqual(
      (await entriesOf(phone)).map((e) => [e.status, e.source]),
      [["released", "inbound_keyword"]],
    );
    assert.equal(await optedOut(api, leadId), false);
    assert.equal((await send(api, conversationId, "Welcome back")).status, "Sent");
  });
});

forEachEngine("keyword replies on Telnyx set to leadtrail's", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  before(async () => {
    ({ api, fake } = await startOnTelnyx(engine, { LEADTRAIL_KEYWORD_REPLIES: " leadtrail " }));
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  test("Telnyx's block rule refuses our STOP confirmation (40300): Failed, not billed, no fault of the sender; START's goes out", async () => {
    const phone = "+12125550302";
    const { leadId } = await addLead(api, phone);
    const balance = async () => (await getWallet(api.db.store.db, api.org.organizationId))?.balance_micros;
    const senderFailures = () => senderFailureCount(api);
    const before = { balance: await balance(), failures: await senderFailures() };

    await textViaTelnyx(api, fake, phone, "STOP");
    const [confirmation] = await messagesTo(api, phone);
    assert.equal(confirmation?.body, REPLIES["opt-out"]);
    const refused = await waitForEvent(api, confirmation.id, isFinal);
    assert.equal(refused.status, "Failed");
    assert.equal(refused.errorCode, "40300");
    assert.equal(refused.billingStatus, "NotBilled");
    // Nor is the conversation failed: the STOP it answered says where it stands.
    const [status, reason] = await inboxStatus(api, leadId);
    assert.equal(status, "waiting");
    assert.match(reason, /^The lead opted out/);
    assert.deepEqual(
      { balance: await balance(), failures: await senderFailures() },
      before,
      "neither charged nor counted against the number",
    );

    await textViaTelnyx(api, fake, phone, "START");
    const optIn = (await messagesTo(api, phone)).find((m) => m.body === REPLIES["opt-in"]);
    assert.ok(optIn);
    assert.equal(
      (await waitForEvent(api, optIn.id, (e) => e.status === "Sent" || isFinal(e))).status,
      "Sent",
    );
  });
});

forEachEngine("keyword replies on the simulator with LEADTRAIL_KEYWORD_REPLIES=provider", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_KEYWORD_REPLIES: "provider" } });
    await addSenderNumber(api, { number: OUR });
    startSimulator(api);
  });
  after(() => api.close());

  test("a STOP is recorded (suppression, the lead, Opted out) and answered by no message of leadtrail's", async () => {
    const phone = "+12125550303";
    const { leadId } = await addLead(api, phone);
    const res = await api.call("POST", "/simulator/inbound", { from: phone, to: OUR, text: "STOP" });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().status, "Opted out");
    assert.equal(await allowed(api, phone), false);
    assert.equal(await optedOut(api, leadId), true);
    assert.deepEqual(await messagesTo(api, phone), []);
  });
});
