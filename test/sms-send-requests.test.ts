import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { Worker } from "../src/messaging/worker.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import { assertLeadpingShape, countEvents, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

// POST /sms/send as a client uses it: what a reused idempotency key answers, and requests refused
// with a 400 or 409 that must leave nothing written. No worker runs: messages stay as queued.

forEachEngine("SMS send requests", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "off" } });
    await addSenderNumber(api);
  });
  after(() => api.close());

  const messageCount = async (organizationId = api.org.organizationId) => {
    const row = await api.db.store.db
      .selectFrom("events")
      .select((eb) => eb.fn.countAll().as("n"))
      .where("organization_id", "=", organizationId)
      .where("activity_type", "in", ["Sms", "Mms"])
      .executeTakeFirst();
    return Number(row?.n);
  };

  test("outboundIdempotencyKey reused in another conversation is a 409, not the other lead's message", async () => {
    const a = await addLead(api, "+12125550201");
    const b = await addLead(api, "+12125550202");
    const first = await api.call("POST", "/sms/send", {
      conversationId: a.conversationId,
      text: "Your quote is ready.",
      outboundIdempotencyKey: "quote-7",
    });
    assert.equal(first.statusCode, 201, first.body);
    assertLeadpingShape(first.json(), "SmsResponse");
    const before = await messageCount();
    for (const conversationId of [b.conversationId, "conv_nonexistent"]) {
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        text: "Your quote is ready.",
        outboundIdempotencyKey: "quote-7",
      });
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().status, 409);
      assert.match(res.json().detail, /outboundIdempotencyKey/);
    }
    assert.equal(await messageCount(), before, "nothing written");
    // The same conversation still answers the first message.
    const again = await api.call("POST", "/sms/send", {
      conversationId: a.conversationId,
      text: "Your quote is ready.",
      outboundIdempotencyKey: "quote-7",
    });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().id, first.json().id);
  });

  test("outboundIdempotencyKey sent again with other text or media is a 422 naming the key, and nothing is written", async () => {
    const { conversationId } = await addLead(api, "+12125550205");
    const original = {
      conversationId,
      text: "Your appointment is at 3pm.",
      mediaUrls: ["https://cdn.example.com/map.png"],
      outboundIdempotencyKey: "appt-9",
    };
    const first = await api.call("POST", "/sms/send", original);
    assert.equal(first.statusCode, 201, first.body);
    const before = await messageCount();
    for (const changed of [
      { text: "Your appointment is at 4pm.", mediaUrls: ["https://cdn.example.com/map.png"] },
      { text: "Your appointment is at 3pm." },
      { text: "Your appointment is at 3pm.", mediaUrls: ["https://cdn.example.com/map2.png"] },
    ]) {
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        ...changed,
        outboundIdempotencyKey: "appt-9",
      });
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json().status, 422);
      assert.match(res.json().detail, /outboundIdempotencyKey 'appt-9'/);
      assert.ok(res.json().errors.outboundIdempotencyKey, res.body);
    }
    assert.equal(await messageCount(), before, "nothing written");
    // The same content under the key is still answered with the first message.
    const again = await api.call("POST", "/sms/send", original);
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().id, first.json().id);
  });

  test("outboundIdempotencyKey sent again with another scheduledFor, or with one added or left out, is a 422; the same instant spelled otherwise answers the first message", async () => {
    const { conversationId } = await addLead(api, "+12125550208");
    const at = Date.now() + 2 * 86_400_000;
    const scheduled = { conversationId, text: "Call you then.", outboundIdempotencyKey: "call-3" };
    const first = await api.call("POST", "/sms/send", {
      ...scheduled,
      scheduledFor: new Date(at).toISOString(),
    });
    assert.equal(first.statusCode, 201, first.body);
    const unscheduled = { conversationId, text: "Call you now.", outboundIdempotencyKey: "call-4" };
    const second = await api.call("POST", "/sms/send", unscheduled);
    assert.equal(second.statusCode, 201, second.body);
    const before = await messageCount();
    for (const [request, scheduledFor] of [
      [scheduled, new Date(at + 3_600_000).toISOString()],
      [scheduled, undefined],
      [scheduled, "2020-01-01T00:00:00Z"],
      [unscheduled, new Date(at).toISOString()],
    ] as const) {
      const res = await api.call("POST", "/sms/send", { ...request, scheduledFor });
      assert.equal(res.statusCode, 422, `${scheduledFor}: ${res.body}`);
      assert.match(
        res.json().detail,
        new RegExp(`outboundIdempotencyKey '${request.outboundIdempotencyKey}'`),
      );
      assert.deepEqual(Object.keys(res.json().errors), ["outboundIdempotencyKey"]);
    }
    assert.equal(await messageCount(), before, "nothing written");
    // The same instant at +01:00 is the same request.
    const again = await api.call("POST", "/sms/send", { ...scheduled, scheduledFor: atPlusOneHour(at) });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().id, first.json().id);
    const secondAgain = await api.call("POST", "/sms/send", { ...unscheduled, scheduledFor: null });
    assert.equal(secondAgain.json().id, second.json().id, secondAgain.body);
  });

  test("an idempotency key belongs to its organization: another one's same key sends its own message", async () => {
    const other = await createOrganization(api.db.store.db, "Other Org", { startingCreditMicros: 0 });
    const ours = await addLead(api, "+12125550203");
    const mine = await api.call("POST", "/sms/send", {
      conversationId: ours.conversationId,
      text: "Hello",
      outboundIdempotencyKey: "shared-key",
    });
    assert.equal(mine.statusCode, 201, mine.body);
    // The other organization cannot reach ours through the key, nor cancel or read the message.
    const theirs = await api.call(
      "POST",
      "/sms/send",
      { conversationId: ours.conversationId, text: "Hello", outboundIdempotencyKey: "shared-key" },
      other.apiKey,
    );
    assert.equal(theirs.statusCode, 404, theirs.body);
    assert.equal((await api.call("POST", `/sms/${mine.json().id}/cancel`, {}, other.apiKey)).statusCode, 404);
    assert.equal(
      (await api.call("GET", `/events/sms/${mine.json().id}`, undefined, other.apiKey)).statusCode,
      404,
    );
    assert.equal((await api.call("GET", `/events/sms/${mine.json().id}`)).json().status, "queued");
  });

  test("media URLs the provider could not fetch are a 400 naming the URL, and nothing is written", async () => {
    const { conversationId } = await addLead(api, "+12125550204");
    const before = await messageCount();
    for (const url of [
      "https:/cdn.example.com/a.png", // the URL parser would forgive the missing slash
      " https://cdn.example.com/a.png",
      "https://cdn.example.com/a.png\n",
      "https://cdn.example.com/my photo.png",
      "https://localhost/a.png",
      "https://media.localhost/a.png",
      "https://127.0.0.1/a.png",
      "https://10.1.2.3/a.png",
      "https://192.168.0.10/a.png",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/a.png",
      "https://[fd12:3456::1]/a.png",
      "https://[fe80::1]/a.png",
      "https://[::ffff:10.0.0.1]/a.png", // an IPv4-mapped private address
      "https://0x7f.1/a.png", // 127.0.0.1 as the URL parser reads it
      "https://8.8.8.8\\@169.254.169.254/a.png", // 8.8.8.8 to the URL parser, not to an RFC 3986 one
      "https://cdn.example.com\\a.png",
      "https://100.64.0.1/a.png",
      "https://intranet/a.png",
      "http://cdn.example.com/a.png",
      "data:image/png;base64,AAAA",
    ]) {
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        text: "See attached",
        mediaUrls: ["https://cdn.example.com/ok.png", url],
      });
      assert.equal(res.statusCode, 400, `${JSON.stringify(url)}: ${res.body}`);
      assert.deepEqual(Object.keys(res.json().errors), ["mediaUrls[1]"], url);
    }
    assert.equal(await messageCount(), before, "nothing written");
    const ok = await api.call("POST", "/sms/send", {
      conversationId,
      text: "See attached",
      mediaUrls: [
        "https://cdn.example.com/ok.png",
        "HTTPS://8.8.8.8/b.png?size=2",
        "https://[2606:4700::1]/c.png",
      ],
    });
    assert.equal(ok.statusCode, 201, ok.body);
    assertLeadpingShape(ok.json(), "SmsResponse");
    assert.deepEqual(
      ok.json().media.map((m: { url: string }) => m.url),
      ["https://cdn.example.com/ok.png", "HTTPS://8.8.8.8/b.png?size=2", "https://[2606:4700::1]/c.png"],
    );
  });

  test("a media URL with a user name or password is a 400 saying why, and nothing is written", async () => {
    const { conversationId } = await addLead(api, "+12125550206");
    const before = await messageCount();
    for (const url of [
      "https://user:s3cret@cdn.example.com/pic.jpg",
      "https://user@cdn.example.com/pic.jpg",
      "https://:s3cret@cdn.example.com/pic.jpg",
      "https://@cdn.example.com/pic.jpg", // the parser drops an empty one, the stored string would not
      "HTTPS://user:s3cret@8.8.8.8/pic.jpg",
    ]) {
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        text: "See attached",
        mediaUrls: ["https://cdn.example.com/ok.png", url],
      });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      const { detail, errors } = res.json();
      assert.deepEqual(Object.keys(errors), ["mediaUrls[1]"], url);
      assert.match(detail, /^mediaUrls\[1\] must not carry a user name or password/, url);
      assert.doesNotMatch(res.body, /s3cret/, "the answer does not repeat the secret");
    }
    assert.equal(await messageCount(), before, "nothing written");
    // An @ in the path or query is no credential.
    const ok = await api.call("POST", "/sms/send", {
      conversationId,
      text: "See attached",
      mediaUrls: ["https://cdn.example.com/team@2x.png?by=@ana"],
    });
    assert.equal(ok.statusCode, 201, ok.body);
  });

  test("scheduledFor more than 366 days ahead is a 400 naming it; within is Scheduled, a past one sends at once", async () => {
    const { conversationId } = await addLead(api, "+12125550207");
    const day = 86_400_000;
    const before = await messageCount();
    for (const scheduledFor of [
      "2206-01-01T00:00:00Z", // a typo for 2026
      new Date(Date.now() + 367 * day).toISOString(),
    ]) {
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        text: "Renewal reminder",
        scheduledFor,
      });
      assert.equal(res.statusCode, 400, `${scheduledFor}: ${res.body}`);
      assert.deepEqual(Object.keys(res.json().errors), ["scheduledFor"]);
      assert.match(res.json().detail, /^scheduledFor must be at most 366 days ahead \(no later than \d{4}-/);
    }
    assert.equal(await messageCount(), before, "nothing written");
    const yearAhead = new Date(Date.now() + 365 * day).toISOString();
    const later = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Renewal reminder",
      scheduledFor: yearAhead,
    });
    assert.equal(later.statusCode, 201, later.body);
    assertLeadpingShape(later.json(), "SmsResponse");
    assert.equal(later.json().status, "scheduled");
    assert.equal(later.json().scheduledFor, yearAhead);
    // A time already past is no error: the message is queued now, as without scheduledFor.
    const past = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Running late",
      scheduledFor: "2020-01-01T00:00:00Z",
    });
    assert.equal(past.statusCode, 201, past.body);
    assert.equal(past.json().status, "queued");
    assert.equal(past.json().scheduledFor, null);
  });

  test("text is limited to 1,600 characters counted as characters, an emoji being one", async () => {
    const { conversationId } = await addLead(api, "+12125550205");
    const emoji = "\u{1F600}".repeat(1600); // 3,200 UTF-16 units
    // As an MMS: its text is not cut into segments (an SMS is held to 10, see below).
    const mediaUrls = ["https://example.com/a.png"];
    const ok = await api.call("POST", "/sms/send", { conversationId, text: emoji, mediaUrls });
    assert.equal(ok.statusCode, 201, ok.body.slice(0, 300));
    assertLeadpingShape(ok.json(), "SmsResponse");
    assert.equal(ok.json().text, emoji);
    const before = await messageCount();
    for (const text of [`${emoji}a`, "a".repeat(1601)]) {
      const res = await api.call("POST", "/sms/send", { conversationId, text, mediaUrls });
      assert.equal(res.statusCode, 400, res.body.slice(0, 300));
      assert.deepEqual(Object.keys(res.json().errors), ["text"]);
    }
    assert.equal(await messageCount(), before, "nothing written");
  });

  test("an SMS is at most 10 segments (Telnyx refuses more): a 400 naming text, unless it goes as an MMS", async () => {
    const { conversationId } = await addLead(api, "+12125550299");
    const send = (text: string, mediaUrls?: string[]) =>
      api.call("POST", "/sms/send", { conversationId, text, ...(mediaUrls ? { mediaUrls } : {}) });
    // 10 × 153 GSM-7 septets, and 10 × 67 UCS-2 units, are the most that go.
    for (const text of ["a".repeat(1530), "\u0142".repeat(670)]) {
      const res = await send(text);
      assert.equal(res.statusCode, 201, res.body.slice(0, 300));
    }
    const before = await messageCount();
    for (const [text, detail] of [
      ["a".repeat(1531), /11 segments \(GSM-7\)/],
      ["\u0142".repeat(671), /11 segments \(UCS-2\)/],
      // Within 1,600 characters, but an emoji takes two units and a part holds 33 of them: 25 segments.
      ["\u{1F600}".repeat(800), /25 segments \(UCS-2\)/],
    ] as const) {
      const res = await send(text);
      assert.equal(res.statusCode, 400, res.body.slice(0, 300));
      assert.deepEqual(Object.keys(res.json().errors), ["text"]);
      assert.match(res.json().detail, detail);
    }
    assert.equal(await messageCount(), before, "nothing written");
    const mms = await send("a".repeat(1531), ["https://example.com/a.png"]);
    assert.equal(mms.statusCode, 201, mms.body.slice(0, 300));
  });
});

/** The instant `ms` spelled in the +01:00 offset, as a client in Paris might send it. */
function atPlusOneHour(ms: number): string {
  return `${new Date(ms + 3_600_000).toISOString().slice(0, 23)}+01:00`;
}

// Quiet hours move a scheduled message later (scheduled_for); a retry with its key still names the
// time the send asked for, and that is what it is compared with.
forEachEngine("SMS send requests deferred by quiet hours", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "21:00-08:00" } });
    await addSenderNumber(api);
  });
  after(() => api.close());

  test("a keyed send retried with the scheduledFor it asked for answers the message quiet hours moved; the moved time is another send (422)", async () => {
    const { conversationId } = await addLead(api, "+12125550209");
    // 07:00 UTC tomorrow is 02:00 or 03:00 in New York, inside its quiet hours.
    const asked = Date.parse(`${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}T07:00:00Z`);
    const request = { conversationId, text: "Good morning!", outboundIdempotencyKey: "morning-1" };
    const first = await api.call("POST", "/sms/send", {
      ...request,
      scheduledFor: new Date(asked).toISOString(),
    });
    assert.equal(first.statusCode, 201, first.body);
    // A worker whose clock reads the asked time defers the message to the morning in New York.
    const worker = new Worker(api.db.store.db, {
      engine,
      config: api.pipeline.config,
      provider: new SimulatorProvider(api.pipeline),
      now: () => asked,
    });
    await worker.runOnce();
    const moved = (await api.call("GET", `/events/${first.json().id}`)).json();
    assert.equal(moved.scheduledReason, "QuietHours", JSON.stringify(moved));
    assert.ok(Date.parse(moved.scheduledFor) > asked, moved.scheduledFor);
    const again = await api.call("POST", "/sms/send", { ...request, scheduledFor: atPlusOneHour(asked) });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().id, first.json().id);
    const before = await countEvents(api);
    for (const scheduledFor of [moved.scheduledFor, undefined]) {
      const res = await api.call("POST", "/sms/send", { ...request, scheduledFor });
      assert.equal(res.statusCode, 422, `${scheduledFor}: ${res.body}`);
      assert.deepEqual(Object.keys(res.json().errors), ["outboundIdempotencyKey"]);
    }
    assert.equal(await countEvents(api), before, "nothing written");
  });
});
