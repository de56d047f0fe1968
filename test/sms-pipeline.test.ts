import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createWallet } from "../src/store/billing-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber, isFinal, startSimulator, waitForEvent } from "./helpers/messaging.js";

forEachEngine("SMS pipeline with the simulator", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, {
      env: { LEADTRAIL_QUIET_HOURS: "off", LEADTRAIL_RETRY_BASE_SECONDS: "0.01" },
    });
    await addSenderNumber(api);
    // Organizations get a wallet with the starting credit; make sure this one has it.
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    startSimulator(api);
  });
  after(() => api.close());

  const send = async (phone: string, body: Record<string, unknown> = {}) => {
    const { conversationId, leadId } = await addLead(api, phone);
    const res = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Hi, this is Alex from Summit Insurance.",
      ...body,
    });
    assert.equal(res.statusCode, 201, res.body);
    return { sms: res.json(), conversationId, leadId };
  };

  test("a message goes Queued → Sending → Sent → Delivered, billed once", async () => {
    const walletBefore = (await api.call("GET", "/wallets/me")).json();
    const { sms } = await send("+12125550101");
    assert.equal(sms.status, "queued");
    assert.ok(sms.queuedAt);
    assert.equal(sms.selectionReason, "HealthyPool");
    const done = await waitForEvent(api, sms.id, (e) => e.status === "Delivered");
    assert.equal(done.activityType, "Sms");
    assert.equal(done.direction, "outbound");
    for (const key of ["queuedAt", "sendingStartedAt", "sentAt", "deliveredAt"]) assert.ok(done[key], key);
    assert.ok(String(done.providerMessageId).startsWith("sim_"));
    assert.equal(done.tenDlcCampaignId, "CAMP123");
    assert.equal(done.billingStatus, "Billed");
    assert.equal(done.billableAmount, 0.0079);
    assert.equal(done.trafficType, "RealLead");
    const detail = (await api.call("GET", `/events/detail/${sms.id}`)).json();
    assert.deepEqual(
      detail.transitions
        .filter((t: { applied: boolean }) => t.applied)
        .map((t: { toStatus: string }) => t.toStatus),
      ["Queued", "Sending", "Sent", "Delivered"],
    );
    const walletAfter = await api.call("GET", "/wallets/me");
    if (walletAfter.statusCode === 200 && typeof walletBefore.balance === "number") {
      assert.equal(Math.round((walletBefore.balance - walletAfter.json().balance) * 1e6), 7900);
    }
    // Its usage line says what was billed, with the recipient read from the message.
    const usage = await api.call("POST", "/usage/all/my", { filters: [{ field: "eventId", value: sms.id }] });
    assert.equal(usage.statusCode, 200, usage.body);
    assert.deepEqual(
      usage.json().items.map((r: { description: string | null }) => r.description),
      ["SMS to +12125550101, 1 segment"],
    );
  });

  test("0400: undeliverable with an error code", async () => {
    const { sms } = await send("+12125550400");
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Undeliverable");
    assert.ok(done.undeliverableAt);
    assert.equal(done.errorCode, "30003");
    assert.equal(done.statusReason, "The carrier could not deliver it (code 30003).");
  });

  test("0500: two transient errors, two retries with backoff, then delivered", async () => {
    const { sms } = await send("+12125550500");
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Delivered");
    assert.equal(done.retryCount, 2);
    assert.equal(done.statusReason, null, "the retries' reason is gone once it is delivered");
    const detail = (await api.call("GET", `/events/detail/${sms.id}`)).json();
    assert.equal(detail.transitions.filter((t: { stage: string }) => t.stage === "retry").length, 2);
  });

  test("0600: permanent failure, not billed", async () => {
    const { sms } = await send("+12125550600");
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Failed");
    assert.ok(done.failedAt);
    assert.equal(done.errorCode, "40001");
    assert.equal(done.statusReason, "Rejected by the provider (code 40001): Simulated permanent rejection.");
    assert.equal(done.billingStatus, "NotBilled");
    assert.equal(done.billableAmount, null);
  });

  test("0700: delivered before the sent confirmation still ends Delivered with sentAt", async () => {
    const { sms } = await send("+12125550700");
    const done = await waitForEvent(api, sms.id, (e) => e.status === "Delivered" && e.sentAt !== null);
    assert.equal(done.billingStatus, "Billed");
    await new Promise((r) => setTimeout(r, 50));
    const later = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(later.status, "Delivered");
    const detail = (await api.call("GET", `/events/detail/${sms.id}`)).json();
    assert.ok(
      detail.transitions.some(
        (t: { applied: boolean; toStatus: string }) => !t.applied && t.toStatus === "Sent",
      ),
    );
  });

  test("0800: a duplicate delivered receipt is ignored, billed once", async () => {
    const { sms } = await send("+12125550800");
    await waitForEvent(api, sms.id, (e) => e.status === "Delivered");
    // The duplicate receipt follows the first one; wait (bounded) until it is on the log too.
    let delivered: { applied: boolean }[] = [];
    for (const deadline = Date.now() + 10_000; delivered.length < 2 && Date.now() < deadline; ) {
      const detail = (await api.call("GET", `/events/detail/${sms.id}`)).json();
      delivered = detail.transitions.filter((t: { toStatus: string }) => t.toStatus === "Delivered");
      if (delivered.length < 2) await new Promise((r) => setTimeout(r, 15));
    }
    assert.deepEqual(
      delivered.map((t) => t.applied),
      [true, false],
    );
    const lines = await api.db.store.db
      .selectFrom("usage_ledger")
      .selectAll()
      .where("event_id", "=", sms.id)
      .execute();
    assert.equal(lines.length, 1);
  });

  test("outboundIdempotencyKey: the same key returns the same message and sends once, also concurrently", async () => {
    const { conversationId } = await addLead(api, "+12125550111");
    const body = { conversationId, text: "Only once", outboundIdempotencyKey: "order-42" };
    const responses = await Promise.all(Array.from({ length: 8 }, () => api.call("POST", "/sms/send", body)));
    const ids = new Set(responses.map((r) => r.json().id));
    assert.equal(ids.size, 1, "one message for one key");
    const [id] = [...ids] as [string];
    await waitForEvent(api, id, isFinal);
    const count = await api.db.store.db
      .selectFrom("events")
      .select((eb) => eb.fn.countAll().as("n"))
      .where("organization_id", "=", api.org.organizationId)
      .where("idempotency_key", "=", "order-42")
      .executeTakeFirst();
    assert.equal(Number(count?.n), 1);
    // Up to 200 characters, counted as code points: 200 emoji are a key, 201 a 400 naming it.
    const emoji = await api.call("POST", "/sms/send", {
      ...body,
      outboundIdempotencyKey: "\u{1F600}".repeat(200),
    });
    assert.equal(emoji.statusCode, 201, emoji.body);
    const tooLong = await api.call("POST", "/sms/send", {
      ...body,
      outboundIdempotencyKey: "\u{1F600}".repeat(201),
    });
    assert.equal(tooLong.statusCode, 400, tooLong.body);
    assert.match(tooLong.json().detail, /outboundIdempotencyKey/);
    await waitForEvent(api, emoji.json().id, isFinal);
  });

  test("smsEventId: a retry naming the message answers it and sends nothing; a wrong one is a 404 or 409", async () => {
    const { conversationId } = await addLead(api, "+12125550121");
    const body = { conversationId, text: "Sent once, retried" };
    const first = await api.call("POST", "/sms/send", body);
    assert.equal(first.statusCode, 201, first.body);
    const id = first.json().id as string;
    const retries = await Promise.all(
      Array.from({ length: 4 }, () => api.call("POST", "/sms/send", { ...body, smsEventId: id })),
    );
    for (const retry of retries) {
      assert.equal(retry.statusCode, 201, retry.body);
      assert.equal(retry.json().id, id);
    }
    await waitForEvent(api, id, isFinal);
    const messages = async () =>
      Number(
        (
          await api.db.store.db
            .selectFrom("events")
            .select((eb) => eb.fn.countAll().as("n"))
            .where("organization_id", "=", api.org.organizationId)
            .where("conversation_id", "=", conversationId)
            .where("activity_type", "in", ["Sms", "Mms"])
            .executeTakeFirst()
        )?.n,
      );
    assert.equal(await messages(), 1, "one message, however many retries");
    // Unknown, or not an SMS: 404.
    const unknown = await api.call("POST", "/sms/send", {
      ...body,
      smsEventId: "evt_01NOSUCHEVENT0000000000000",
    });
    assert.equal(unknown.statusCode, 404, unknown.body);
    const note = await api.call("POST", `/events/conversations/${conversationId}/notes`, {
      text: "Not an SMS",
    });
    assert.equal(note.statusCode, 200, note.body);
    const notSms = await api.call("POST", "/sms/send", { ...body, smsEventId: note.json().id });
    assert.equal(notSms.statusCode, 404, notSms.body);
    // Another conversation's message: 409.
    const other = await addLead(api, "+12125550122");
    const elsewhere = await api.call("POST", "/sms/send", {
      conversationId: other.conversationId,
      text: "x",
      smsEventId: id,
    });
    assert.equal(elsewhere.statusCode, 409, elsewhere.body);
    assert.match(elsewhere.json().detail, /not a message sent in conversation/);
    assert.equal(await messages(), 1, "the refused retries wrote no message");
  });

  test("scheduledFor: Scheduled until due, then sent", async () => {
    const at = new Date(Date.now() + 1_500).toISOString();
    const { sms } = await send("+12125550112", { scheduledFor: at });
    assert.equal(sms.status, "scheduled");
    assert.equal(sms.scheduledFor, at);
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Delivered");
    assert.ok(Date.parse(String(done.sendingStartedAt)) >= Date.parse(at));
  });

  test("cancel while Scheduled → Canceled; again → the same message; after sending → 409", async () => {
    const { sms } = await send("+12125550113", { scheduledFor: new Date(Date.now() + 60_000).toISOString() });
    const res = await api.call("POST", `/sms/${sms.id}/cancel`, { reason: "Lead called in" });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, "canceled");
    const record = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(record.status, "Canceled");
    assert.ok(record.canceledAt);
    assert.equal(record.cancelReason, "Lead called in");
    assert.equal(record.billingStatus, "NotBilled");
    // A retried cancel (its first answer lost) gets the canceled message again, its first reason kept.
    const again = await api.call("POST", `/sms/${sms.id}/cancel`, { reason: "Retry" });
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual(again.json(), res.json());
    const unchanged = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.deepEqual(unchanged, record);
    const { sms: sent } = await send("+12125550114");
    await waitForEvent(api, sent.id, isFinal);
    assert.equal((await api.call("POST", `/sms/${sent.id}/cancel`, {})).statusCode, 409);
    assert.equal((await api.call("POST", "/sms/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ/cancel", {})).statusCode, 404);
  });

  test("bad send requests are 4xx problems and write nothing", async () => {
    const { conversationId } = await addLead(api, "+12125550115");
    const cases: Array<[unknown, number, RegExp]> = [
      [{ conversationId, text: "" }, 400, /text/],
      [{ conversationId, text: "x".repeat(1601) }, 400, /text/],
      [{ conversationId, text: "hi", mediaUrls: ["http://example.com/a.png"] }, 400, /mediaUrls\[0\]/],
      [{ conversationId, mediaUrls: Array(11).fill("https://example.com/a.png") }, 400, /mediaUrls/],
      [{ conversationId, text: "hi", scheduledFor: "tomorrow" }, 400, /scheduledFor/],
      [{ conversationId, text: "hi", scheduledFor: "2027-02-30T12:00:00Z" }, 400, /scheduledFor/],
      [{ conversationId: "conv_01HZZZZZZZZZZZZZZZZZZZZZZZ", text: "hi" }, 404, /Conversation/],
      [{ text: "hi" }, 400, /^conversationId is required\.$/],
      [{ conversationId, text: "hi", mediaUrls: "a" }, 400, /^mediaUrls must be array or null\.$/],
      [
        { conversationId, text: "hi", wasManuallyOverridden: true, fromPhoneNumberId: "pn_nope" },
        400,
        /fromPhoneNumberId/,
      ],
    ];
    for (const [body, status, detail] of cases) {
      const res = await api.call("POST", "/sms/send", body);
      assert.equal(res.statusCode, status, JSON.stringify(body));
      assert.match(res.json().detail, detail);
    }
    const events = await api.call("POST", `/events/sms/all/my`, {
      filters: [{ field: "conversationId", value: conversationId }],
      includeCount: true,
    });
    assert.equal(events.json().totalCount, 0);
  });

  test("an MMS is an Mms event priced per message", async () => {
    const { sms } = await send("+12125550116", {
      text: "Your quote",
      mediaUrls: ["https://example.com/quote.png"],
    });
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.activityType, "Mms");
    assert.deepEqual(
      (done.media as Array<{ url: string }>).map((m) => m.url),
      ["https://example.com/quote.png"],
    );
    assert.equal(done.billableAmount, 0.02);
  });

  test("SMS reads: by id, by lead, by phone, all, with console entries", async () => {
    const { sms, leadId } = await send("+12125550117");
    await waitForEvent(api, sms.id, isFinal);
    const one = await api.call("GET", `/events/sms/${sms.id}`);
    assert.equal(one.statusCode, 200);
    assert.equal(one.json().status, "delivered");
    assert.equal(one.json().lead.id, leadId);
    assert.ok(one.json().consoleEntries.length >= 4);
    const byLead = (await api.call("POST", `/events/sms/lead/${leadId}`, {})).json();
    assert.deepEqual(
      byLead.items.map((i: { id: string }) => i.id),
      [sms.id],
    );
    const byPhone = (await api.call("POST", "/events/sms/phone/(212) 555-0117", {})).json();
    assert.deepEqual(
      byPhone.items.map((i: { id: string }) => i.id),
      [sms.id],
    );
    const all = (await api.call("POST", "/events/sms/all/my", { includeCount: true })).json();
    assert.ok(all.totalCount >= 1);
    assert.ok(all.items.every((i: { id: string }) => i.id.startsWith("evt_")));
  });
});
