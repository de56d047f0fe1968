import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import type { MessagingConfig } from "../src/config.js";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import type { OutboundMessage } from "../src/messaging/provider.js";
import { checkProviderSettings, createProvider } from "../src/messaging/providers/index.js";
import { TelnyxProvider } from "../src/messaging/providers/telnyx.js";
import { classifyTelnyxRefusal } from "../src/messaging/providers/telnyx-refusals.js";
import {
  parseTelnyxWebhook,
  telnyxPublicKey,
  verifyTelnyxSignature,
} from "../src/messaging/providers/telnyx-webhook.js";
import { webhookUrlQuery } from "../src/messaging/providers/telnyx-webhook-url.js";
import { loadEvent } from "../src/messaging/transitions.js";
import { createWallet } from "../src/store/billing-repo.js";
import { insertEvent, newEventRow } from "../src/store/events-repo.js";
import { lockLead } from "../src/store/leads-repo.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import type { EventRow, PhoneNumberRow } from "../src/store/schema.js";
import { Store } from "../src/store/store.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import {
  addLead,
  addSenderNumber,
  isFinal,
  senderFailureCount,
  senderNumberRow,
  until,
  waitForEvent,
} from "./helpers/messaging.js";
import { freePort } from "./helpers/processes.js";
import {
  postWebhook,
  queryOf,
  sendToLead,
  signedQuery,
  startTelnyxApi,
  telnyxEnv,
} from "./helpers/telnyx.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The secret the adapter tests sign webhook URLs with (a server's is Store.webhookUrlSecret). */
const urlSecret = Buffer.alloc(32, 7);

const outboundStub: OutboundMessage = {
  organizationId: "org_1",
  eventId: "evt_1",
  from: "+14155550100",
  to: "+12125550101",
  text: "Hello",
  mediaUrls: [],
};

/** The adapter on the fake Telnyx at `url`, its webhook URLs on https://hooks.example. */
const adapterOn = (url: string, timeoutMs?: number) =>
  new TelnyxProvider({
    apiKey: "KEYtest",
    apiBaseUrl: `${url}/v2`,
    publicUrl: "https://hooks.example",
    webhookUrlSecret: urlSecret,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });

test("the adapter speaks Telnyx's messages API and maps its answers", async () => {
  const fake = new FakeTelnyx();
  const url = await fake.start();
  const provider = adapterOn(url, 300);
  const message: OutboundMessage = {
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
    assert.ok(request);
    assert.equal(request.authorization, "Bearer KEYtest");
    assert.equal(fake.requests[0]!.contentType, "application/json");
    assert.equal(request.body.from, "+14155550100");
    assert.equal(request.body.to, "+12125550101");
    assert.equal(request.body.text, "Hello");
    assert.deepEqual(request.body.media_urls, ["https://example.com/a.png"]);
    // The event id in the webhook URL is how a receipt finds its message even if we crashed before
    // storing Telnyx's id, signed by us (Telnyx does not sign the URL); the profile's webhooks are not
    // used for it (no second copy of each receipt).
    const sig = webhookUrlQuery(urlSecret, { organizationId: "org_1", eventId: "evt_1" }).split("&sig=")[1];
    assert.match(String(sig), /^[\w-]{22}$/, "128 bits, base64url");
    assert.equal(
      request.body.webhook_url,
      `https://hooks.example/webhooks/telnyx?event=evt_1&org=org_1&sig=${sig}`,
    );
    assert.notEqual(
      sig,
      webhookUrlQuery(urlSecret, { organizationId: "org_1", eventId: "evt_2" }).split("&sig=")[1],
    );
    assert.equal(request.body.use_profile_webhooks, false);
    assert.deepEqual(accepted, {
      kind: "accepted",
      providerMessageId: request.id,
      telnyxId: request.id,
      parts: 1,
    });

    // An SMS carries no media_urls at all.
    await provider.send({ ...message, to: "+12125550102", mediaUrls: [] });
    assert.equal("media_urls" in fake.sent[1]!.body, false);

    for (const [behaviour, kind, code] of [
      ["201", "accepted", null],
      // Telnyx's own code is recorded, not the HTTP status it came with.
      ["429", "transient", "10011"],
      ["408", "transient", "10008"],
      ["401", "transient", "10009"],
      ["500", "transient", "10007"],
      ["422", "permanent", "40310"],
      // Answers that do not say whether Telnyx took the message: never retried (it could go twice).
      ["502", "unknown", "502"],
      ["garbage", "unknown", "MalformedResponse"],
      ["hang", "unknown", "Timeout"],
      ["accept-hang", "unknown", "Timeout"],
    ] as const) {
      fake.behaviour.set("+12125550101", behaviour);
      const started = Date.now();
      const result = await provider.send(message);
      assert.equal(result.kind, kind, behaviour);
      assert.equal(result.kind === "accepted" ? null : result.errorCode, code, behaviour);
      if (result.kind !== "accepted") assert.ok(result.errorMessage, behaviour);
      if (behaviour.endsWith("hang")) assert.ok(Date.now() - started < 3000, "the timeout bounds the call");
    }
    // Every request is recorded, answered or not.
    assert.deepEqual(
      fake.requests.map((r) => r.status),
      [200, 200, 201, 429, 408, 401, 500, 422, 502, 200, 0, 0],
    );
  } finally {
    await fake.stop();
  }
  // A port nothing listens on (a fresh one: the fake's own may still have a pooled keep-alive
  // socket, whose failure after the request is written is rightly "unknown").
  const free = createServer();
  await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", resolve));
  const freePort = (free.address() as AddressInfo).port;
  await new Promise<void>((resolve) => free.close(() => resolve()));
  const unreachable = new TelnyxProvider({
    apiKey: "KEYtest",
    apiBaseUrl: `http://127.0.0.1:${freePort}/v2`,
    publicUrl: "https://hooks.example",
    webhookUrlSecret: urlSecret,
    timeoutMs: 2000,
  });
  // Refused before any request went out: Telnyx never got it, so a retry is safe.
  const result = await unreachable.send(message);
  assert.equal(result.kind, "transient");
  assert.equal(result.kind === "transient" ? result.errorCode : null, "ConnectError");
});

test("Telnyx refusals by class: temporary ones and our account's or settings' are retried (the latter saying what to check), a message's own fails", async () => {
  const fake = new FakeTelnyx();
  const url = await fake.start();
  const provider = adapterOn(url);
  try {
    for (const [behaviour, status, kind, code, action] of [
      ["429", 429, "transient", "10011", null],
      ["500", 500, "transient", "10007", null],
      ["401", 401, "transient", "10009", /TELNYX_API_KEY/],
      ["403", 403, "transient", "10010", /TELNYX_API_KEY's account may send/],
      ["insufficient-funds", 402, "transient", "20100", /Top up the Telnyx account's balance/],
      ["422", 422, "permanent", "40310", null],
      ["stop-blocked", 409, "permanent", "40300", null],
    ] as const) {
      fake.behaviour.set(outboundStub.to, behaviour);
      const result = await provider.send(outboundStub);
      assert.equal(fake.requests.at(-1)!.status, status, behaviour);
      assert.equal(result.kind, kind, behaviour);
      assert.equal(result.errorCode, code, behaviour);
      const told = result.kind === "transient" ? result.operatorAction : undefined;
      if (action === null) assert.equal(told, undefined, behaviour);
      else assert.match(String(told), action, behaviour);
    }
    // A TELNYX_API_BASE_URL without its /v2: Telnyx's 404 (10005), for every message alike.
    const misdirected = await new TelnyxProvider({
      apiKey: "KEYtest",
      apiBaseUrl: url,
      publicUrl: "https://hooks.example",
      webhookUrlSecret: urlSecret,
    }).send(outboundStub);
    assert.equal(misdirected.kind, "transient");
    assert.equal(misdirected.kind === "transient" && misdirected.errorCode, "10005");
    assert.match(
      String(misdirected.kind === "transient" && misdirected.operatorAction),
      /TELNYX_API_BASE_URL/,
    );
  } finally {
    await fake.stop();
  }
});

test("Telnyx's messaging codes 40318, 40012 and 40013 are classed by what Telnyx says they mean, and an operator problem says what it concerns", () => {
  // Message queue full (429): wait and resend.
  assert.deepEqual(classifyTelnyxRefusal(429, "40318", true), { class: "temporary" });
  // Invalid destination number: this message, for good.
  assert.deepEqual(classifyTelnyxRefusal(400, "40012", true), { class: "message" });
  // Invalid source number: the sending number's configuration, whatever status it comes with.
  const source = classifyTelnyxRefusal(400, "40013", true);
  assert.equal(source !== "unknown" && source.class, "operator");
  assert.equal(source !== "unknown" && source.scope, "sender");
  assert.match(String(source !== "unknown" && source.action), /enabled for messaging/);
  // A permission refusal is the number's; the key, the funds and the base URL the whole account's.
  for (const [status, code, scope] of [
    [403, "10010", "sender"],
    [403, undefined, "sender"],
    [401, "10009", undefined],
    [402, "20100", undefined],
    [404, "10005", undefined],
  ] as const) {
    const rule = classifyTelnyxRefusal(status, code, true);
    assert.equal(rule !== "unknown" && rule.class, "operator", `${status} ${code}`);
    assert.equal(rule !== "unknown" && rule.scope, scope, `${status} ${code}`);
  }
});

test("a refusal worth retrying carries how long Telnyx asked us to wait: Retry-After, or its rate limit's reset when nothing is left", async () => {
  const fake = new FakeTelnyx();
  const url = await fake.start();
  const provider = adapterOn(url);
  const inAMinute = new Date(Date.now() + 60_000).toUTCString();
  try {
    for (const [behaviour, headers, expected] of [
      ["429", { "retry-after": "120" }, [120_000, 120_000]],
      ["500", { "retry-after": "30" }, [30_000, 30_000]],
      // An HTTP date: the time left until then (it was a minute when the header was made).
      ["429", { "retry-after": inAMinute }, [50_000, 60_000]],
      // Telnyx's documented rate limit headers: the window resets in 90 s and nothing is left.
      [
        "429",
        { "x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "90" },
        [90_000, 90_000],
      ],
      // Requests are left: the 429 is not the API window's (a full message queue, 40318).
      ["429", { "x-ratelimit-remaining": "12", "x-ratelimit-reset": "90" }, null],
      ["429", { "retry-after": "soon" }, null],
      ["429", {}, null],
    ] as const) {
      fake.behaviour.set(outboundStub.to, behaviour);
      fake.answerHeaders.set(outboundStub.to, headers);
      const result = await provider.send(outboundStub);
      assert.equal(result.kind, "transient", JSON.stringify(headers));
      const asked = result.kind === "transient" ? result.retryAfterMs : undefined;
      if (expected === null) assert.equal(asked, undefined, JSON.stringify(headers));
      else {
        assert.ok(
          asked !== undefined && asked >= expected[0] && asked <= expected[1],
          `${asked} ${JSON.stringify(headers)}`,
        );
      }
    }
  } finally {
    await fake.stop();
  }
});

test("Telnyx's 40300 (the recipient texted STOP) says the recipient opted out; other refusals do not", async () => {
  const fake = new FakeTelnyx();
  const url = await fake.start();
  const provider = new TelnyxProvider({
    apiKey: "KEYtest",
    apiBaseUrl: `${url}/v2`,
    publicUrl: "x",
    webhookUrlSecret: urlSecret,
  });
  try {
    fake.behaviour.set("+12125550101", "stop-blocked");
    const refused = await provider.send(outboundStub);
    assert.equal(fake.requests[0]!.status, 409);
    assert.equal(refused.kind, "permanent");
    assert.equal(refused.kind === "permanent" && refused.errorCode, "40300");
    assert.equal(refused.kind === "permanent" && refused.recipientOptedOut, true);
    fake.behaviour.set("+12125550101", "422");
    const invalid = await provider.send(outboundStub);
    assert.equal(invalid.kind === "permanent" && invalid.errorCode, "40310");
    assert.equal(invalid.kind === "permanent" && invalid.recipientOptedOut, undefined);
  } finally {
    await fake.stop();
  }
  const finalized = (status: string, code: string) =>
    parseTelnyxWebhook(
      fake.webhook("message.finalized", "tx-1", outboundStub, status, { errors: [{ code, title: "x" }] }),
      "evt_1",
      "org_1",
    );
  for (const [status, code, optedOut] of [
    ["sending_failed", "40300", true],
    ["delivery_failed", "40300", true],
    ["sending_failed", "40008", undefined],
    ["delivery_failed", "30003", undefined],
  ] as const) {
    const parsed = finalized(status, code);
    assert.equal(
      parsed.kind === "receipt" && parsed.receipt.recipientOptedOut,
      optedOut,
      `${status} ${code}`,
    );
  }
});

test("the signature check: Ed25519 over timestamp|body, within 300 s either way", () => {
  const fake = new FakeTelnyx();
  const key = telnyxPublicKey(fake.publicKeyBase64);
  const raw = '{"data":{"event_type":"message.sent"}}';
  const at = 1_800_000_000;
  const headers = fake.signedHeaders(raw, at);
  const check = (now: number, body = raw, h = headers) =>
    verifyTelnyxSignature(key, body, h["telnyx-signature-ed25519"], h["telnyx-timestamp"], now);
  assert.equal(check(at), true);
  assert.equal(check(at + 300), true);
  assert.equal(check(at - 300), true);
  assert.equal(check(at + 301), false);
  assert.equal(check(at - 301), false);
  assert.equal(check(at, `${raw} `), false);
  assert.equal(check(at, raw, { ...headers, "telnyx-timestamp": String(at + 1) }), false);
  // The signature header exactly as Telnyx writes it, once: Node joins a header given twice with
  // ", ", and its base64 decoder would read the valid signature at the front of either of these.
  const signature = headers["telnyx-signature-ed25519"]!;
  const withSignature = (value: string) => ({ ...headers, "telnyx-signature-ed25519": value });
  assert.equal(check(at, raw, withSignature(signature.replace(/==$/, ""))), true, "unpadded");
  assert.equal(check(at, raw, withSignature(`${signature}, ${signature}`)), false, "given twice");
  assert.equal(check(at, raw, withSignature(`${signature}, AAAA`)), false, "given twice, second forged");
  assert.equal(check(at, raw, withSignature(`${signature}!!`)), false, "trailing junk");
  assert.equal(check(at, raw, withSignature(` ${signature}`)), false, "leading space");
  assert.equal(check(at, raw, withSignature(`${signature.slice(0, 40)}\n${signature.slice(40)}`)), false);
  // The last character of 64 bytes in base64 carries 2 bits and 4 unused ones: A→B, Q→R, g→h, w→x
  // decode to the same signature.
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const otherSpelling = `${signature.slice(0, 85)}${alphabet[alphabet.indexOf(signature[85]!) + 1]}==`;
  assert.deepEqual(Buffer.from(otherSpelling, "base64"), Buffer.from(signature, "base64"));
  assert.equal(
    check(at, raw, withSignature(otherSpelling)),
    false,
    "a non-canonical spelling of the same bytes",
  );
  assert.throws(() => telnyxPublicKey(Buffer.alloc(31).toString("base64")), /32-byte/);
  // As the portal shows it, with the whitespace a copy may bring along, or in the URL-safe alphabet.
  const portal = fake.publicKeyBase64;
  for (const spelling of [portal, ` ${portal}\n`, Buffer.from(portal, "base64").toString("base64url")])
    assert.ok(telnyxPublicKey(spelling));
});

test("a TELNYX_PUBLIC_KEY that is not a 32-byte Ed25519 key stops serve before the database opens", () => {
  const settings = (publicKey: string) =>
    ({ provider: "telnyx", telnyx: { apiKey: "KEY", publicKey } }) as unknown as MessagingConfig;
  const fake = new FakeTelnyx();
  assert.doesNotThrow(() => checkProviderSettings(settings(fake.publicKeyBase64)));
  // The key as PEM, its DER (SubjectPublicKeyInfo) in base64, and hex: not what the portal shows.
  const der = telnyxPublicKey(fake.publicKeyBase64).export({ format: "der", type: "spki" });
  const pem = telnyxPublicKey(fake.publicKeyBase64).export({ format: "pem", type: "spki" }).toString();
  for (const wrong of [
    pem,
    der.toString("base64"),
    Buffer.from(fake.publicKeyBase64, "base64").toString("hex"),
  ])
    assert.throws(() => checkProviderSettings(settings(wrong)), /TELNYX_PUBLIC_KEY/);
});

test("message.received: Telnyx's id is the telnyxId; media details Telnyx leaves out or mistypes are null", () => {
  const body = new FakeTelnyx().inbound({
    id: "tx-in-9",
    from: "+12125550299",
    to: "+14155550177",
    text: "",
  });
  // Loosely typed, as a payload off the wire is.
  (body.data.payload as { media: unknown[] }).media = [
    { url: "https://media.example/a.jpg" },
    { url: "https://media.example/b.gif", content_type: "", size: -1, hash_sha256: null },
    { content_type: "image/png" },
  ];
  const parsed = parseTelnyxWebhook(body, null, null);
  assert.equal(parsed.kind, "inbound");
  if (parsed.kind !== "inbound") return;
  assert.equal(parsed.message.telnyxId, "tx-in-9");
  assert.deepEqual(parsed.message.media, [
    { url: "https://media.example/a.jpg", contentType: null, size: null, sha256: null },
    { url: "https://media.example/b.gif", contentType: null, size: null, sha256: null },
  ]);
});

test("the fake runs as a process of its own and sends signed receipts for what it accepts", async () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "test/helpers/fake-telnyx.ts", "--receipt-delay-ms", "20"],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] },
  );
  /** A webhook the fake sent, as far as this test reads it. */
  interface Received {
    ok: boolean;
    body: {
      data: { event_type: string; payload: { to: Array<{ phone_number: string; status: string }> } };
      meta: { attempt: number; delivered_to: string };
    };
  }
  const received: Received[] = [];
  const receiver = createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => {
      raw += chunk;
    });
    req.on("end", () => {
      received.push({
        ok: verifyTelnyxSignature(
          key!,
          raw,
          req.headers["telnyx-signature-ed25519"] as string,
          req.headers["telnyx-timestamp"] as string,
          Math.floor(Date.now() / 1000),
        ),
        body: JSON.parse(raw),
      });
      res.end("{}");
    });
  });
  let key: ReturnType<typeof telnyxPublicKey> | undefined;
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk) => {
        out += chunk;
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      child.once("exit", (code) => reject(new Error(`the fake exited (${code}) before starting`)));
      setTimeout(() => reject(new Error("the fake did not start in 20 s")), 20_000).unref();
    });
    const started = JSON.parse(line) as { url: string; port: number; publicKey: string };
    assert.equal(started.url, `http://127.0.0.1:${started.port}`);
    key = telnyxPublicKey(started.publicKey);
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/telnyx?event=evt_9`;

    const control = await fetch(`${started.url}/__behaviour`, {
      method: "POST",
      body: JSON.stringify({ to: "+12125550199", behaviour: "500" }),
    });
    assert.equal(control.status, 200);
    const provider = new TelnyxProvider({
      apiKey: "KEY",
      apiBaseUrl: `${started.url}/v2`,
      publicUrl: "x",
      webhookUrlSecret: urlSecret,
    });
    const send = (to: string) =>
      fetch(`${started.url}/v2/messages`, {
        method: "POST",
        headers: { authorization: "Bearer KEY", "content-type": "application/json" },
        body: JSON.stringify({ from: "+14155550100", to, text: "hi", webhook_url: hook }),
      });
    assert.equal((await send("+12125550199")).status, 500);
    const res = await send("+12125550198");
    assert.equal(res.status, 200);
    const { data } = (await res.json()) as { data: { id: string; record_type: string } };
    assert.equal(data.record_type, "message");
    assert.equal(
      (await provider.send({ ...outboundStub, to: "+12125550199" })).kind,
      "transient",
      "the behaviour set over HTTP holds for the adapter too",
    );

    const deadline = Date.now() + 10_000;
    while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      received.map(({ ok, body: { data, meta } }) => [
        ok,
        data.event_type,
        data.payload.to.map((t) => [t.phone_number, t.status]),
        meta,
      ]),
      [
        [true, "message.sent", [["+12125550198", "sent"]], { attempt: 1, delivered_to: hook }],
        [true, "message.finalized", [["+12125550198", "delivered"]], { attempt: 1, delivered_to: hook }],
      ],
    );
    const sent = (await (await fetch(`${started.url}/__sent`)).json()) as Array<{ id: string }>;
    assert.deepEqual(
      sent.map((s) => s.id),
      [data.id],
    );
    const requests = (await (await fetch(`${started.url}/__requests`)).json()) as Array<{ status: number }>;
    assert.deepEqual(
      requests.map((r) => r.status),
      [500, 200, 500],
    );
  } finally {
    child.kill();
    receiver.close();
  }
});

forEachEngine("Telnyx webhooks onto events", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  let sender: PhoneNumberRow;
  let counter = 0;
  before(async () => {
    fake = new FakeTelnyx();
    const url = await fake.start();
    api = await startTestApi(engine, { env: telnyxEnv(fake, url) });
    sender = await addSenderNumber(api, { number: "+14155550150" });
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  /** An outbound SMS the worker handed to Telnyx: Sending, with no Telnyx id stored yet. */
  /** A new organization with a sender number `number` and a message of it (`sending` with `overrides`). */
  async function sendingInAnotherOrganization(name: string, number: string, overrides: Partial<EventRow>) {
    const { organizationId } = await createOrganization(api.db.store.db, name);
    const sender = senderNumberRow(organizationId, { number });
    await api.db.store.db.insertInto("phone_numbers").values(sender).execute();
    const message = await sending({
      organization_id: organizationId,
      from_phone_number_id: sender.id,
      outbound_phone_number_id: sender.id,
      from_phone_number: sender.number,
      ...overrides,
    });
    return { organizationId, sender, message };
  }

  async function sending(overrides: Partial<EventRow> = {}): Promise<EventRow> {
    const now = Date.now();
    counter++;
    return insertEvent(
      api.db.store.db,
      newEventRow(
        {
          organization_id: api.org.organizationId,
          event_type: "SmsOutbound",
          event_category: "Messaging",
          activity_type: "Sms",
          activity_category: ACTIVITY_CATEGORY.Sms,
          description: "Outbound SMS",
          summary: "Hello",
          created_by: "test",
          direction: "outbound",
          status: "Sending",
          traffic_type: "RealLead",
          from_phone_number_id: sender.id,
          outbound_phone_number_id: sender.id,
          from_phone_number: sender.number,
          to_phone_number: `+1212555${String(1000 + counter).padStart(4, "0")}`,
          body: "Hello",
          segments: 1,
          encoding: "GSM-7",
          price_micros: 7900,
          queued_at: now - 1000,
          sending_started_at: now - 500,
          ...overrides,
        },
        now - 1000,
      ),
    );
  }

  const reload = async (row: EventRow) => (await loadEvent(api.db.store.db, row.organization_id, row.id))!;
  /** The query of the webhook_url we gave Telnyx for `row`. */
  const queryFor = (row: EventRow) => signedQuery(api, row);
  const message = (row: EventRow) => ({
    from: row.from_phone_number!,
    to: row.to_phone_number!,
    text: "Hello",
  });
  /** A webhook about `row` as Telnyx message `telnyxId`, that happened at `at`. */
  const about = (
    row: EventRow,
    telnyxId: string,
    eventType: string,
    status: string,
    at: number,
    extra: Record<string, unknown> = {},
  ) => {
    const body = fake.webhook(eventType, telnyxId, message(row), status, extra);
    body.data.occurred_at = new Date(at).toISOString();
    return body;
  };

  test("message.sent makes it Sent, message.finalized Delivered; duplicates and late receipts change nothing", async () => {
    const t0 = Date.now() - 60_000;
    const row = await sending({ queued_at: t0 - 2000, sending_started_at: t0 - 1000 });
    const sent = about(row, "tx-1", "message.sent", "sent", t0);
    const res = await postWebhook(api, fake, sent, { query: queryFor(row) });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { received: true });
    let event = await reload(row);
    assert.equal(event.status, "Sent");
    assert.equal(Number(event.sent_at), t0, "the time Telnyx says it happened");
    assert.equal(event.provider_message_id, "tx-1", "Telnyx's id is learned from the receipt");
    assert.equal(event.billing_status, "Billed");

    const delivered = about(row, "tx-1", "message.finalized", "delivered", t0 + 2000);
    assert.equal((await postWebhook(api, fake, delivered, { query: queryFor(row) })).statusCode, 200);
    event = await reload(row);
    assert.equal(event.status, "Delivered");
    assert.equal(Number(event.delivered_at), t0 + 2000);

    // Telnyx redelivers, and receipts arrive late or out of order: none moves the message back.
    for (const late of [
      delivered,
      sent,
      about(row, "tx-1", "message.sent", "sent", t0 + 5000),
      about(row, "tx-1", "message.finalized", "delivery_failed", t0 + 6000, { errors: [{ code: "30003" }] }),
      about(row, "tx-1", "message.finalized", "sending_failed", t0 + 7000, { errors: [{ code: "40008" }] }),
    ]) {
      assert.equal((await postWebhook(api, fake, late, { query: queryFor(row) })).statusCode, 200);
    }
    const after = await reload(row);
    assert.equal(after.status, "Delivered");
    assert.equal(Number(after.sent_at), t0);
    assert.equal(Number(after.delivered_at), t0 + 2000);
    assert.equal(after.error_code, null);
    assert.equal(after.undeliverable_at, null);
    assert.equal(after.failed_at, null);

    const record = (await api.call("GET", `/events/${row.id}`)).json();
    assert.equal(record.status, "Delivered");
    assert.equal(record.deliveredAt, new Date(t0 + 2000).toISOString());
  });

  test("message.finalized statuses map onto outcomes, with Telnyx's error code", async () => {
    const at = Date.now() - 10_000;
    for (const [status, errors, expected, code, stamp, reason] of [
      ["delivered", [], "Delivered", null, "delivered_at", null],
      [
        "delivery_failed",
        [{ code: "30003", title: "Unreachable destination handset" }],
        "Undeliverable",
        "30003",
        "undeliverable_at",
        "The carrier could not deliver it (code 30003): Unreachable destination handset.",
      ],
      // No delivery receipt from the carrier: sent, and perhaps delivered; not undeliverable.
      ["delivery_unconfirmed", [], "Sent", null, "sent_at", null],
      [
        "sending_failed",
        [{ code: "40008", title: "Undeliverable", detail: "Spam" }],
        "Failed",
        "40008",
        "failed_at",
        "The provider could not send it (code 40008): Spam.",
      ],
      ["expired", [], "Failed", "Failed", "failed_at", "The provider could not send it."],
    ] as const) {
      const row = await sending({ queued_at: at - 2000, sending_started_at: at - 1000 });
      const body = about(row, `tx-${status}`, "message.finalized", status, at, { errors });
      assert.equal((await postWebhook(api, fake, body, { query: queryFor(row) })).statusCode, 200);
      const event = await reload(row);
      assert.equal(event.status, expected, status);
      assert.equal(event.error_code, code, status);
      assert.equal(Number(event[stamp]), at, status);
      assert.equal(event.status_reason, reason, status);
      if (status === "sending_failed") assert.equal(event.error_message, "Spam");
      // Accepted messages are billed; one that failed before any acceptance is known not billed.
      assert.equal(event.billing_status, expected === "Failed" ? "NotBilled" : "Billed", status);
      assert.equal(event.telnyx_id, `tx-${status}`, status);
    }
  });

  test("delivery_unconfirmed after message.sent leaves the message Sent, its sender's health untouched, and says so in the log", async () => {
    const sentAt = Date.now() - 5000;
    const row = await sending({ queued_at: sentAt - 2000, sending_started_at: sentAt - 1000 });
    const sent = about(row, "tx-unconfirmed", "message.sent", "sent", sentAt);
    assert.equal((await postWebhook(api, fake, sent, { query: queryFor(row) })).statusCode, 200);
    const healthBefore = await api.db.store.db
      .selectFrom("phone_number_health_days")
      .select(["failed", "carrier_blocked"])
      .where("phone_number_id", "=", row.from_phone_number_id!)
      .execute();
    const finalized = about(row, "tx-unconfirmed", "message.finalized", "delivery_unconfirmed", Date.now());
    assert.equal((await postWebhook(api, fake, finalized, { query: queryFor(row) })).statusCode, 200);
    const event = await reload(row);
    assert.equal(event.status, "Sent");
    assert.equal(Number(event.sent_at), sentAt);
    assert.equal(event.undeliverable_at, null);
    assert.equal(event.error_code, null);
    assert.equal(event.billing_status, "Billed");
    const healthAfter = await api.db.store.db
      .selectFrom("phone_number_health_days")
      .select(["failed", "carrier_blocked"])
      .where("phone_number_id", "=", row.from_phone_number_id!)
      .execute();
    assert.deepEqual(healthAfter, healthBefore);
    const detail = (await api.call("GET", `/events/detail/${row.id}`)).json();
    assert.ok(
      JSON.stringify(detail).includes("Provider reported 'sent' (delivery_unconfirmed)."),
      JSON.stringify(detail),
    );
  });

  test("a sender's health counts a carrier's spam block (40003) against it, not a recipient's opt-out (40300)", async () => {
    /** The sender's outcome counts over its health days. */
    const counts = async (id: string) => {
      const rows = await api.db.store.db
        .selectFrom("phone_number_health_days")
        .select(["sent", "failed", "carrier_blocked"])
        .where("phone_number_id", "=", id)
        .execute();
      const sum = (k: "sent" | "failed" | "carrier_blocked") => rows.reduce((n, r) => n + Number(r[k]), 0);
      return { failed: sum("failed"), carrierBlocked: sum("carrier_blocked") };
    };
    const finalize = async (from: PhoneNumberRow, code: string, title: string) => {
      const row = await sending({
        from_phone_number_id: from.id,
        outbound_phone_number_id: from.id,
        from_phone_number: from.number,
      });
      const body = about(row, `tx-health-${code}`, "message.finalized", "sending_failed", Date.now(), {
        errors: [{ code, title }],
      });
      assert.equal((await postWebhook(api, fake, body, { query: queryFor(row) })).statusCode, 200);
      assert.equal((await reload(row)).error_code, code);
    };
    const spammed = await addSenderNumber(api, { number: "+14155550151", name: "Spammed", is_default: 0 });
    await finalize(spammed, "40003", "Blocked as spam (permanent)");
    assert.deepEqual(await counts(spammed.id), { failed: 0, carrierBlocked: 1 });
    const optedOut = await addSenderNumber(api, { number: "+14155550152", name: "Opted out", is_default: 0 });
    await finalize(optedOut, "40300", "Blocked due to STOP message");
    assert.deepEqual(
      await counts(optedOut.id),
      { failed: 0, carrierBlocked: 0 },
      "the recipient's STOP is no fault of the number",
    );
    // Neither may be chosen for later tests' messages.
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ enabled: 0 })
      .where("id", "in", [spammed.id, optedOut.id])
      .execute();
  });

  test("a group MMS reaches our number wherever Telnyx lists it: after others in to[], or in cc[]", async () => {
    const ours = await addSenderNumber(api, { number: "+14155550179", is_default: 0, name: "Group line" });
    const group = (id: string, to: string[], cc: string[]) => {
      const body = fake.inbound({ id, from: "+12125550277", to: to[0]!, text: `group ${id}` });
      Object.assign(body.data.payload, {
        to: to.map((phone_number) => ({ phone_number, status: "webhook_delivered" })),
        cc: cc.map((phone_number) => ({ phone_number, status: "webhook_delivered" })),
      });
      return body;
    };
    for (const body of [
      group("tx-group-1", ["+12125550276", ours.number], []),
      group("tx-group-2", ["+12125550276"], ["+12125550275", ours.number]),
    ]) {
      assert.equal((await postWebhook(api, fake, body)).statusCode, 200);
      const rows = await api.db.store.db
        .selectFrom("events")
        .selectAll()
        .where("provider_message_id", "=", body.data.payload.id)
        .execute();
      assert.equal(rows.length, 1, body.data.payload.id);
      assert.equal(rows[0]!.organization_id, api.org.organizationId);
      assert.equal(rows[0]!.to_phone_number, ours.number);
      assert.equal(rows[0]!.body, `group ${body.data.payload.id}`);
    }
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ enabled: 0 })
      .where("id", "=", ours.id)
      .execute();
  });

  test("fields of another type than Telnyx documents are read as not told, never a 500; a numeric error code is the same code", async () => {
    const ours = await addSenderNumber(api, { number: "+14155550178", is_default: 0, name: "Loose line" });
    const inbound = (id: string, fields: Record<string, unknown>) => {
      const body = fake.inbound({ id, from: "+12125550288", to: ours.number, text: "hi" });
      Object.assign(body.data.payload, fields);
      return body;
    };
    const stored = (id: string) =>
      api.db.store.db.selectFrom("events").selectAll().where("provider_message_id", "=", id).execute();
    // An MMS of a picture alone: text null, a media entry null, another with its details null.
    const mms = inbound("tx-loose-1", {
      text: null,
      media: [
        null,
        { url: "https://media.example/p.jpg", content_type: null, size: null, hash_sha256: null },
      ],
    });
    assert.equal((await postWebhook(api, fake, mms)).statusCode, 200);
    const [picture] = await stored("tx-loose-1");
    assert.equal(picture?.body, "");
    const record = (await api.call("GET", `/events/${picture!.id}`)).json();
    assert.deepEqual(
      record.media.map((m: { url: string }) => m.url),
      ["https://media.example/p.jpg"],
    );
    for (const [id, fields] of [
      ["tx-loose-2", { media: {} }],
      ["tx-loose-3", { text: 5 }],
      ["tx-loose-4", { media: "https://media.example/q.jpg" }],
    ] as const) {
      const res = await postWebhook(api, fake, inbound(id, fields));
      assert.equal(res.statusCode, 200, `${id}: ${res.body}`);
      assert.equal((await stored(id))[0]?.body, id === "tx-loose-3" ? "" : "hi", id);
    }
    const unreadable = [
      inbound("tx-loose-5", { from: { phone_number: 12125550288 } }),
      inbound("tx-loose-6", { to: [null] }),
      { data: { event_type: "message.finalized", payload: { id: {}, to: [{ status: "delivered" }] } } },
      { data: { event_type: "message.sent", payload: { id: ["tx"], to: "+12125550288" } } },
      { data: { event_type: ["message.sent"] } },
      { data: "message.sent" },
      [],
    ];
    for (const body of unreadable) {
      const res = await postWebhook(api, fake, body);
      assert.equal(res.statusCode, 200, `${JSON.stringify(body)}: ${res.body}`);
    }
    assert.equal((await stored("tx-loose-5")).length, 0);

    // A carrier's spam block with its code as a number counts against the sender, as "40003" does.
    const spammed = await addSenderNumber(api, {
      number: "+14155550153",
      name: "Spammed too",
      is_default: 0,
    });
    const row = await sending({
      from_phone_number_id: spammed.id,
      outbound_phone_number_id: spammed.id,
      from_phone_number: spammed.number,
    });
    const body = about(row, "tx-numeric-code", "message.finalized", "delivery_failed", Date.now(), {
      errors: [{ code: 40003, title: "Blocked as spam - permanent" }],
    });
    assert.equal((await postWebhook(api, fake, body, { query: queryFor(row) })).statusCode, 200);
    assert.equal((await reload(row)).error_code, "40003");
    const health = await api.db.store.db
      .selectFrom("phone_number_health_days")
      .select("carrier_blocked")
      .where("phone_number_id", "=", spammed.id)
      .execute();
    assert.equal(
      health.reduce((n, r) => n + Number(r.carrier_blocked), 0),
      1,
    );
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ enabled: 0 })
      .where("id", "in", [spammed.id, ours.id])
      .execute();
  });

  test("a receipt's time from another clock is kept between our start of sending and its arrival", async () => {
    // Telnyx's clock two seconds behind ours: delivered "before" we began sending it.
    const behind = await sending();
    const startedAt = Number(behind.sending_started_at);
    const early = about(behind, "tx-behind", "message.sent", "sent", startedAt - 2000);
    assert.equal((await postWebhook(api, fake, early, { query: queryFor(behind) })).statusCode, 200);
    const delivered = about(behind, "tx-behind", "message.finalized", "delivered", startedAt - 1500);
    assert.equal((await postWebhook(api, fake, delivered, { query: queryFor(behind) })).statusCode, 200);
    const a = await reload(behind);
    assert.equal(a.status, "Delivered");
    assert.equal(Number(a.sent_at), startedAt);
    assert.equal(Number(a.delivered_at), startedAt);
    // An hour ahead: not delivered in the future.
    const ahead = await sending();
    const before = Date.now();
    const future = about(ahead, "tx-ahead", "message.finalized", "delivered", before + 3_600_000);
    assert.equal((await postWebhook(api, fake, future, { query: queryFor(ahead) })).statusCode, 200);
    const b = await reload(ahead);
    assert.equal(b.status, "Delivered");
    assert.ok(
      Number(b.delivered_at) >= before && Number(b.delivered_at) <= Date.now(),
      String(b.delivered_at),
    );
  });

  test("without our query string a receipt is matched by the Telnyx message id", async () => {
    const row = await sending({
      status: "Sent",
      sent_at: Date.now() - 5000,
      provider_message_id: "tx-known",
    });
    const body = about(row, "tx-known", "message.finalized", "delivery_failed", Date.now(), {
      errors: [{ code: "30005", title: "Unknown destination handset" }],
    });
    assert.equal((await postWebhook(api, fake, body)).statusCode, 200);
    const event = await reload(row);
    assert.equal(event.status, "Undeliverable");
    assert.equal(event.error_code, "30005");
    // A webhook_url from before we signed it (or a forged one): its ?event=/&org= are ignored, and
    // the receipt is matched by the Telnyx id, which the send call's answer stored.
    const old = await sending({ status: "Sent", sent_at: Date.now() - 5000, provider_message_id: "tx-old" });
    const oldQuery = `?event=${old.id}&org=${old.organization_id}`;
    const oldDelivered = about(old, "tx-old", "message.finalized", "delivered", Date.now());
    assert.equal((await postWebhook(api, fake, oldDelivered, { query: oldQuery })).statusCode, 200);
    assert.equal((await reload(old)).status, "Delivered");
    // A receipt for a message we know nothing of is acknowledged (Telnyx would retry it forever).
    const stray = about(row, "tx-nobody", "message.finalized", "delivered", Date.now());
    assert.equal((await postWebhook(api, fake, stray)).statusCode, 200);
  });

  test("?event= and &org= are used only with our sig over them: a receipt replayed with another message's, unsigned or with its own sig, touches neither", async () => {
    // `mine` was handed to Telnyx as tx-mine, whose answer is not recorded yet: no message holds
    // tx-mine. Another message to the same person has no Telnyx id either, here and in another
    // organization: the receipt's payload agrees with each of them.
    const mine = await sending();
    const ours = await sending({ to_phone_number: mine.to_phone_number });
    const { message: theirs } = await sendingInAnotherOrganization("Replay Target Org", "+14155550163", {
      to_phone_number: mine.to_phone_number,
    });
    const delivered = about(mine, "tx-mine", "message.finalized", "delivered", Date.now());
    const mineSig = new URLSearchParams(queryFor(mine)).get("sig")!;
    for (const target of [ours, theirs]) {
      const before = await reload(target);
      const named = `?event=${target.id}&org=${target.organization_id}`;
      for (const query of [
        named,
        `${named}&sig=${mineSig}`,
        `${named}&sig=`,
        `${named}&sig=${mineSig.slice(0, -1)}`,
      ]) {
        assert.equal((await postWebhook(api, fake, delivered, { query })).statusCode, 200, query);
        assert.deepEqual(await reload(target), before, query);
      }
    }
    assert.equal((await reload(mine)).status, "Sending", "no message holds tx-mine yet");
    // With the URL we gave Telnyx for it, the same receipt finishes its own message, before the
    // send call's answer is recorded: what the URL names the message for.
    assert.equal((await postWebhook(api, fake, delivered, { query: queryFor(mine) })).statusCode, 200);
    const done = await reload(mine);
    assert.equal(done.status, "Delivered");
    assert.equal(done.provider_message_id, "tx-mine");
    assert.equal((await reload(ours)).status, "Sending");
    assert.equal((await reload(theirs)).status, "Sending");
  });

  test("every process on the database signs webhook URLs alike, and a new continuation-token secret leaves them valid", async () => {
    // A `leadtrail worker` beside `serve`: the URLs it gives Telnyx are checked by the server's route.
    const worker = await Store.open(api.db.options);
    const row = await sending();
    try {
      const query = `?${webhookUrlQuery(worker.webhookUrlSecret, { organizationId: row.organization_id, eventId: row.id })}`;
      const sent = about(row, "tx-worker", "message.sent", "sent", Date.now());
      assert.equal((await postWebhook(api, fake, sent, { query })).statusCode, 200);
      assert.equal((await reload(row)).status, "Sent");
    } finally {
      await worker.close();
    }
    // The continuation tokens' secret rotated (its row deleted): a process started after it signs
    // webhook URLs as before, so messages already handed to Telnyx still find their receipts.
    await api.db.store.db.deleteFrom("settings").where("key", "=", "cursor_secret").execute();
    const restarted = await Store.open(api.db.options);
    try {
      assert.deepEqual(restarted.webhookUrlSecret, api.db.store.webhookUrlSecret);
    } finally {
      await restarted.close();
    }
  });

  test("a signed query string names an event only when the signed payload agrees", async () => {
    const victim = await sending();
    const real = await sending({ status: "Sent", provider_message_id: "tx-real", sent_at: Date.now() });
    // A genuine receipt about `real`, replayed to a URL naming `victim`.
    const body = about(real, "tx-real", "message.finalized", "delivered", Date.now());
    assert.equal((await postWebhook(api, fake, body, { query: queryFor(victim) })).statusCode, 200);
    assert.equal((await reload(victim)).status, "Sending");
    assert.equal((await reload(real)).status, "Delivered", "matched by its Telnyx id instead");
    // Same when the victim already has a Telnyx id of its own.
    const other = await sending({ status: "Sent", provider_message_id: "tx-other", sent_at: Date.now() });
    const again = about(other, "tx-real", "message.finalized", "sending_failed", Date.now());
    assert.equal((await postWebhook(api, fake, again, { query: queryFor(other) })).statusCode, 200);
    assert.equal((await reload(other)).status, "Sent");
    // Nor when the named message goes to the same number and Telnyx's id is not yet known for it:
    // the receipt's id already belongs to `real`.
    const sameNumber = await sending({ to_phone_number: real.to_phone_number });
    const failed = about(real, "tx-real", "message.finalized", "delivery_failed", Date.now(), {
      errors: [{ code: "40001" }],
    });
    assert.equal((await postWebhook(api, fake, failed, { query: queryFor(sameNumber) })).statusCode, 200);
    assert.equal((await reload(sameNumber)).status, "Sending");
    assert.equal((await reload(sameNumber)).provider_message_id, null);
  });

  test("?org= and ?event= naming another organization's message, even signed, move nothing of it: a receipt lands on its own message, an inbound on its number's organization", async () => {
    const {
      organizationId: otherId,
      sender: theirSender,
      message: theirs,
    } = await sendingInAnotherOrganization("Other Org", "+14155550162", {
      status: "Sent",
      provider_message_id: "tx-theirs",
      sent_at: Date.now(),
    });
    // Ours, to the same person, with no Telnyx id yet: the one a replayed receipt could land on.
    const victim = await sending({ to_phone_number: theirs.to_phone_number });
    const before = await reload(victim);
    const delivered = about(theirs, "tx-theirs", "message.finalized", "delivered", Date.now());
    const sig = (row: EventRow) => new URLSearchParams(queryFor(row)).get("sig")!;
    // A genuine signed URL, whose message the receipt is not about; org and event swapped around.
    for (const query of [
      queryFor(victim),
      `?event=${victim.id}&org=${otherId}&sig=${sig(victim)}`,
      `?event=${theirs.id}&org=${victim.organization_id}&sig=${sig(theirs)}`,
      `?event=${victim.id}&org=${otherId}`,
    ]) {
      assert.equal((await postWebhook(api, fake, delivered, { query })).statusCode, 200, query);
      assert.deepEqual(await reload(victim), before, query);
    }
    assert.equal((await reload(theirs)).status, "Delivered", "matched by its Telnyx id instead");
    // An inbound message belongs to the organization of the number it was sent to, whatever ?org= says.
    const inbound = fake.inbound({
      id: "tx-in-theirs",
      from: "+12125550298",
      to: theirSender.number,
      text: "Hi",
    });
    const res = await postWebhook(api, fake, inbound, { query: `?org=${victim.organization_id}` });
    assert.equal(res.statusCode, 200, res.body);
    const received = await api.db.store.db
      .selectFrom("events")
      .select("organization_id")
      .where("provider_message_id", "=", "tx-in-theirs")
      .execute();
    assert.deepEqual(received, [{ organization_id: otherId }]);
  });

  test("unknown event types and statuses are acknowledged and ignored", async () => {
    const row = await sending();
    const before = await reload(row);
    for (const body of [
      about(row, "tx-x", "message.queued", "queued", Date.now()),
      about(row, "tx-x", "call.initiated", "", Date.now()),
      about(row, "tx-x", "message.finalized", "queued", Date.now()),
      { data: {} },
    ]) {
      const res = await postWebhook(api, fake, body, { query: queryFor(row) });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { received: true });
    }
    assert.deepEqual(await reload(row), before);
    const notJson = "{not json";
    const res = await postWebhook(api, fake, null, { raw: notJson, headers: fake.signedHeaders(notJson) });
    assert.equal(res.statusCode, 400);
  });

  test("a signed body with a byte order mark or other whitespace is read as Telnyx signed it", async () => {
    const row = await sending();
    const sent = about(row, "tx-bom", "message.sent", "sent", Date.now());
    const bom = `\uFEFF${JSON.stringify(sent)}`;
    const res = await postWebhook(api, fake, null, {
      query: queryFor(row),
      raw: bom,
      headers: fake.signedHeaders(bom),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await reload(row)).status, "Sent");
    const finalized = about(row, "tx-bom", "message.finalized", "delivered", Date.now());
    const pretty = `\r\n${JSON.stringify(finalized, null, 2)}\n`;
    const again = await postWebhook(api, fake, null, {
      query: queryFor(row),
      raw: pretty,
      headers: fake.signedHeaders(pretty),
    });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal((await reload(row)).status, "Delivered");
  });

  test("forged, stale, tampered or unsigned webhooks are 401 problem+json and change nothing", async () => {
    const row = await sending();
    const before = await reload(row);
    const body = about(row, "tx-forged", "message.finalized", "delivered", Date.now());
    const raw = JSON.stringify(body);
    const now = Math.floor(Date.now() / 1000);
    const other = new FakeTelnyx(); // a key pair Telnyx did not sign with
    const valid = fake.signedHeaders(raw);
    const attempts: Array<[string, Record<string, string>, string?]> = [
      ["signed with another key", other.signedHeaders(raw)],
      ["a forged signature", { ...valid, "telnyx-signature-ed25519": randomBytes(64).toString("base64") }],
      ["a malformed signature", { ...valid, "telnyx-signature-ed25519": "AAAA" }],
      ["a timestamp over 5 minutes old", fake.signedHeaders(raw, now - 360)],
      ["a timestamp over 5 minutes ahead", fake.signedHeaders(raw, now + 360)],
      ["the signature of another timestamp", { ...valid, "telnyx-timestamp": String(now - 1) }],
      ["a non-numeric timestamp", { ...valid, "telnyx-timestamp": `${now}.0` }],
      ["no headers", { "content-type": "application/json" }],
      [
        "no timestamp",
        {
          "content-type": "application/json",
          "telnyx-signature-ed25519": valid["telnyx-signature-ed25519"]!,
        },
      ],
      [
        "no signature",
        { "content-type": "application/json", "telnyx-timestamp": valid["telnyx-timestamp"]! },
      ],
      ["a tampered body", valid, raw.replace('"delivered"', '"sending_failed"')],
      ["re-serialized JSON", valid, JSON.stringify(body, null, 1)],
    ];
    for (const [what, headers, payload] of attempts) {
      const res = await postWebhook(api, fake, body, { query: queryFor(row), headers, raw: payload ?? raw });
      assert.equal(res.statusCode, 401, what);
      assert.equal(res.headers["content-type"], "application/problem+json; charset=utf-8", what);
      assert.equal(res.json().status, 401, what);
    }
    assert.deepEqual(await reload(row), before, "nothing changed");
    // Within the 5 minutes, the same webhook is accepted.
    const res = await postWebhook(api, fake, body, {
      query: queryFor(row),
      headers: fake.signedHeaders(raw, now - 240),
    });
    assert.equal(res.statusCode, 200);
    assert.equal((await reload(row)).status, "Delivered");
  });

  test("message.received writes a Received event on the number's organization, once, with Telnyx's id and media details", async () => {
    const ours = await addSenderNumber(api, { number: "+14155550177", is_default: 0, name: "Inbound line" });
    const at = Date.now() - 3000;
    const body = fake.inbound({
      id: "tx-in-1",
      from: "+12125550299",
      to: ours.number,
      text: "Call me",
      media: [
        {
          url: "https://media.example/cat.png",
          contentType: "image/png",
          size: 48213,
          sha256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        },
      ],
    });
    body.data.occurred_at = new Date(at).toISOString();
    assert.equal((await postWebhook(api, fake, body)).statusCode, 200);
    // Telnyx redelivers a webhook it thinks we missed: still one message.
    assert.equal((await postWebhook(api, fake, body)).statusCode, 200);
    const rows = await api.db.store.db
      .selectFrom("events")
      .selectAll()
      .where("provider_message_id", "=", "tx-in-1")
      .execute();
    assert.equal(rows.length, 1);
    const [event] = rows;
    assert.equal(event!.organization_id, api.org.organizationId);
    assert.equal(event!.direction, "inbound");
    assert.equal(event!.status, "Received");
    assert.equal(event!.body, "Call me");
    assert.equal(event!.from_phone_number, "+12125550299");
    assert.equal(event!.to_phone_number, ours.number);
    assert.equal(Number(event!.received_at), at);
    const record = (await api.call("GET", `/events/${event!.id}`)).json();
    assert.equal(record.providerMessageId, "tx-in-1");
    assert.equal(record.telnyxId, "tx-in-1");
    assert.equal(record.activityType, "Mms");
    assert.deepEqual(record.media, [
      {
        url: "https://media.example/cat.png",
        contentType: "image/png",
        size: 48213,
        sha256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        fileName: null,
      },
    ]);
    const listed = (await api.call("POST", "/events/sms/phone/+12125550299", {})).json();
    assert.equal(listed.items.length, 1);
    assert.equal(listed.items[0].status, "received");

    // To a number no organization owns: acknowledged, nothing written.
    const stray = fake.inbound({ id: "tx-in-2", from: "+12125550299", to: "+14155550999", text: "hello?" });
    assert.equal((await postWebhook(api, fake, stray)).statusCode, 200);
    const none = await api.db.store.db
      .selectFrom("events")
      .select("id")
      .where("provider_message_id", "=", "tx-in-2")
      .execute();
    assert.equal(none.length, 0);
  });
});

forEachEngine("Telnyx end to end", (engine) => {
  let api: TestApi;
  let fake: FakeTelnyx;
  before(async () => {
    ({ api, fake } = await startTelnyxApi(engine));
  });
  after(async () => {
    await api.close();
    await fake.stop();
  });

  const sendOne = (phone: string) => sendToLead(api, phone);

  test("a message goes to Telnyx, Sent with telnyxId; signed webhooks finish it, late ones change nothing", async () => {
    const { sms, sent } = await sendOne("+12125550201");
    assert.equal(sent.status, "Sent");
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
    assert.ok(request, "the webhook URL names the event");
    assert.equal(request.authorization, "Bearer KEYtest");
    assert.equal(request.body.to, "+12125550201");
    assert.equal(request.body.text, "Quote ready");
    assert.equal(sent.telnyxId, request.id);
    assert.equal(sent.providerMessageId, request.id);
    const query = queryOf(request);
    const finalized = fake.webhook("message.finalized", request.id, request.body, "delivered");
    assert.equal((await postWebhook(api, fake, finalized, { query })).statusCode, 200);
    assert.equal((await api.call("GET", `/events/${sms.id}`)).json().status, "Delivered");
    const late = fake.webhook("message.sent", request.id, request.body, "sent");
    assert.equal((await postWebhook(api, fake, late, { query })).statusCode, 200);
    assert.equal((await postWebhook(api, fake, finalized, { query })).statusCode, 200);
    const record = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(record.status, "Delivered");
    assert.ok(record.deliveredAt);
  });

  test("a message Telnyx splits into other parts than we counted is billed as counted, and its log says so", async () => {
    const text = "a".repeat(161); // two GSM-7 segments
    fake.partsReported.set("+12125550290", 3);
    const { conversationId } = await addLead(api, "+12125550290");
    const sms = (await api.call("POST", "/sms/send", { conversationId, text })).json();
    const sent = await waitForEvent(api, sms.id, (e) => e.status === "Sent" || isFinal(e));
    assert.equal(sent.billingStatus, "Billed");
    assert.equal(sent.billableAmount, 2 * 0.0079, "the two segments the wallet check held");
    const line = await api.db.store.db
      .selectFrom("usage_ledger")
      .select(["quantity", "amount_micros"])
      .where("event_id", "=", sms.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual([Number(line.quantity), Number(line.amount_micros)], [2, 15_800]);
    const logged = JSON.stringify((await api.call("GET", `/events/detail/${sms.id}`)).json());
    assert.ok(logged.includes("It reports 3 parts; billed as the 2 segments counted when queued."), logged);
    // Parts that agree add nothing to the log.
    fake.partsReported.set("+12125550291", 2);
    const { conversationId: other } = await addLead(api, "+12125550291");
    const agreed = (await api.call("POST", "/sms/send", { conversationId: other, text })).json();
    await waitForEvent(api, agreed.id, (e) => e.status === "Sent" || isFinal(e));
    const agreedLog = JSON.stringify((await api.call("GET", `/events/detail/${agreed.id}`)).json());
    assert.ok(agreedLog.includes("Accepted by telnyx as"), agreedLog);
    assert.ok(!agreedLog.includes("It reports"), agreedLog);
  });

  test("a message Telnyx accepted and then could not send (sending_failed) is refunded, once; a receipt saying it was sent bills it again", async () => {
    const balance = async () => (await api.call("GET", "/wallets/me")).json().balance as number;
    const charges = async (id: string) =>
      (
        await api.db.store.db
          .selectFrom("usage_ledger")
          .select(["status", "amount_micros"])
          .where("event_id", "=", id)
          .orderBy("event_entry")
          .execute()
      ).map((l) => [l.status, Number(l.amount_micros)]);
    const before = await balance();
    const { sms, sent } = await sendOne("+12125550209");
    assert.equal(sent.status, "Sent");
    assert.equal(sent.billingStatus, "Billed", "billed when Telnyx accepted it");
    assert.equal(Math.round((before - (await balance())) * 1e6), 7900);
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
    const query = queryOf(request);
    const post = async (hook: unknown) =>
      assert.equal((await postWebhook(api, fake, hook, { query })).statusCode, 200);
    const failedHook = fake.webhook("message.finalized", request.id, request.body, "sending_failed", {
      errors: [{ code: "40008", title: "Undeliverable" }],
    });
    // Telnyx redelivers it: refunded once.
    await post(failedHook);
    await post(failedHook);
    const failed = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(failed.status, "Failed");
    assert.equal(failed.billingStatus, "NotBilled", "as when the failure overtakes the acceptance");
    assert.equal(failed.billableAmount, null);
    // It never left Telnyx: no send time, as when the failure overtakes the acceptance (0900 in the
    // worker-outcomes test), so the record does not depend on the order the two arrived in.
    assert.equal(failed.sentAt, null, "not sent");
    assert.equal(await balance(), before, "the wallet has the charge back");
    // The ledger is append-only: the charge stays, and the refund is a line of its own.
    assert.deepEqual(await charges(sms.id), [
      ["charged", 7900],
      ["refunded_credited", -7900],
    ]);
    // The usage summary agrees with the wallet: the refunded charge is not counted.
    const summary = async () =>
      (await api.call("GET", "/usage/summary/my")).json().customerChargeTotal as number;
    const chargedBefore = await summary();

    // A message.sent that the failure overtook: it did go out, so it is billed, as when it came first.
    await post(fake.webhook("message.sent", request.id, request.body, "sent"));
    await post(failedHook);
    const billed = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(billed.status, "Failed");
    assert.ok(billed.sentAt, "the receipt says when it was sent");
    assert.equal(billed.billingStatus, "Billed");
    assert.equal(billed.billableAmount, 0.0079);
    assert.equal(Math.round((before - (await balance())) * 1e6), 7900, "charged once again, not twice");
    assert.deepEqual(await charges(sms.id), [
      ["charged", 7900],
      ["refunded_credited", -7900],
      ["charged", 7900],
    ]);
    assert.equal(Math.round(((await summary()) - chargedBefore) * 1e6), 7900, "counted again once billed");
  });

  test("an MMS goes with its media_urls", async () => {
    const { conversationId } = await addLead(api, "+12125550206");
    const res = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Photo",
      mediaUrls: ["https://media.example/house.jpg"],
    });
    assert.equal(res.statusCode, 201, res.body);
    const mms = res.json();
    await waitForEvent(api, mms.id, (e) => e.status === "Sent" || isFinal(e));
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(mms.id))!;
    assert.deepEqual(request.body.media_urls, ["https://media.example/house.jpg"]);
  });

  test("an MMS of pictures alone goes without text, which Telnyx takes only as a non-empty string", async () => {
    const { conversationId } = await addLead(api, "+12125550229");
    const res = await api.call("POST", "/sms/send", {
      conversationId,
      mediaUrls: ["https://media.example/plan.png"],
    });
    assert.equal(res.statusCode, 201, res.body);
    const mms = await waitForEvent(api, res.json().id, (e) => e.status === "Sent" || isFinal(e));
    assert.equal(mms.status, "Sent", String(mms.statusReason));
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(String(mms.id)))!;
    assert.equal("text" in request.body, false);
    assert.deepEqual(request.body.media_urls, ["https://media.example/plan.png"]);
  });

  test("an answer that does not say whether Telnyx took it is never resent: Sending, until receipts finish it", async () => {
    // Telnyx takes the message, but its answer never comes (a timeout after the request went out).
    fake.behaviour.set("+12125550207", "accept-hang");
    const { conversationId } = await addLead(api, "+12125550207");
    const sms = (await api.call("POST", "/sms/send", { conversationId, text: "once only" })).json();
    const waiting = await waitForEvent(api, sms.id, (e) => e.errorCode === "Timeout");
    assert.equal(waiting.status, "Sending", "not queued for a retry that could send it twice");
    assert.equal(waiting.retryCount, 0);
    assert.equal(waiting.nextRetryAt, null);
    assert.match(String(waiting.statusReason), /^No clear answer from the provider \(code Timeout\)/);
    assert.equal(fake.requests.filter((r) => r.body.to === "+12125550207").length, 1);
    // Telnyx's receipts name the event in their URL: they finish it, billed once.
    const request = fake.sent.find((r) => r.body.to === "+12125550207")!;
    const query = queryOf(request);
    for (const [type, status] of [
      ["message.sent", "sent"],
      ["message.finalized", "delivered"],
    ] as const) {
      const hook = fake.webhook(type, request.id, request.body, status);
      assert.equal((await postWebhook(api, fake, hook, { query })).statusCode, 200);
    }
    const done = (await api.call("GET", `/events/${sms.id}`)).json();
    assert.equal(done.status, "Delivered");
    assert.equal(done.errorCode, null);
    assert.equal(done.statusReason, null);
    assert.equal(done.billingStatus, "Billed");
    // The receipts told us Telnyx's id, which the send call never did.
    assert.equal(done.providerMessageId, request.id);
    assert.equal(done.telnyxId, request.id);
    assert.equal(fake.requests.filter((r) => r.body.to === "+12125550207").length, 1, "sent once");

    // A gateway's 502 (not Telnyx's error format) says nothing either: left Sending, not resent.
    fake.behaviour.set("+12125550208", "502");
    const { conversationId: c2 } = await addLead(api, "+12125550208");
    const gw = (await api.call("POST", "/sms/send", { conversationId: c2, text: "gateway" })).json();
    const left = await waitForEvent(api, gw.id, (e) => e.errorCode === "502");
    assert.equal(left.status, "Sending");
    assert.equal(fake.requests.filter((r) => r.body.to === "+12125550208").length, 1);
    // Telnyx then says it could not send it: Failed, known not billed, with Telnyx's id.
    const failedHook = fake.webhook(
      "message.finalized",
      "tx-gateway-1",
      { from: String(left.fromPhoneNumber), to: "+12125550208", text: "gateway" },
      "sending_failed",
      { errors: [{ code: "40002", title: "Blocked as spam" }] },
    );
    const gwQuery = queryOf(fake.requests.find((r) => r.body.to === "+12125550208")!);
    assert.equal((await postWebhook(api, fake, failedHook, { query: gwQuery })).statusCode, 200);
    const failed = (await api.call("GET", `/events/${gw.id}`)).json();
    assert.equal(failed.status, "Failed");
    assert.equal(failed.errorCode, "40002");
    assert.equal(failed.billingStatus, "NotBilled");
    assert.equal(failed.telnyxId, "tx-gateway-1");
    assert.equal(failed.providerMessageId, "tx-gateway-1");
  });

  test("a 200 whose JSON body is null says nothing about the message: left Sending, never resent", async () => {
    // Telnyx (or something in front of it) took the message and answered 200 with the body `null`.
    fake.behaviour.set("+12125550210", "accept-null");
    const { conversationId } = await addLead(api, "+12125550210");
    const sms = (await api.call("POST", "/sms/send", { conversationId, text: "null answer" })).json();
    const answered = await waitForEvent(api, sms.id, (e) => e.errorCode !== null || isFinal(e));
    assert.equal(answered.errorCode, "MalformedResponse", JSON.stringify(answered));
    assert.equal(answered.status, "Sending", "not queued for a retry that could send it twice");
    assert.equal(answered.retryCount, 0);
    assert.equal(answered.nextRetryAt, null);
    assert.equal(fake.requests.filter((r) => r.body.to === "+12125550210").length, 1, "sent once");
  });

  /** The suppression entries on `phone`, and what POST /suppressions/check says of it. */
  const suppressionOf = async (phone: string) => {
    const check = await api.call("POST", "/suppressions/check", {
      organizationId: api.org.organizationId,
      phoneNumber: phone,
      channel: "sms",
    });
    assert.equal(check.statusCode, 200, check.body);
    const list = await api.call("POST", "/suppressions/all/my", {
      filters: [{ field: "recipient", value: phone }],
    });
    assert.equal(list.statusCode, 200, list.body);
    return { check: check.json(), entries: list.json().items as Array<Record<string, unknown>> };
  };
  const leadOf = async (id: string) => {
    const res = await api.call("GET", `/leads/${id}`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { metadata: Record<string, unknown>; modifiedAt: string | null };
  };
  /** What a suppressions API opt-out of `phone` at `suppressedAt` shows on the lead (sms-consent.test.ts). */
  const assertOptedOut = (lead: Awaited<ReturnType<typeof leadOf>>, phone: string, suppressedAt: unknown) => {
    assert.equal(lead.metadata.smsConsentStatus, "OptedOut", JSON.stringify(lead.metadata));
    assert.equal(lead.metadata.smsOptedOut, true);
    assert.equal(lead.metadata.smsOptOutAt, suppressedAt);
    assert.equal(lead.metadata.smsConsentPhoneNumber, phone);
    assert.notEqual(lead.modifiedAt, null);
  };
  const sendIn = async (conversationId: string, body: Record<string, unknown>) => {
    const res = await api.call("POST", "/sms/send", { conversationId, ...body });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { id: string };
  };

  test("Telnyx refusing a send because the recipient opted out (40300) suppresses them, once; the next message is Blocked before Telnyx", async () => {
    const phone = "+12125550211";
    fake.behaviour.set(phone, "stop-blocked");
    const { conversationId } = await addLead(api, phone);
    const senderFailures = () => senderFailureCount(api);
    const failuresBefore = await senderFailures();
    // Two messages due at the same moment go out in one round: two refusals, one suppression.
    const at = new Date(Date.now() + 2500).toISOString();
    const first = await sendIn(conversationId, { text: "One", scheduledFor: at });
    const second = await sendIn(conversationId, { text: "Two", scheduledFor: at });
    for (const sms of [first, second]) {
      const failed = await waitForEvent(api, sms.id, isFinal);
      assert.equal(failed.status, "Failed", JSON.stringify(failed));
      assert.equal(failed.errorCode, "40300");
      assert.equal(failed.billingStatus, "NotBilled");
    }
    assert.equal(fake.requests.filter((r) => r.body.to === phone).length, 2);
    assert.equal(await senderFailures(), failuresBefore, "the recipient's STOP is no fault of the sender");
    const { check, entries } = await suppressionOf(phone);
    assert.equal(check.allowed, false);
    assert.equal(check.source, "provider_opt_out");
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.channel, "sms");
    assert.equal(entries[0]!.status, "active");
    assert.match(
      String(entries[0]!.reason),
      /^Refused by telnyx \(code 40300: .*\): the recipient opted out/,
    );
    assert.equal((entries[0]!.audit as unknown[]).length, 1, "the second refusal added nothing");

    const third = await sendIn(conversationId, { text: "Three" });
    const blocked = await waitForEvent(api, third.id, isFinal);
    assert.equal(blocked.status, "Blocked");
    assert.equal(blocked.complianceAction, "Suppressed");
    assert.equal(fake.requests.filter((r) => r.body.to === phone).length, 2, "never reached Telnyx");
  });

  test("a message.finalized whose errors carry 40300 suppresses the recipient, once; other failure codes do not", async () => {
    const phone = "+12125550212";
    const { leadId, conversationId } = await addLead(api, phone);
    const sent: Array<{ id: string }> = [];
    let shown: Awaited<ReturnType<typeof leadOf>> | undefined;
    for (const text of ["One", "Two"]) {
      const sms = await sendIn(conversationId, { text });
      await waitForEvent(api, sms.id, (e) => e.status === "Sent");
      sent.push(sms);
    }
    for (const sms of sent) {
      const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
      const hook = fake.webhook("message.finalized", request.id, request.body, "sending_failed", {
        errors: [{ code: "40300", title: "Blocked due to STOP message" }],
      });
      const query = queryOf(request);
      assert.equal((await postWebhook(api, fake, hook, { query })).statusCode, 200);
      const failed = (await api.call("GET", `/events/${sms.id}`)).json();
      assert.equal(failed.status, "Failed");
      assert.equal(failed.errorCode, "40300");
      if (sms === sent[0]) {
        shown = await leadOf(leadId);
        const suppressedAt = (await suppressionOf(phone)).entries[0]!.suppressedAt;
        assertOptedOut(shown, phone, suppressedAt);
      }
    }
    const { check, entries } = await suppressionOf(phone);
    assert.equal(check.allowed, false);
    assert.equal(check.source, "provider_opt_out");
    assert.equal(entries.length, 1);
    assert.equal((entries[0]!.audit as unknown[]).length, 1, "the second refusal added nothing");
    assert.deepEqual(await leadOf(leadId), shown, "the second refusal changed nothing on the lead");
    const requests = fake.requests.filter((r) => r.body.to === phone).length;
    const next = await sendIn(conversationId, { text: "Three" });
    const blocked = await waitForEvent(api, next.id, isFinal);
    assert.equal(blocked.status, "Blocked");
    assert.equal(blocked.complianceAction, "Suppressed");
    assert.equal(fake.requests.filter((r) => r.body.to === phone).length, requests, "never reached Telnyx");

    // Another recipient whose message Telnyx could not send for another reason: not suppressed.
    const other = "+12125550213";
    const { leadId: otherLeadId, conversationId: c2 } = await addLead(api, other);
    const sms = await sendIn(c2, { text: "Hello" });
    await waitForEvent(api, sms.id, (e) => e.status === "Sent");
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
    const hook = fake.webhook("message.finalized", request.id, request.body, "sending_failed", {
      // Not one of the carrier-block codes either, which would count against the suite's one sender.
      errors: [{ code: "40001", title: "Not routable" }],
    });
    const query = queryOf(request);
    assert.equal((await postWebhook(api, fake, hook, { query })).statusCode, 200);
    assert.equal((await api.call("GET", `/events/${sms.id}`)).json().errorCode, "40001");
    const none = await suppressionOf(other);
    assert.equal(none.check.allowed, true);
    assert.equal(none.entries.length, 0);
    assert.equal((await leadOf(otherLeadId)).modifiedAt, null, "nor writes on their lead");
  });

  test("a 40300 in the send call's answer shows the opt-out on every lead at the phone, as the suppressions API does; a later 40300 receipt changes nothing; a lead at another phone is untouched", async () => {
    const phone = "+12125550214";
    const first = await addLead(api, phone);
    const second = await addLead(api, phone, { firstName: "Pat (repeat delivery)" });
    const other = await addLead(api, "+12125550215");
    const otherBefore = await leadOf(other.leadId);
    // Sent before Telnyx held the block: its refusal comes later, in a webhook.
    const earlier = await sendIn(first.conversationId, { text: "One" });
    await waitForEvent(api, earlier.id, (e) => e.status === "Sent");
    fake.behaviour.set(phone, "stop-blocked");
    const refused = await sendIn(second.conversationId, { text: "Two" });
    assert.equal((await waitForEvent(api, refused.id, isFinal)).errorCode, "40300");
    const { entries } = await suppressionOf(phone);
    assert.equal(entries.length, 1);
    const shown = [await leadOf(first.leadId), await leadOf(second.leadId)];
    for (const lead of shown) assertOptedOut(lead, phone, entries[0]!.suppressedAt);
    assert.deepEqual(await leadOf(other.leadId), otherBefore, "another phone's lead is untouched");

    const request = fake.sent.find((r) => r.body.webhook_url?.includes(earlier.id))!;
    const hook = fake.webhook("message.finalized", request.id, request.body, "sending_failed", {
      errors: [{ code: "40300", title: "Blocked due to STOP message" }],
    });
    const query = queryOf(request);
    assert.equal((await postWebhook(api, fake, hook, { query })).statusCode, 200);
    assert.equal((await api.call("GET", `/events/${earlier.id}`)).json().errorCode, "40300");
    assert.deepEqual([await leadOf(first.leadId), await leadOf(second.leadId)], shown);
    assert.equal(((await suppressionOf(phone)).entries[0]!.audit as unknown[]).length, 1);
  });

  // Lock order (provider-opt-out.ts): a refusal's transaction locks the recipient's leads before any
  // message, as a lead's update does (its lead, then its messages not handed over). Holding a lead
  // as PUT /leads does, a transaction can then still take the lead's messages, the refused one too,
  // while the refusal waits for the lead: the two never wait on each other (a deadlock).
  const onPostgres = engine === "postgresql" ? test : () => {};
  const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString();
  /** Waits until a transaction waits for a lead's row lock (the refusal's lockLeadsAtPhone). */
  const leadLockAwaited = async () => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'
          and query like '%from "leads"%for update%'`.execute(api.db.store.db);
      if (rows[0]!.n > 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.fail("no transaction waited for the lead");
  };
  /** As updateLead: the lead, then (NOWAIT: held by another, it fails at once) its messages. */
  const updateLeadWhile = (leadId: string, refusal: () => void, messageIds: string[]) =>
    api.db.store.db.transaction().execute(async (trx) => {
      await lockLead(trx, api.org.organizationId, leadId);
      refusal();
      await leadLockAwaited();
      const locked = await trx
        .selectFrom("events")
        .select("id")
        .where("id", "in", messageIds)
        .forUpdate()
        .noWait()
        .execute();
      assert.equal(locked.length, messageIds.length);
    });

  onPostgres(
    "a 40300 receipt locks the recipient's leads before its message, as a lead's update does",
    async () => {
      const phone = "+12125550216";
      const { leadId, conversationId } = await addLead(api, phone);
      const sms = await sendIn(conversationId, { text: "One" });
      await waitForEvent(api, sms.id, (e) => e.status === "Sent");
      const later = await sendIn(conversationId, { text: "Later", scheduledFor: tomorrow() });
      const request = fake.sent.find((r) => r.body.webhook_url?.includes(sms.id))!;
      const hook = fake.webhook("message.finalized", request.id, request.body, "sending_failed", {
        errors: [{ code: "40300", title: "Blocked due to STOP message" }],
      });
      const query = queryOf(request);
      let posted: Promise<{ statusCode: number }> | undefined;
      await updateLeadWhile(leadId, () => {
        posted = Promise.resolve(postWebhook(api, fake, hook, { query }));
      }, [sms.id, later.id]);
      assert.equal((await posted!).statusCode, 200);
      assert.equal((await api.call("GET", `/events/${sms.id}`)).json().errorCode, "40300");
      assertOptedOut(await leadOf(leadId), phone, (await suppressionOf(phone)).entries[0]!.suppressedAt);
    },
  );

  onPostgres(
    "a 40300 answer to the send call locks the recipient's leads before its message, as a lead's update does",
    async () => {
      const phone = "+12125550217";
      fake.behaviour.set(phone, "stop-blocked");
      const { leadId, conversationId } = await addLead(api, phone);
      const refused = await sendIn(conversationId, { text: "One", scheduledFor: tomorrow() });
      const later = await sendIn(conversationId, { text: "Later", scheduledFor: tomorrow() });
      await updateLeadWhile(leadId, () => {
        // Due now: the worker sends it and records Telnyx's refusal while the lead is held.
        void api.db.store.db
          .updateTable("events")
          .set({ next_attempt_at: Date.now() })
          .where("id", "=", refused.id)
          .execute()
          .then(() => api.pipeline.poke());
      }, [refused.id, later.id]);
      assert.equal((await waitForEvent(api, refused.id, isFinal)).errorCode, "40300");
      assertOptedOut(await leadOf(leadId), phone, (await suppressionOf(phone)).entries[0]!.suppressedAt);
    },
  );

  test("the sticky sender follows what the person may have received: a message Telnyx refused at the send call does not move it, one it took and then failed does", async () => {
    const known = await addSenderNumber(api, { number: "+14155550181", is_default: 0 });
    const other = await addSenderNumber(api, { number: "+14155550182", is_default: 0 });
    const phone = "+12125550221";
    const { leadId, conversationId } = await addLead(api, phone);
    const send = async (body: Record<string, unknown>) => {
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Checking in.", ...body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; fromPhoneNumberId: string; selectionReason: string };
    };
    const byHand = (n: { id: string }) => ({ fromPhoneNumberId: n.id, wasManuallyOverridden: true });
    const sent = (sms: { id: string }) => waitForEvent(api, sms.id, (e) => e.status === "Sent" || isFinal(e));
    const sticky = async () =>
      (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0]
        .activeOutboundPhoneNumberId as string | null;
    assert.equal((await sent(await send(byHand(known)))).status, "Sent");

    // Refused for good (422), and refused until the retries ran out (429): the person got nothing.
    for (const behaviour of ["422", "429"] as const) {
      fake.behaviour.set(phone, behaviour);
      const refused = await waitForEvent(api, (await send(byHand(other))).id, isFinal);
      assert.equal(refused.status, "Failed", behaviour);
      assert.equal(refused.providerMessageId, null);
      assert.equal(await sticky(), known.id, `back to the number they know after a ${behaviour}`);
      fake.behaviour.set(phone, "accept");
      const next = await send({});
      assert.deepEqual([next.fromPhoneNumberId, next.selectionReason], [known.id, "StickyConversation"]);
      assert.equal((await sent(next)).status, "Sent");
    }

    // Taken by Telnyx, then reported failed: a carrier may still have delivered it, so it sticks.
    const taken = await send(byHand(other));
    assert.equal((await sent(taken)).status, "Sent");
    const request = fake.sent.find((r) => r.body.webhook_url?.includes(taken.id))!;
    const failedHook = fake.webhook("message.finalized", request.id, request.body, "sending_failed", {
      errors: [{ code: "40008", title: "Undeliverable" }],
    });
    const query = `?event=${taken.id}&org=${api.org.organizationId}`;
    assert.equal((await postWebhook(api, fake, failedHook, { query })).statusCode, 200);
    assert.equal((await api.call("GET", `/events/${taken.id}`)).json().status, "Failed");
    const afterTaken = await send({});
    assert.deepEqual(
      [afterTaken.fromPhoneNumberId, afterTaken.selectionReason],
      [other.id, "StickyConversation"],
    );
    assert.equal((await sent(afterTaken)).status, "Sent");

    // Refused because the person opted out at Telnyx (40300, recorded in a transaction of its own).
    fake.behaviour.set(phone, "stop-blocked");
    const optedOut = await waitForEvent(api, (await send(byHand(known))).id, isFinal);
    assert.equal(optedOut.errorCode, "40300");
    assert.equal(await sticky(), other.id, "the refused message does not move it");
    for (const n of [known, other]) {
      await api.db.store.db.updateTable("phone_numbers").set({ enabled: 0 }).where("id", "=", n.id).execute();
    }
  });

  test("a retry waits at least as long as Telnyx's Retry-After asks, and is not spent before then", async () => {
    const phone = "+12125550228";
    fake.behaviour.set(phone, "429");
    fake.answerHeaders.set(phone, { "retry-after": "120" });
    const { conversationId } = await addLead(api, phone);
    const sms = (await api.call("POST", "/sms/send", { conversationId, text: "wait for it" })).json();
    const retrying = await waitForEvent(api, sms.id, (e) => Number(e.retryCount) >= 1 || isFinal(e));
    assert.equal(retrying.status, "Queued");
    assert.equal(retrying.retryCount, 1);
    const refusedAt = fake.requests.find((r) => r.body.to === phone)!.at;
    assert.ok(
      Date.parse(String(retrying.nextRetryAt)) >= refusedAt + 120_000,
      `${retrying.nextRetryAt} is not 120 s after ${new Date(refusedAt).toISOString()}`,
    );
    // Not before it: LEADTRAIL_RETRY_BASE_SECONDS (0.01) alone would have retried at once.
    assert.equal(fake.requests.filter((r) => r.body.to === phone).length, 1);
    // It would otherwise wait two minutes after these tests end.
    assert.equal((await api.call("POST", `/sms/${sms.id}/cancel`, {})).statusCode, 200);
  });

  test("429 and 5xx from Telnyx are retried; a 422 fails the message with Telnyx's code", async () => {
    fake.behaviour.set("+12125550204", "500");
    const { conversationId } = await addLead(api, "+12125550204");
    const sms = (await api.call("POST", "/sms/send", { conversationId, text: "retry me" })).json();
    await waitForEvent(api, sms.id, (e) => Number(e.retryCount) >= 1);
    fake.behaviour.set("+12125550204", "429");
    await waitForEvent(api, sms.id, (e) => Number(e.retryCount) >= 2);
    fake.behaviour.set("+12125550204", "accept");
    const sent = await waitForEvent(api, sms.id, (e) => e.status === "Sent");
    assert.equal(sent.statusReason, null, "the retries' reason is gone once Telnyx accepts it");
    assert.equal(fake.sent.filter((r) => r.body.to === "+12125550204").length, 1, "accepted once");
    fake.behaviour.set("+12125550205", "422");
    const { conversationId: c2 } = await addLead(api, "+12125550205");
    const bad = (await api.call("POST", "/sms/send", { conversationId: c2, text: "bad" })).json();
    const failed = await waitForEvent(api, bad.id, isFinal);
    assert.equal(failed.status, "Failed");
    assert.equal(failed.errorCode, "40310");
    assert.equal(
      failed.statusReason,
      "Rejected by the provider (code 40310): The 'to' address is not a valid phone number.",
    );
    // A refusal for another reason than an opt-out suppresses no one.
    const { check, entries } = await suppressionOf("+12125550205");
    assert.equal(check.allowed, true);
    assert.equal(entries.length, 0);
  });

  test("a refusal that is our account's or settings' (spent funds) keeps the message Queued with Telnyx's code and what to check, and it goes once fixed", async () => {
    const phone = "+12125550241";
    fake.behaviour.set(phone, "insufficient-funds");
    const { conversationId } = await addLead(api, phone);
    const sms = (await api.call("POST", "/sms/send", { conversationId, text: "wait for funds" })).json();
    const broke = await waitForEvent(api, sms.id, (e) => e.errorCode === "20100");
    assert.equal(broke.status, "Queued", JSON.stringify(broke));
    assert.equal(broke.retryCount, 0, "no retry spent");
    assert.match(
      String(broke.statusReason),
      /^The provider refused our account or settings \(code 20100\): You do not have enough funds to perform this action\. Top up the Telnyx account's balance\. Waiting for it to be fixed \(no retry spent\); fails at .+Z if it is not\.$/,
    );
    // The account is topped up; its next probe would come 30 s later (operator-outage.test.ts runs
    // that on a clock of its own): brought forward here.
    fake.behaviour.set(phone, "accept");
    await api.db.store.db.updateTable("provider_breakers").set({ probe_at: 0 }).execute();
    await api.db.store.db
      .updateTable("events")
      .set({ next_attempt_at: Date.now() })
      .where("id", "=", sms.id)
      .execute();
    const sent = await waitForEvent(api, sms.id, (e) => e.status === "Sent");
    assert.equal(sent.statusReason, null);
    assert.equal(fake.sent.filter((r) => r.body.to === phone).length, 1, "accepted once");
  });
});

forEachEngine("Telnyx webhook failover", (engine) => {
  test("with LEADTRAIL_FAILOVER_PUBLIC_URL each message names a failover URL, and receipts Telnyx cannot deliver to the public URL arrive there", async () => {
    const fake = new FakeTelnyx({ autoReceipts: true, receiptDelayMs: 10 });
    const url = await fake.start();
    const port = await freePort();
    // LEADTRAIL_PUBLIC_URL (telnyxEnv's port 9) takes no connections: only the failover reaches us.
    const api = await startTestApi(engine, {
      env: { ...telnyxEnv(fake, url), LEADTRAIL_FAILOVER_PUBLIC_URL: `http://127.0.0.1:${port}/` },
    });
    try {
      await api.app.listen({ port, host: "127.0.0.1" });
      await addSenderNumber(api);
      await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
      api.pipeline.startWorker(
        createProvider(api.pipeline.config, api.pipeline, api.db.store.webhookUrlSecret),
        { pollMs: 10 },
      );
      const { conversationId } = await addLead(api, "+12125550231");
      const sms = (await api.call("POST", "/sms/send", { conversationId, text: "Failover" })).json();
      const request = await until("Telnyx to take it", async () => fake.sent[0]);
      assert.equal(
        request.body.webhook_failover_url,
        `http://127.0.0.1:${port}/webhooks/telnyx${queryOf(request)}`,
        "the same signed query as the webhook_url's",
      );
      assert.ok(request.body.webhook_url?.startsWith("http://127.0.0.1:9/webhooks/telnyx?"));
      const delivered = await waitForEvent(api, sms.id, (e) => e.status === "Delivered" || isFinal(e));
      assert.equal(delivered.status, "Delivered");
    } finally {
      await api.close();
      await fake.stop();
    }
  });
});
