import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TelnyxProvider } from "../src/messaging/providers/telnyx.js";
import { createWallet } from "../src/store/billing-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { addLead, addSenderNumber, isFinal, waitForEvent } from "./helpers/messaging.js";

test("the adapter speaks Telnyx's messages API and maps its answers", async () => {
  const fake = new FakeTelnyx();
  const url = await fake.start();
  const provider = new TelnyxProvider({
    apiKey: "KEYtest",
    apiBaseUrl: `${url}/v2`,
    publicUrl: "https://hooks.example",
    timeoutMs: 300,
  });
  const message = {
    organizationId: "org_1",
    eventId: "evt_1",
    from: "+14155550100",
    to: "+12125550101",
    text: "Hello",
    mediaUrls: ["https://example.com/a.png"],
  };
  try {
    const accepted = await provider.send(message);
    assert.equal(accepted.kind, "accepted");
    const [request] = fake.sent;
    assert.equal(request!.authorization, "Bearer KEYtest");
    assert.equal(request!.body.to, "+12125550101");
    assert.deepEqual(request!.body.media_urls, ["https://example.com/a.png"]);
    assert.equal(request!.body.webhook_url, "https://hooks.example/webhooks/telnyx?event=evt_1&org=org_1");
    if (accepted.kind === "accepted") assert.equal(accepted.providerMessageId, request!.id);
    for (const [behaviour, kind, code] of [
      ["429", "transient", "429"],
      ["500", "transient", "500"],
      ["422", "permanent", "40310"],
      ["hang", "transient", "Timeout"],
    ] as const) {
      fake.behaviour.set("+12125550101", behaviour);
      const result = await provider.send(message);
      assert.equal(result.kind, kind, behaviour);
      assert.equal("errorCode" in result ? result.errorCode : null, code);
    }
  } finally {
    await fake.stop();
  }
});

forEachEngine("Telnyx end to end", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  let other: FakeTelnyx;
  before(async () => {
    fake = new FakeTelnyx();
    other = new FakeTelnyx(); // a key pair Telnyx did not sign with
    const url = await fake.start();
    api = await startTestApi(engine, {
      env: {
        LEADTRAIL_PROVIDER: "telnyx",
        TELNYX_API_KEY: "KEYtest",
        TELNYX_PUBLIC_KEY: fake.publicKeyBase64,
        TELNYX_API_BASE_URL: `${url}/v2`,
        LEADTRAIL_PUBLIC_URL: "http://127.0.0.1:9",
        LEADTRAIL_QUIET_HOURS: "off",
        LEADTRAIL_RETRY_BASE_SECONDS: "0.01",
      },
    });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    api.pipeline.startWorker(
      new TelnyxProvider({
        apiKey: "KEYtest",
        apiBaseUrl: `${url}/v2`,
        publicUrl: "http://127.0.0.1:9",
        timeoutMs: 500,
      }),
      { pollMs: 10 },
    );
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  const postWebhook = (body: unknown, headers?: Record<string, string>, query = "") => {
    const raw = JSON.stringify(body);
    return api.app.inject({
      method: "POST",
      url: `/webhooks/telnyx${query}`,
      headers: headers ?? fake.signedHeaders(raw),
      payload: raw,
    });
  };

  const sendOne = async (phone: string) => {
    const { conversationId } = await addLead(api, phone);
    const sms = (await api.call("POST", "/sms/send", { conversationId, text: "Quote ready" })).json();
    const sent = await waitForEvent(api, sms.id, (e) => e.status === "Sent" || isFinal(e));
    return { sms, sent };
  };

  test("a message goes to Telnyx, Sent with telnyxId; signed webhooks finish it, late ones change nothing", async () => {
    const { sms, sent } = await sendOne("+12125550201");
    assert.equal(sent.status, "Sent");
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
    assert.ok(request, "the webhook URL names the event");
    assert.equal(sent.telnyxId, request.id);
    assert.equal(sent.providerMessageId, request.id);
    const query = `?event=${sms.id}&org=${api.org.organizationId}`;
    const finalized = fake.webhook("message.finalized", request.id, request.body, "delivered");
    assert.equal((await postWebhook(finalized, undefined, query)).statusCode, 200);
    assert.equal((await api.call("GET", `/events/${sms.id}`)).json().status, "Delivered");
    const late = fake.webhook("message.sent", request.id, request.body, "sent");
    assert.equal((await postWebhook(late, undefined, query)).statusCode, 200);
    assert.equal((await postWebhook(finalized, undefined, query)).statusCode, 200);
    const record = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(record.status, "Delivered");
    assert.ok(record.deliveredAt);
  });

  test("a receipt without our query string is matched by the Telnyx message id", async () => {
    const { sms } = await sendOne("+12125550202");
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
    const failed = fake.webhook("message.finalized", request.id, request.body, "delivery_failed", {
      errors: [{ code: "30003", title: "Unreachable" }],
    });
    assert.equal((await postWebhook(failed)).statusCode, 200);
    const record = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(record.status, "Undeliverable");
    assert.equal(record.errorCode, "30003");
  });

  test("forged, stale, tampered or unsigned webhooks are 401 and change nothing", async () => {
    const { sms } = await sendOne("+12125550203");
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
    const body = fake.webhook("message.finalized", request.id, request.body, "delivered");
    const raw = JSON.stringify(body);
    const query = `?event=${sms.id}&org=${api.org.organizationId}`;
    const attempts: Array<Record<string, string>> = [
      other.signedHeaders(raw),
      fake.signedHeaders(raw, Math.floor(Date.now() / 1000) - 301),
      fake.signedHeaders(raw, Math.floor(Date.now() / 1000) + 301),
      { "content-type": "application/json" },
      { ...fake.signedHeaders(raw), "telnyx-signature-ed25519": "AAAA" },
    ];
    for (const headers of attempts) {
      const res = await api.app.inject({
        method: "POST",
        url: `/webhooks/telnyx${query}`,
        headers,
        payload: raw,
      });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.headers["content-type"], "application/problem+json; charset=utf-8");
    }
    const tampered = raw.replace("delivered", "sending_failed");
    const res = await api.app.inject({
      method: "POST",
      url: `/webhooks/telnyx${query}`,
      headers: fake.signedHeaders(raw),
      payload: tampered,
    });
    assert.equal(res.statusCode, 401);
    assert.equal((await api.call("GET", `/events/${sms.id}`)).json().status, "Sent");
  });

  test("message.received writes a Received event", async () => {
    const body = fake.webhook(
      "message.received",
      "in-1",
      { from: "+12125550299", to: "+14155550100", text: "Call me" },
      "webhook_delivered",
    );
    assert.equal((await postWebhook(body)).statusCode, 200);
    const events = (await api.call("POST", "/events/sms/phone/+12125550299", {})).json();
    assert.equal(events.items.length, 1);
    assert.equal(events.items[0].status, "received");
    assert.equal(events.items[0].text, "Call me");
  });

  test("429 and 5xx from Telnyx are retried; a 422 fails the message", async () => {
    fake.behaviour.set("+12125550204", "500");
    const { conversationId } = await addLead(api, "+12125550204");
    const sms = (await api.call("POST", "/sms/send", { conversationId, text: "retry me" })).json();
    await waitForEvent(api, sms.id, (e) => Number(e.retryCount) >= 1);
    fake.behaviour.set("+12125550204", "accept");
    assert.equal((await waitForEvent(api, sms.id, (e) => e.status === "Sent")).status, "Sent");
    fake.behaviour.set("+12125550205", "422");
    const { conversationId: c2 } = await addLead(api, "+12125550205");
    const bad = (await api.call("POST", "/sms/send", { conversationId: c2, text: "bad" })).json();
    const failed = await waitForEvent(api, bad.id, isFinal);
    assert.equal(failed.status, "Failed");
    assert.equal(failed.errorCode, "40310");
  });
});
