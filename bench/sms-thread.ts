// POST /events/sms/phone/{phoneNumber} (a phone number's SMS thread: the messages sent from it and to
// it) in a 1,000,000-event organization: lead numbers (a few dozen messages each) and the busiest
// business number (most of the organization's messages), each with and without includeCount.
//
//   node --import tsx bench/sms-thread.ts --engine sqlite|postgresql|both [--events 1000000] [--seed] [--duration 10] [--numbers 200]
//     [--connections 10] [--warmup 3] [--no-wait] [--cpu-prof]
//
// The numbers are read from the seeded database directly (as sampleEventIds reads event ids): --numbers
// lead numbers drawn at random among the to_phone_number values with at most LEAD_MAX_MESSAGES
// messages (a lead's thread), and the from_phone_number with the most messages (the business number,
// +14155550100 in bench-seed data). Before the load, the totalCount the route answers for the business
// number and a few lead numbers is checked against a count of the same thread read straight from the
// database. --seed (or --reseed) seeds the database again. --cpu-prof writes a V8 CPU profile of the
// leadtrail server to bench/out/prof/. Before each case the script waits (up to 2 min) for other
// processes to leave the CPUs alone; --no-wait skips that.
// The server is a child process on 127.0.0.1; autocannon runs in this process, each request for a
// number of the case's set drawn at random (setupRequest), after an unmeasured warm-up of the same
// case. Latency percentiles come from every response's own timing (autocannon's 'response' event,
// hrtime-based), since autocannon's histogram only resolves whole milliseconds.

import pg from "pg";
import { machine } from "./common.js";
import {
  checkBuild,
  ensureSeeded,
  gcLine,
  intFlag,
  type LoadMeasurement,
  loadFailed,
  loadLine,
  measureLoad,
  parseFlags,
  type RunningServer,
  startLeadtrail,
  type Target,
  target,
  waitForQuiet,
  writeResult,
} from "./lib.js";

/** A to_phone_number with more messages than this is not a lead's thread. */
const LEAD_MAX_MESSAGES = 1000;
const MESSAGE_TYPES = "activity_type in ('Sms', 'Mms', 'Warmup')";

const flags = parseFlags();
const settings = {
  connections: intFlag(flags.values, "connections", 10),
  duration: intFlag(flags.values, "duration", 10),
  warmup: intFlag(flags.values, "warmup", 3),
  numbers: intFlag(flags.values, "numbers", 200),
};
if (settings.duration > 120 || settings.warmup > 60)
  throw new Error("--duration ≤ 120 s and --warmup ≤ 60 s");
if (settings.numbers > 100_000) throw new Error("--numbers ≤ 100000");
const reseed = flags.reseed || flags.values.get("seed") === "true";
const quiet = flags.values.get("no-wait") !== "true";
const cpuProfile = flags.values.get("cpu-prof") === "true";

// ---------------------------------------------------------------------------------------------
// The seeded data, read straight from the database

/** Runs one read-only query; `$n` placeholders (repeatable) work on both engines. */
async function query<R>(t: Target, text: string, params: unknown[]): Promise<R[]> {
  if (t.engine === "sqlite") {
    const { default: Sqlite } = await import("better-sqlite3");
    const db = new Sqlite(t.env.LEADTRAIL_DB!, { readonly: true, fileMustExist: true });
    try {
      const args: unknown[] = [];
      const positional = text.replace(/\$(\d+)/g, (_, n: string) => {
        args.push(params[Number(n) - 1]);
        return "?";
      });
      return db.prepare(positional).all(...args) as R[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: t.env.DATABASE_URL! });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as R[];
  } finally {
    await client.end();
  }
}

interface NumberCount {
  number: string;
  n: number | string;
}

/** Up to `k` lead numbers (to_phone_number on at most LEAD_MAX_MESSAGES messages), at random. */
async function sampleLeadNumbers(t: Target, organizationId: string, k: number) {
  const rows = await query<NumberCount>(
    t,
    `select to_phone_number as number, count(*) as n from events
     where organization_id = $1 and to_phone_number is not null
     group by to_phone_number having count(*) <= $2 order by random() limit $3`,
    [organizationId, LEAD_MAX_MESSAGES, k],
  );
  return rows.map((r) => ({ number: r.number, toMessages: Number(r.n) }));
}

/** The from_phone_number with the most messages. */
async function busiestSender(t: Target, organizationId: string) {
  const rows = await query<NumberCount>(
    t,
    `select from_phone_number as number, count(*) as n from events
     where organization_id = $1 and from_phone_number is not null
     group by from_phone_number order by count(*) desc limit 1`,
    [organizationId],
  );
  const row = rows[0];
  if (!row) throw new Error(`no messages in organization ${organizationId}`);
  return { number: row.number, fromMessages: Number(row.n) };
}

/** The thread's size as the route should count it: messages from or to the number. */
async function threadSize(t: Target, organizationId: string, number: string): Promise<number> {
  const rows = await query<{ n: number | string }>(
    t,
    `select count(*) as n from events where organization_id = $1 and ${MESSAGE_TYPES}
     and (from_phone_number = $2 or to_phone_number = $2)`,
    [organizationId, number],
  );
  return Number(rows[0]?.n ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Requests

interface ThreadPage {
  items: { fromPhoneNumber: string | null; toPhoneNumber: string | null }[];
  totalCount?: number | null;
}

const pathOf = (number: string) => `/events/sms/phone/${encodeURIComponent(number)}`;

/** One request outside the load: 200, a non-empty page of the number's messages, the right count. */
async function check(server: RunningServer, apiKey: string, number: string, expected: number): Promise<void> {
  const res = await fetch(`${server.url}${pathOf(number)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ includeCount: true }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${pathOf(number)}: ${res.status} ${text.slice(0, 300)}`);
  const page = JSON.parse(text) as ThreadPage;
  if (page.totalCount !== expected)
    throw new Error(`${number}: totalCount ${page.totalCount}, the database counts ${expected}`);
  if (expected > 0 && page.items.length === 0) throw new Error(`${number}: empty page`);
  const stray = page.items.find((i) => i.fromPhoneNumber !== number && i.toPhoneNumber !== number);
  if (stray)
    throw new Error(`${number}: a message of another thread (${JSON.stringify(stray).slice(0, 200)})`);
}

interface Case {
  name: string;
  numbers: string[];
  body: Record<string, unknown>;
}

interface Measured extends LoadMeasurement {
  case: string;
  body: string;
  numbers: number;
}

async function load(server: RunningServer, apiKey: string, c: Case, seconds: number): Promise<Measured> {
  const measured = await measureLoad(server, {
    connections: settings.connections,
    duration: seconds,
    timeout: 10,
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(c.body),
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          path: pathOf(c.numbers[Math.floor(Math.random() * c.numbers.length)]!),
        }),
      },
    ],
  });
  return { case: c.name, body: JSON.stringify(c.body), numbers: c.numbers.length, ...measured };
}

const line = (m: Measured) => loadLine(`${m.case} ${m.body}`, m, 40);

// ---------------------------------------------------------------------------------------------

checkBuild();
const rows: string[] = [
  "| engine | case | body | req/s | p50 ms | p99 ms | non-2xx | server CPU µs/req | CPU % server / autocannon / other |",
  "|---|---|---|---|---|---|---|---|---|",
];
let anyFailed = false;
for (const engine of flags.engines) {
  const t = target(engine, flags.events);
  const seeded = await ensureSeeded(t, reseed);
  const leads = await sampleLeadNumbers(t, seeded.organizationId, settings.numbers);
  if (leads.length === 0) throw new Error(`no lead numbers in organization ${seeded.organizationId}`);
  const business = await busiestSender(t, seeded.organizationId);
  const toCounts = leads.map((l) => l.toMessages).sort((a, b) => a - b);
  const leadToMessages = {
    min: toCounts[0]!,
    median: toCounts[Math.floor(toCounts.length / 2)]!,
    max: toCounts.at(-1)!,
  };
  // The thread sizes the route must answer, counted by the database (an OR over the organization).
  const checked: Record<string, number> = {};
  for (const number of [business.number, ...leads.slice(0, 3).map((l) => l.number)]) {
    checked[number] = await threadSize(t, seeded.organizationId, number);
  }
  console.error(
    `${engine}: ${leads.length} lead numbers (to_phone_number on ${leadToMessages.min}–${leadToMessages.max} ` +
      `messages, median ${leadToMessages.median}); business number ${business.number} ` +
      `(from_phone_number on ${business.fromMessages} messages, thread ${checked[business.number]})`,
  );
  const leadNumbers = leads.map((l) => l.number);
  const cases: Case[] = [
    { name: "lead numbers", numbers: leadNumbers, body: {} },
    { name: "lead numbers", numbers: leadNumbers, body: { includeCount: true } },
    { name: "business number", numbers: [business.number], body: {} },
    { name: "business number", numbers: [business.number], body: { includeCount: true } },
  ];

  const server = await startLeadtrail(t, cpuProfile);
  const measured: Measured[] = [];
  try {
    for (const [number, expected] of Object.entries(checked)) {
      await check(server, seeded.apiKey, number, expected);
    }
    for (const c of cases) {
      await load(server, seeded.apiKey, c, settings.warmup);
      if (quiet) await waitForQuiet();
      const m = await load(server, seeded.apiKey, c, settings.duration);
      console.error(`  ${line(m)}`);
      measured.push(m);
    }
  } finally {
    await server.stop();
  }

  const entry = {
    engine,
    events: flags.events,
    database: t.describe,
    organizationId: seeded.organizationId,
    settings,
    cpuProfile,
    leadNumbers: { count: leads.length, maxMessages: LEAD_MAX_MESSAGES, toMessages: leadToMessages },
    businessNumber: { ...business, threadMessages: checked[business.number] },
    threadSizesChecked: checked,
    cases: measured,
    leadtrailMaxRssMb: server.sampler.maxRssMb,
    leadtrailGc: server.gc(),
    rssSamples: server.sampler.samples,
  };
  const file = writeResult(`sms-thread-${engine}`, {
    date: new Date().toISOString(),
    machine: machine(),
    ...entry,
  });
  console.log(
    `\n[${engine}] POST /events/sms/phone/{number}, ${flags.events} events, ${settings.connections} connections, ` +
      `${settings.duration} s per case after ${settings.warmup} s of warm-up\n` +
      measured.map((m) => `  ${line(m)}\n`).join("") +
      `  leadtrail max RSS ${entry.leadtrailMaxRssMb} MB (${entry.rssSamples} samples)` +
      gcLine(entry.leadtrailGc) +
      `\n  results: ${file}`,
  );
  for (const m of measured) {
    anyFailed ||= loadFailed(m);
    rows.push(
      `| ${engine} | ${m.case} (${m.numbers}) | \`${m.body}\` | ${m.requestsPerSecond} | ${m.latencyMs.p50.toFixed(2)} | ` +
        `${m.latencyMs.p99.toFixed(2)} | ${m.non2xx}${m.errors + m.timeouts > 0 ? ` (+${m.errors} errors, ${m.timeouts} timeouts)` : ""} | ` +
        `${m.serverCpuMicrosPerRequest} | ${m.serverCpuPercent} / ${m.loadGeneratorCpuPercent} / ${m.otherProcessesCpuPercent} |`,
    );
  }
}
console.log(`\n${rows.join("\n")}`);
if (anyFailed) {
  console.error("some responses were not 2xx (or failed): see the table");
  process.exitCode = 1;
}
