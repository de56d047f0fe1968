#!/usr/bin/env node
// Builds the upgrade fixture of test/upgrade.test.ts: a database made by an OLD leadtrail, on both
// engines, as that release's own CLI, HTTP API, worker and providers left it.
//
//   node scripts/make-upgrade-fixture.mjs [--commit e5c891e] [--out test/fixtures/upgrade]
//     [--extra refund,quiet-hours,owed-receipt] [--pg-url postgres://…/test] [--port 41500]
//
// It extracts <commit> into a temporary folder (git archive), links this checkout's node_modules,
// builds it, and for SQLite and then PostgreSQL (a throwaway database created beside --pg-url's and
// dropped at the end): `leadtrail demo`, `org create`, `wallet credit`, then `leadtrail serve` on the
// simulator driven over HTTP (leads, sources, notes, updates, sends to every simulator outcome,
// schedules, a cancel, inbound replies, STOP/START/HELP, suppressions, a warmup number), then
// `serve` on a fake Telnyx (test/helpers/fake-telnyx.ts) that accepts one message without receipts
// (Sent), refuses one with a 500 (Queued for a retry) and never answers a third, whose server is
// killed with SIGKILL while it is Sending. Finally it reads every answer of the old API (in-process,
// no worker) and writes --out (test/fixtures/upgrade/ by default): {sqlite,postgresql}.sql (text dumps),
// {sqlite,postgresql}.api.json (what the old release answered) and keys.json (test keys).
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const COMMIT = arg("--commit", "e5c891e");
const OUT = join(ROOT, arg("--out", join("test", "fixtures", "upgrade")));
/**
 * Scenarios a newer release can make, beside the common ones (--extra, comma-separated; none by
 * default): "refund" (a Telnyx message billed at its acceptance, then failed by a sending_failed
 * receipt, which appends a refund line), "quiet-hours" (a keyed send with a requested scheduledFor
 * that quiet hours hold back: requested and scheduled times differ) and "owed-receipt" (a simulator
 * message left Sent, its receipt owed, when the server is killed).
 */
const EXTRA = new Set(
  arg("--extra", "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const name of EXTRA) {
  if (!["refund", "quiet-hours", "owed-receipt"].includes(name)) throw new Error(`unknown --extra ${name}`);
}
const PG_URL = arg(
  "--pg-url",
  process.env.LEADTRAIL_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
);
const PORT = Number(arg("--port", "41500"));

/** The scheduledFor of the keyed sends named fixture-past-… (test/upgrade.test.ts sends them again). */
const PAST_SCHEDULE = "2020-01-01T00:00:00Z";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cleanEnv(extra) {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "LEADTRAIL_DB", "PORT", "HOST", "NODE_OPTIONS"]) delete env[name];
  return {
    ...env,
    LOG_LEVEL: "warn",
    LEADTRAIL_QUIET_HOURS: "off",
    LEADTRAIL_RETRY_BASE_SECONDS: "120",
    LEADTRAIL_WARMUP_TICK_SECONDS: "1",
    ...extra,
  };
}

/** Spawns a process and resolves once its output matches `ready`. */
function spawnReady(args, env, ready, cwd) {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} did not start:\n${output}`)), 60_000);
    const onData = (chunk) => {
      output += chunk;
      const match = output.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, exited, output: () => output });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited ${code}:\n${output}`));
    });
  });
}

function oldCli(oldDir, args, env) {
  return execFileSync(process.execPath, [join(oldDir, "bin", "leadtrail.js"), ...args], {
    cwd: oldDir,
    env,
    encoding: "utf8",
    timeout: 120_000,
  });
}

async function call(base, key, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Waits until `test` holds for the message (30 s at most). */
async function waitFor(base, key, id, test, what) {
  for (let i = 0; i < 300; i++) {
    const e = await call(base, key, "GET", `/events/${id}`);
    if (test(e)) return e;
    await sleep(100);
  }
  throw new Error(`message ${id} never became ${what}`);
}
/** Not in the worker's hands now: final, Sent, Scheduled, or Queued for a later retry. */
const settled = (e) => e.status !== "Sending" && (e.status !== "Queued" || e.nextRetryAt !== null);

// A few dozen people (fictional 555-01xx numbers), with the fields a real lead form sends.
const STATES = [
  ["CA", "America/Los_Angeles", "415"],
  ["NY", "America/New_York", "212"],
  ["IL", "America/Chicago", "312"],
  ["WA", "America/Los_Angeles", "206"],
  ["TX", "America/Chicago", "512"],
  ["CO", "America/Denver", "303"],
];
const FIRST = [
  "Lucía",
  "Ben",
  "Chloé",
  "Dmitri",
  "Fatima",
  "Gus",
  "Hana",
  "Igor",
  "Jun",
  "Kofi",
  "Lena",
  "Marek",
];
const LAST = [
  "Álvarez",
  "Brown",
  "Dubois",
  "Ivanov",
  "Haddad",
  "O'Neil",
  "Sato",
  "Petrov",
  "Li",
  "Mensah",
  "Berg",
  "Nowak",
];

function leadBody(i) {
  const [state, timeZoneId, area] = STATES[i % STATES.length];
  return {
    contact: {
      firstName: FIRST[i % FIRST.length],
      lastName: LAST[(i * 5) % LAST.length],
      ...(i % 7 === 6
        ? {}
        : { phone: { number: `(${area}) 555-01${String(20 + i).padStart(2, "0")}`, type: "mobile" } }),
      ...(i % 4 === 3 ? {} : { email: `Person.${i}@Example.com` }),
      timeZoneId,
      streetAddress: {
        street: `${100 + i} Main St`,
        city: "Springfield",
        state,
        postalCode: `9${String(1000 + i)}`,
        country: "US",
      },
      dateOfBirth: `19${60 + i}-0${1 + (i % 9)}-1${i % 10}`,
      favouriteColour: i % 2 ? "teal" : "amber",
    },
    metadata: {
      utmSource: ["facebook-ads", "google-search", "tiktok"][i % 3],
      product: ["auto-insurance", "solar", "refinance"][i % 3],
      price: 10 + i * 0.25,
      trustedFormUrl: `https://cert.trustedform.com/fixture${i}`,
      // A date-time with an offset, as this release kept it (migration 0012 rewrites it in UTC).
      ...(i % 4 === 2 ? { trustedFormCheckedAt: `2026-03-0${1 + (i % 8)}T09:00:00-05:00` } : {}),
      ...(i % 5 === 0 ? { sourceMetadata: { adId: `ad-${i}` } } : {}),
    },
    customer: { isHomeowner: i % 2 === 0, creditScore: 600 + i * 7 },
    tagIds: [],
    tagNames: i % 3 === 0 ? ["hot", "fixture"] : ["fixture"],
  };
}

/** Drives the old server on the simulator through its HTTP API. */
async function simulatorPhase(base, key, organizationId) {
  const created = { leads: [], conversations: [], messages: [] };
  // A third sender number, warming up with the demo's two.
  await call(base, key, "POST", "/phone-numbers", {
    number: "+13035550188",
    name: "Denver warmup line",
    routing: { tenDlcCampaignId: "CFIXT01" },
    warmup: { enabled: true },
  });
  // A source with a price and rules, and a lead it delivers with its own key.
  const source = await call(base, key, "POST", "/sources", {
    name: "Solar Leads Inc",
    costPerLead: 2.25,
    allowedStates: ["CA", "NY", "IL", "WA", "TX", "CO"],
    defaultTagNames: ["vendor"],
  });
  for (let i = 0; i < 24; i++) {
    const lead = await call(base, i % 6 === 5 ? source.apiKey : key, "POST", "/leads", leadBody(i));
    created.leads.push(lead.id);
    const conv = await call(base, key, "POST", `/conversations/lead/${lead.id}`, {});
    const conversationId = conv.items[0]?.id ?? null; // none for a lead without a phone
    created.conversations.push(conversationId);
    if (i % 3 === 0 && conversationId) {
      await call(base, key, "POST", `/events/conversations/${conversationId}/notes`, {
        text: `Note ${i}: prefers ${i % 2 ? "texts" : "calls"} — “quoted” at $${40 + i}`,
      });
    }
    if (i % 4 === 1) {
      const body = leadBody(i);
      await call(base, key, "PUT", `/leads/${lead.id}`, {
        ...body,
        contact: { ...body.contact, lastName: `${body.contact.lastName}-Updated` },
        metadata: { ...body.metadata, price: 30 },
        tagNames: ["qualified"],
      });
    }
  }
  // Messages to leads with phones: the simulator's outcome is the recipient's last four digits.
  const withPhone = created.leads
    .map((id, i) => ({ id, i, conversationId: created.conversations[i] }))
    .filter(({ i }) => i % 7 !== 6);
  for (const { conversationId, i } of withPhone.slice(0, 10)) {
    const sms = await call(base, key, "POST", "/sms/send", {
      conversationId,
      text: `Hi, this is Acme about your quote #${i}. Reply here with questions.`,
      outboundIdempotencyKey: `fixture-${i}`,
    });
    created.messages.push(sms.id);
  }
  // A keyed send asking for a time already past: it goes at once and this release kept no schedule
  // (migration 0016 marks its asked-for time unknown, so the same body sent again is the same send).
  const past = await call(base, key, "POST", "/sms/send", {
    conversationId: withPhone[10].conversationId,
    text: "Following up on your quote",
    scheduledFor: PAST_SCHEDULE,
    outboundIdempotencyKey: "fixture-past-10",
  });
  created.messages.push(past.id);
  // Outcome numbers of the simulator, each a lead of its own.
  for (const [n, last4] of [
    [0, "0400"],
    [1, "0600"],
    [2, "0700"],
    [3, "0800"],
    [4, "0900"],
    [5, "0500"],
  ]) {
    const lead = await call(base, key, "POST", "/leads", {
      contact: { firstName: `Outcome${last4}`, phone: { number: `+1720555${last4}` } },
    });
    const conv = await call(base, key, "POST", `/conversations/lead/${lead.id}`, {});
    const sms = await call(base, key, "POST", "/sms/send", {
      conversationId: conv.items[0].id,
      text: `Outcome ${n}`,
    });
    created.messages.push(sms.id);
  }
  // Scheduled: soon (due by the time the fixture is loaded), far ahead, and one canceled.
  const soon = new Date(Date.now() + 3 * 60_000).toISOString();
  for (const [k, when] of [
    [0, soon],
    [1, soon],
    // Far ahead, but within the 366 days newer releases accept.
    [2, `${new Date(Date.now() + 300 * 86_400_000).toISOString().slice(0, 10)}T15:00:00Z`],
  ]) {
    const sms = await call(base, key, "POST", "/sms/send", {
      conversationId: withPhone[k].conversationId,
      text: `Scheduled reminder ${k}`,
      scheduledFor: when,
    });
    created.messages.push(sms.id);
    if (k === 1) await call(base, key, "POST", `/sms/${sms.id}/cancel`, {});
  }
  // Inbound: a reply, an unknown sender, HELP, STOP then START, and a STOP that stays.
  const ours = "+13035550188";
  const phoneOf = async (i) =>
    (await call(base, key, "GET", `/leads/${withPhone[i].id}`)).contact.phone.number;
  const p0 = await phoneOf(0);
  const p1 = await phoneOf(1);
  const p2 = await phoneOf(2);
  const inbound = async (from, text) =>
    call(base, key, "POST", "/simulator/inbound", { from, to: ours, text });
  await inbound(p0, "Yes, tomorrow at 10 works 👍");
  await inbound("+16175550155", "Who is this? Got your number from a flyer");
  await inbound(p1, "HELP");
  await inbound(p1, "STOP");
  await inbound(p1, "START");
  await inbound(p2, "Stop.");
  // Blocked: a send to the opted-out lead.
  const blocked = await call(base, key, "POST", "/sms/send", {
    conversationId: withPhone[2].conversationId,
    text: "Last chance for your quote!",
  });
  created.messages.push(blocked.id);
  // Suppressions by API: a phone, an email (voice and all channels), one released.
  await call(base, key, "POST", "/suppressions", {
    organizationId,
    phoneNumber: "+13125550111",
    reason: "Asked by phone",
  });
  await call(base, key, "POST", "/suppressions", {
    organizationId,
    email: "person.0@example.com",
    channel: "email",
    reason: "Bounced",
  });
  await call(base, key, "POST", "/suppressions", {
    organizationId,
    phoneNumber: "+15125550112",
    channel: "all",
    recipientIdentifier: "crm-112",
  });
  await call(base, key, "POST", "/suppressions", {
    organizationId,
    phoneNumber: "+12065550113",
    channel: "voice",
  });
  await call(base, key, "POST", "/suppressions/release", {
    organizationId,
    phoneNumber: "+13125550111",
    reason: "Opted back in",
  });
  for (const id of created.messages) await waitFor(base, key, id, settled, "settled");
  await sleep(2500); // a few warmup ticks
  return created;
}

/** The old server on a fake Telnyx: Sent (no receipts), Queued (a 500, retried later), Sending (killed). */
async function telnyxPhase(oldDir, env, key, leads) {
  const fake = await spawnReady(
    [
      "--import",
      "tsx",
      join(ROOT, "test", "helpers", "fake-telnyx.ts"),
      "--port",
      String(PORT + 1),
      "--no-auto-receipts",
    ],
    { ...process.env, NODE_OPTIONS: "" },
    /\{.*"publicKey".*\}/,
    ROOT,
  );
  const info = JSON.parse(fake.match[0]);
  const server = await spawnReady(
    [join(oldDir, "bin", "leadtrail.js"), "serve"],
    {
      ...env,
      PORT: String(PORT),
      HOST: "127.0.0.1",
      LEADTRAIL_PROVIDER: "telnyx",
      TELNYX_API_KEY: "KEYfixture",
      TELNYX_PUBLIC_KEY: info.publicKey,
      TELNYX_API_BASE_URL: `${info.url}/v2`,
      // Receipts come back only when the fake is told to send one (the refund scenario).
      LEADTRAIL_PUBLIC_URL: EXTRA.has("refund") ? `http://127.0.0.1:${PORT}` : "http://127.0.0.1:9",
      LEADTRAIL_WARMUP_TICK_SECONDS: "0",
    },
    /listening on (http:\/\/\S+) /,
    oldDir,
  );
  const base = server.match[1];
  try {
    const send = async (leadId, text) => {
      const conv = await call(base, key, "POST", `/conversations/lead/${leadId}`, {});
      return call(base, key, "POST", "/sms/send", { conversationId: conv.items[0].id, text });
    };
    const phoneOf = async (leadId) => (await call(base, key, "GET", `/leads/${leadId}`)).contact.phone.number;
    const behave = (to, behaviour) =>
      fetch(`${info.url}/__behaviour`, { method: "POST", body: JSON.stringify({ to, behaviour }) });
    const sent = await send(leads[3], "Sent through Telnyx, no receipt yet");
    await waitFor(base, key, sent.id, (e) => e.status === "Sent", "Sent");
    await behave(await phoneOf(leads[4]), "500");
    const queued = await send(leads[4], "Telnyx answered 500: retried later");
    await waitFor(
      base,
      key,
      queued.id,
      (e) => e.status === "Queued" && e.nextRetryAt !== null,
      "Queued for a retry",
    );
    if (EXTRA.has("refund")) {
      // Billed when Telnyx took it, then Telnyx could not send it: a refund line is appended.
      const refunded = await send(leads[7], "Taken by Telnyx, then it could not send it");
      await waitFor(base, key, refunded.id, (e) => e.status === "Sent", "Sent");
      const { providerMessageId } = await call(base, key, "GET", `/events/${refunded.id}`);
      const told = await fetch(`${info.url}/__finalized`, {
        method: "POST",
        body: JSON.stringify({ id: providerMessageId, status: "sending_failed" }),
      });
      if (!told.ok) throw new Error(`__finalized → ${told.status} ${await told.text()}`);
      await waitFor(base, key, refunded.id, (e) => e.status === "Failed", "Failed");
      const usage = await call(base, key, "POST", "/usage/all/my", { pageSize: 200 });
      if (!usage.items.some((u) => u.eventId === refunded.id && u.customerChargeAmount < 0))
        throw new Error(`no refund line for ${refunded.id}: ${JSON.stringify(usage.items)}`);
    }
    await behave(await phoneOf(leads[5]), "hang");
    const sending = await send(leads[5], "Telnyx never answers this one");
    await waitFor(base, key, sending.id, (e) => e.status === "Sending", "Sending");
    await sleep(200);
  } finally {
    server.child.kill("SIGKILL");
    await server.exited;
    fake.child.kill("SIGTERM");
    await fake.exited;
  }
}

/** Zones a whole hour apart, one of which is in the small hours (or at midday) at any moment. */
const ZONES = [
  "Pacific/Honolulu",
  "America/Anchorage",
  "America/Los_Angeles",
  "America/Denver",
  "America/Chicago",
  "America/New_York",
  "America/Halifax",
  "America/Sao_Paulo",
  "Atlantic/South_Georgia",
  "Atlantic/Azores",
  "UTC",
  "Africa/Lagos",
  "Africa/Cairo",
  "Europe/Moscow",
  "Asia/Dubai",
  "Asia/Karachi",
  "Asia/Dhaka",
  "Asia/Bangkok",
  "Asia/Shanghai",
  "Asia/Tokyo",
  "Australia/Brisbane",
  "Pacific/Noumea",
  "Pacific/Tarawa",
  "Pacific/Tongatapu",
];
function zoneAt(hours) {
  const hourIn = (zone) =>
    Number(
      new Intl.DateTimeFormat("en-US", { timeZone: zone, hour: "numeric", hourCycle: "h23" }).format(
        new Date(),
      ),
    );
  const zone = ZONES.find((z) => hours.includes(hourIn(z)));
  if (!zone) throw new Error(`no zone at ${hours}`);
  return zone;
}

/**
 * The old server on the simulator with quiet hours on (21:00-08:00) and receipts a day late: a keyed
 * send asking for a time a few seconds ahead, to a lead where it is night, is held back by quiet
 * hours (scheduled for the morning, its asked-for time kept apart); a send to a lead where it is day
 * is Sent, and the server is killed with its receipt owed.
 */
async function nightPhase(oldDir, env, key) {
  const server = await spawnReady(
    [join(oldDir, "bin", "leadtrail.js"), "serve"],
    {
      ...env,
      PORT: String(PORT),
      HOST: "127.0.0.1",
      LEADTRAIL_QUIET_HOURS: "21:00-08:00",
      LEADTRAIL_SIMULATOR_RECEIPT_SECONDS: "86400",
      LEADTRAIL_WARMUP_TICK_SECONDS: "0",
    },
    /listening on (http:\/\/\S+) /,
    oldDir,
  );
  const base = server.match[1];
  const conversationOf = async (firstName, number, timeZoneId) => {
    const lead = await call(base, key, "POST", "/leads", {
      contact: { firstName, phone: { number }, timeZoneId },
    });
    return (await call(base, key, "POST", `/conversations/lead/${lead.id}`, {})).items[0].id;
  };
  try {
    if (EXTRA.has("quiet-hours")) {
      const conversationId = await conversationOf("Night", "+17205550151", zoneAt([1, 2, 3, 4, 5]));
      // Whole seconds, so that the test asks for the very same time again.
      const scheduledFor = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000).toISOString();
      const quiet = await call(base, key, "POST", "/sms/send", {
        conversationId,
        text: "Your quote is ready",
        scheduledFor,
        outboundIdempotencyKey: "fixture-quiet-1",
      });
      await waitFor(
        base,
        key,
        quiet.id,
        (e) => e.status === "Scheduled" && Date.parse(e.scheduledFor) > Date.parse(scheduledFor) + 60_000,
        "held back by quiet hours",
      );
    }
    if (EXTRA.has("owed-receipt")) {
      const conversationId = await conversationOf("Owed", "+17205550152", zoneAt([11, 12, 13, 14]));
      const owed = await call(base, key, "POST", "/sms/send", {
        conversationId,
        text: "Sent, its receipt still owed",
      });
      await waitFor(base, key, owed.id, (e) => e.status === "Sent", "Sent");
    }
  } finally {
    server.child.kill("SIGKILL");
    await server.exited;
  }
}

/** Every answer of the old API for `key`'s organization, read in-process with no worker running. */
async function readOldApi(oldDir, options, key, conversationsOnly = false) {
  const load = (p) => import(pathToFileURL(join(oldDir, "dist", p)).href);
  const { Store } = await load("store/store.js");
  const { buildApp } = await load("http/app.js");
  const { Messaging } = await load("messaging/messaging.js");
  const { loadMessagingConfig } = await load("config.js");
  const store = await Store.open(options);
  const messaging = loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off" });
  const pipeline = new Messaging(store.db, store.engine, messaging);
  const app = await buildApp({ store, rateLimitPerMinute: 1_000_000, messaging, pipeline });
  const ask = async (method, url, body) => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { payload: JSON.stringify(body) } : {}),
    });
    if (res.statusCode !== 200) throw new Error(`${method} ${url} → ${res.statusCode} ${res.body}`);
    return res.json();
  };
  const all = async (url, body = {}) => {
    const items = [];
    let continuationToken = null;
    do {
      const page = await ask("POST", url, { ...body, pageSize: 200, continuationToken });
      items.push(...page.items);
      continuationToken = page.continuationToken ?? null;
    } while (continuationToken);
    return items;
  };
  try {
    if (conversationsOnly) return await all("/conversations/my");
    const events = await all("/events/all/my", { orderBy: [{ field: "createdAt", direction: "asc" }] });
    const answers = {
      events: {},
      eventDetails: {},
      sms: {},
      leads: {},
      leadList: await all("/leads/all/my"),
      conversations: await all("/conversations/my"),
      suppressions: await all("/suppressions/all/my"),
      phoneNumbers: await all("/phone-numbers/all/organization"),
      warmup: {},
      sources: await all("/sources/all/my"),
      usage: await all("/usage/all/my"),
      usageSummary: await ask(
        "GET",
        "/usage/summary/my?periodStart=2000-01-01T00:00:00Z&periodEnd=2100-01-01T00:00:00Z",
      ),
      wallet: await ask("GET", "/wallets/me"),
      eventIds: events.map((e) => e.id),
    };
    for (const e of events) {
      answers.events[e.id] = await ask("GET", `/events/${e.id}`);
      if (e.activityType === "Sms" || e.eventType?.startsWith("Sms")) {
        answers.eventDetails[e.id] = await ask("GET", `/events/detail/${e.id}`);
        answers.sms[e.id] = await ask("GET", `/events/sms/${e.id}`);
      }
    }
    answers.smsList = await all("/events/sms/all/my");
    answers.leadEvents = {};
    for (const lead of answers.leadList) {
      answers.leads[lead.id] = await ask("GET", `/leads/${lead.id}`);
      answers.leadEvents[lead.id] = (await all(`/events/leads/${lead.id}`)).map((e) => e.id);
    }
    answers.conversationEvents = {};
    for (const c of answers.conversations) {
      answers.conversationEvents[c.id] = (await all(`/events/conversations/${c.id}`)).map((e) => e.id);
    }
    for (const n of answers.phoneNumbers)
      answers.warmup[n.id] = await ask("GET", `/phone-numbers/${n.id}/warmup`);
    return answers;
  } finally {
    await app.close();
    await store.close();
  }
}

async function makeEngine(oldDir, engine, work) {
  let dbEnv;
  let options;
  let pgName;
  if (engine === "sqlite") {
    const file = join(work, "fixture.db");
    dbEnv = { LEADTRAIL_DB: file };
    options = { sqlitePath: file };
  } else {
    pgName = `lt_upgrade_fixture_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`create database ${pgName}`);
    await admin.end();
    const url = new URL(PG_URL);
    url.pathname = `/${pgName}`;
    dbEnv = { DATABASE_URL: url.href };
    options = { databaseUrl: url.href, sqlitePath: "" };
  }
  try {
    const env = cleanEnv(dbEnv);
    const demo = oldCli(oldDir, ["demo"], env);
    const demoOrg = demo.match(/organizationId: (\S+)/)[1];
    const demoKey = demo.match(/API key: +(sk_\S+)/)[1];
    const other = JSON.parse(
      oldCli(oldDir, ["org", "create", "--name", "Second Org", "--json", "--credit", "0.005"], env)
        .trim()
        .split("\n")
        .pop(),
    );
    oldCli(oldDir, ["wallet", "credit", "--org", demoOrg, "--amount", "2.5"], env);
    const agent = JSON.parse(
      oldCli(
        oldDir,
        ["user", "add", "--org", demoOrg, "--name", "Agent Two", "--email", "agent2@example.com", "--json"],
        env,
      )
        .trim()
        .split("\n")
        .pop(),
    );

    const server = await spawnReady(
      [join(oldDir, "bin", "leadtrail.js"), "serve"],
      { ...env, PORT: String(PORT), HOST: "127.0.0.1" },
      /listening on (http:\/\/\S+) /,
      oldDir,
    );
    let created;
    try {
      created = await simulatorPhase(server.match[1], demoKey, demoOrg);
      // The second user's note, in their name.
      const firstConversation = created.conversations.find((c) => c !== null);
      await call(server.match[1], agent.apiKey, "POST", `/events/conversations/${firstConversation}/notes`, {
        text: "Agent Two called back; left a voicemail.",
      });
      // The second organization: a lead, a note, a number and a message.
      const lead = await call(server.match[1], other.apiKey, "POST", "/leads", {
        contact: { firstName: "Other", lastName: "Tenant", phone: { number: "+14155550149" } },
      });
      const conv = await call(server.match[1], other.apiKey, "POST", `/conversations/lead/${lead.id}`, {});
      await call(server.match[1], other.apiKey, "POST", `/events/conversations/${conv.items[0].id}/notes`, {
        text: "Second org note",
      });
      // Its credit (half a cent) does not cover a segment: the message is blocked for billing.
      await call(server.match[1], other.apiKey, "POST", "/phone-numbers", {
        number: "+14155550177",
        name: "Second org line",
        routing: { tenDlcCampaignId: "CFIXT02" },
      });
      const poor = await call(server.match[1], other.apiKey, "POST", "/sms/send", {
        conversationId: conv.items[0].id,
        text: "Not enough credit for this one",
      });
      await waitFor(server.match[1], other.apiKey, poor.id, settled, "settled");
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    await telnyxPhase(oldDir, env, demoKey, created.leads);
    if (EXTRA.has("quiet-hours") || EXTRA.has("owed-receipt")) await nightPhase(oldDir, env, demoKey);

    // Dumped before the old API is read: reading a timeline page marks its messages read.
    let dump;
    if (engine === "sqlite") {
      dump = execFileSync("sqlite3", [options.sqlitePath, ".dump"], {
        encoding: "utf8",
        maxBuffer: 64 << 20,
      });
    } else {
      const raw = execFileSync(
        "pg_dump",
        [
          "--no-owner",
          "--no-privileges",
          "--no-comments",
          "--inserts",
          "--schema=public",
          options.databaseUrl,
        ],
        { encoding: "utf8", maxBuffer: 64 << 20 },
      );
      dump = pgDumpForAnySchema(raw);
    }
    const api = {
      [demoOrg]: {
        ...(await readOldApi(oldDir, options, demoKey)),
        agentConversations: await readOldApi(oldDir, options, agent.apiKey, true),
      },
      [other.organizationId]: await readOldApi(oldDir, options, other.apiKey),
    };
    return {
      dump,
      api,
      keys: {
        [demoOrg]: { name: "Demo Insurance Co", apiKey: demoKey, agentKey: agent.apiKey },
        [other.organizationId]: { name: "Second Org", apiKey: other.apiKey },
      },
    };
  } finally {
    if (pgName) {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`drop database if exists ${pgName} with (force)`);
      await admin.end();
    }
  }
}

/**
 * pg_dump's plain SQL, made loadable through node-postgres into whatever schema is first on the
 * search_path: no psql meta-commands (\restrict), no session SETs, no "public." qualifiers.
 */
function pgDumpForAnySchema(raw) {
  const lines = [];
  for (const line of raw.split("\n")) {
    if (line.startsWith("\\") || line.startsWith("--") || line.startsWith("SET ")) continue;
    if (line.startsWith("SELECT pg_catalog.set_config") || line === "CREATE SCHEMA public;") continue;
    lines.push(
      line.replace(
        /^(CREATE TABLE|ALTER TABLE ONLY|ALTER TABLE|INSERT INTO|CREATE (?:UNIQUE )?INDEX \S+ ON(?: ONLY)?) public\./,
        "$1 ",
      ),
    );
  }
  return `${lines
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim()}\n`;
}

/** The old release's last migration file (src/store/migration-NNNN-name.ts). */
function lastMigration(oldDir) {
  const names = readdirSync(join(oldDir, "src", "store")).filter((n) => /^migration-\d{4}-/.test(n));
  return (
    names
      .sort()
      .at(-1)
      ?.replace(/^migration-|\.ts$/g, "") ?? "0001 (initial)"
  );
}

/** Per organization: events by status (or type), leads, and the wallet, as the old API answered. */
function summarize(api) {
  return Object.fromEntries(
    Object.entries(api).map(([org, a]) => {
      const byStatus = {};
      for (const e of Object.values(a.events)) {
        const k = e.status ?? e.activityType;
        byStatus[k] = (byStatus[k] ?? 0) + 1;
      }
      return [
        org,
        {
          events: a.eventIds.length,
          byStatus,
          leads: a.leadList.length,
          suppressions: a.suppressions.length,
          usageLines: a.usage.length,
          balance: a.wallet.balance,
        },
      ];
    }),
  );
}

function readme(commit, lastMigration, keys, summaries) {
  const lines = [
    "# Upgrade fixture",
    "",
    "Databases made by an old leadtrail, which `test/upgrade.test.ts` migrates with today's",
    "`leadtrail migrate` and then reads through the API. Generated, do not edit by hand:",
    "",
    "```sh",
    `node scripts/make-upgrade-fixture.mjs --commit ${commit.slice(0, 7)}` +
      (OUT === join(ROOT, "test", "fixtures", "upgrade") ? "" : ` --out ${relative(ROOT, OUT)}`) +
      (EXTRA.size ? ` --extra ${[...EXTRA].join(",")}` : ""),
    "```",
    "",
    `- Commit: \`${commit}\` (its last migration: ${lastMigration}).`,
    "- `sqlite.sql`: `sqlite3 FILE .dump` of its SQLite database; `postgresql.sql`: `pg_dump --inserts` of",
    "  its PostgreSQL database's public schema, without psql commands, SETs or `public.` qualifiers.",
    "- `*.api.json`: what that release's API answered for every event, lead, conversation, suppression,",
    "  number, warmup, source, usage line, usage summary and wallet, per organization.",
    "- `keys.json`: the organizations' API keys (test credentials of these files only).",
    "",
    "The old release made everything itself: `leadtrail demo`, `org create`, `user add`, `wallet credit`,",
    "then `leadtrail serve` on the simulator driven over HTTP, then `serve` on a fake Telnyx (Sent with",
    "no receipt, Queued after a 500, and Sending when the server was killed).",
    ...(EXTRA.has("refund")
      ? [
          "",
          "Refund: a Telnyx message billed when Telnyx took it, then failed by a `sending_failed` receipt",
          "(its charge line and a refund line, the charge negated).",
        ]
      : []),
    ...(EXTRA.has("quiet-hours") || EXTRA.has("owed-receipt")
      ? [
          "",
          "Then `serve` on the simulator with quiet hours on (21:00-08:00) and receipts a day late:",
          ...(EXTRA.has("quiet-hours")
            ? [
                "- `fixture-quiet-1`: a keyed send asking for a time a few seconds ahead, to a lead where it was",
                "  night, held back by quiet hours (scheduled for the morning, its asked-for time kept apart);",
              ]
            : []),
          ...(EXTRA.has("owed-receipt")
            ? ["- a message Sent to a lead where it was day, its receipt owed when the server was killed."]
            : []),
        ]
      : []),
    "",
  ];
  for (const [engine, orgs] of Object.entries(summaries)) {
    lines.push(`## ${engine}`, "");
    for (const [org, s] of Object.entries(orgs)) {
      lines.push(
        `- ${org} (${keys[engine][org].name}, key \`${keys[engine][org].apiKey}\`): ${s.events} events,` +
          ` ${s.leads} leads, ${s.suppressions} suppressions, ${s.usageLines} usage lines, balance ${s.balance} USD;` +
          ` by status: ${Object.entries(s.byStatus)
            .sort()
            .map(([k, n]) => `${k} ${n}`)
            .join(", ")}`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "leadtrail-upgrade-"));
  const oldDir = join(work, "old");
  mkdirSync(oldDir);
  try {
    const full = execFileSync("git", ["rev-parse", COMMIT], { cwd: ROOT, encoding: "utf8" }).trim();
    execFileSync("sh", ["-c", `git archive ${full} | tar -x -C '${oldDir}'`], { cwd: ROOT });
    symlinkSync(join(ROOT, "node_modules"), join(oldDir, "node_modules"));
    execFileSync("npm", ["run", "build"], { cwd: oldDir, stdio: "inherit" });
    mkdirSync(OUT, { recursive: true });
    const keys = {};
    const summaries = {};
    for (const engine of ["sqlite", "postgresql"]) {
      const made = await makeEngine(oldDir, engine, work);
      writeFileSync(join(OUT, `${engine}.sql`), made.dump);
      writeFileSync(join(OUT, `${engine}.api.json`), `${JSON.stringify(made.api)}\n`);
      keys[engine] = made.keys;
      summaries[engine] = summarize(made.api);
      console.log(`${engine}: ${made.dump.length} bytes of SQL`);
    }
    writeFileSync(
      join(OUT, "keys.json"),
      `${JSON.stringify({ commit: full, extra: [...EXTRA], ...keys }, null, 2)}\n`,
    );
    writeFileSync(join(OUT, "README.md"), readme(full, lastMigration(oldDir), keys, summaries));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
