// POST /leads with a lead source's key (Authorization: Bearer lp_src_…): accepted leads per second.
// Every request of the "new" mode is a new lead (its own metadata.sellerLeadId and phone number);
// each one accepted writes the lead, its conversation, a LeadCreated event, its tags, a usage line
// and the wallet debit in one transaction. The "repeats" mode sends again, at random, one of
// --repeat-ids leads the source delivered before: each answers 201 with the earlier lead and writes
// nothing.
//
//   node --import tsx bench/lead-intake.ts [--engine sqlite|postgresql|both] [--duration 10]
//     [--connections 10] [--warmup 3] [--mode new|repeats|both] [--repeat-ids 100]
//     [--cost-per-lead 1.5] [--keep] [--no-wait] [--cpu-prof]
//
// Each engine gets a fresh database: bench/lib.ts's target(engine, 0), i.e. bench/out/leadtrail-bench-0.db
// or the PostgreSQL database leadtrail_bench_0 (no seeded events: a name the seeded benchmarks, whose
// --events is at least 1, never use), recreated at the start and dropped at the end unless --keep.
// In it: a new organization (`leadtrail org create --json`, with a large LEADTRAIL_STARTING_CREDIT) and
// one source (POST /sources, --cost-per-lead USD, default tag "vendor"). The server is a child process
// on 127.0.0.1 (bench/lib.ts startLeadtrail, rate limit out of the way); autocannon runs in this process.
// Phone numbers: +1 <10 area codes> 555 0000–9999, every one checked beforehand with the server's own
// toE164; the first --repeat-ids leads are posted one at a time and must each answer 201 before any
// load is applied.
//
// Only 201s count. Any other status, connection error, timeout or a 201 naming another lead fails the
// run (after the summary). Requests still in flight when autocannon stops are posted again afterwards
// (intake is idempotent per sellerLeadId), so that the sanity checks are exact: after each measured
// phase the organization has one more lead, LeadCreated event and usage line per sellerLeadId sent,
// and its wallet (GET /wallets/me) went down by exactly that many × the cost per lead; after the
// repeats phase, nothing changed at all. Results: bench/out/results/lead-intake-<engines>.json.

import { rmSync } from "node:fs";
import autocannon, { type AutocannonRequest, type AutocannonResult } from "autocannon";
import pg from "pg";
import { toE164 } from "../src/domain/phone.js";
import { type Engine, machine, sleep } from "./common.js";
import {
  checkBuild,
  gcLine,
  intFlag,
  type LatencySummary,
  parseFlags,
  type RunningServer,
  startLeadtrail,
  summarize,
  type Target,
  target,
  waitForQuiet,
  withCpuAccounting,
  writeResult,
} from "./lib.js";
import { Api, createOrganization } from "./sms-lib.js";

type Mode = "new" | "repeats";

const flags = parseFlags();
const settings = {
  duration: intFlag(flags.values, "duration", 10),
  connections: intFlag(flags.values, "connections", 10),
  warmup: intFlag(flags.values, "warmup", 3),
  repeatIds: intFlag(flags.values, "repeat-ids", 100),
  costPerLead: Number(flags.values.get("cost-per-lead") ?? 1.5),
};
const modeFlag = flags.values.get("mode") ?? "new";
if (modeFlag !== "new" && modeFlag !== "repeats" && modeFlag !== "both")
  throw new Error("--mode must be new, repeats or both");
const modes: Mode[] = modeFlag === "both" ? ["new", "repeats"] : [modeFlag];
if (settings.duration > 120 || settings.warmup > 60)
  throw new Error("--duration ≤ 120 s and --warmup ≤ 60 s");
if (!(settings.costPerLead > 0 && settings.costPerLead <= 1000))
  throw new Error("--cost-per-lead must be a positive number of USD (≤ 1000)");
const quiet = flags.values.get("no-wait") !== "true";
const keep = flags.values.get("keep") === "true";
const cpuProfile = flags.values.get("cpu-prof") === "true";
const costMicros = Math.round(settings.costPerLead * 1_000_000);
/** USD; the wallet may go below zero (a source's lead is never refused for want of credit), but need not. */
const STARTING_CREDIT = 10_000_000;

// ---------------------------------------------------------------------------------------------
// Leads: distinct valid US numbers and sellerLeadIds

const AREA_CODES = ["415", "212", "312", "213", "617", "305", "646", "773", "202", "206"];
const PHONES = AREA_CODES.length * 10_000;

/** The i-th phone number: area codes in turn (the first leads cover all of them), then 555-0000 … 555-9999. */
function phone(i: number): string {
  const subscriber = Math.floor(i / AREA_CODES.length) % 10_000;
  return `+1${AREA_CODES[i % AREA_CODES.length]}555${String(subscriber).padStart(4, "0")}`;
}

const sellerLeadId = (i: number) => `bench-${i}`;

function leadBody(i: number): string {
  return JSON.stringify({
    contact: {
      firstName: "Ann",
      lastName: `Lee ${i}`,
      phone: { number: phone(i) },
      email: `ann.${i}@example.com`,
      streetAddress: { state: "CA" },
    },
    metadata: { sellerLeadId: sellerLeadId(i), product: "Auto" },
  });
}

/** What a 201's body says (LeadResponse): the lead and the sellerLeadId it was delivered under. */
function leadOf(body: unknown): { id: string; sellerLeadId: string | undefined } | null {
  try {
    const lead = JSON.parse(String(body)) as { id?: unknown; metadata?: { sellerLeadId?: unknown } };
    if (typeof lead.id !== "string") return null;
    const seller = lead.metadata?.sellerLeadId;
    return { id: lead.id, sellerLeadId: typeof seller === "string" ? seller : undefined };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The database: target(engine, 0), recreated for every run

function intakeTarget(engine: Engine): Target {
  const t = target(engine, 0);
  return { ...t, env: { ...t.env, LEADTRAIL_STARTING_CREDIT: String(STARTING_CREDIT) } };
}

/** Drops target(engine, 0)'s database (and creates it again unless `drop`), never any other one. */
async function resetDatabase(t: Target, drop = false): Promise<void> {
  if (t.engine === "sqlite") {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${t.env.LEADTRAIL_DB!}${suffix}`, { force: true });
    return;
  }
  const url = new URL(t.env.DATABASE_URL!);
  const name = url.pathname.slice(1);
  if (name !== "leadtrail_bench_0") throw new Error(`refusing to recreate database '${name}'`);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
    if (!drop) await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The organization's books, read through the API

interface Books {
  leads: number;
  events: number;
  usageLines: number;
  balanceMicros: number;
}

async function books(api: Api): Promise<Books> {
  const ok = (r: { status: number; json: unknown }, what: string) => {
    if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
    return r.json as Record<string, unknown>;
  };
  const list = { pageSize: 1, includeCount: true };
  const leads = ok(await api.call("POST", "/leads/all/my", list), "POST /leads/all/my");
  const events = ok(await api.call("POST", "/events/all/my", list), "POST /events/all/my");
  const usage = ok(await api.call("GET", "/usage/summary/my"), "GET /usage/summary/my");
  const wallet = ok(await api.call("GET", "/wallets/me"), "GET /wallets/me");
  return {
    leads: Number(leads.totalCount),
    events: Number(events.totalCount),
    usageLines: Number(usage.transactionCount),
    balanceMicros: Math.round(Number(wallet.balance) * 1_000_000),
  };
}

const usd = (micros: number) => (micros / 1_000_000).toFixed(2);

/** What changed between two readings, checked against what should have: `n` new leads, charged. */
function reconcile(before: Books, after: Books, n: number) {
  const delta = {
    leads: after.leads - before.leads,
    events: after.events - before.events,
    usageLines: after.usageLines - before.usageLines,
    walletMicros: before.balanceMicros - after.balanceMicros,
  };
  const expected = { leads: n, events: n, usageLines: n, walletMicros: n * costMicros };
  const mismatches = (Object.keys(expected) as (keyof typeof expected)[])
    .filter((k) => delta[k] !== expected[k])
    .map((k) => `${k} changed by ${delta[k]}, expected ${expected[k]}`);
  return { expected, delta, ok: mismatches.length === 0, mismatches };
}

// ---------------------------------------------------------------------------------------------
// Load

interface Measured {
  mode: Mode | "warmup";
  seconds: number;
  acceptedPerSecond: number;
  /** 201s received within the run. */
  accepted: number;
  /** Every status received, by code. */
  statuses: Record<string, number>;
  notAccepted: number;
  errors: number;
  timeouts: number;
  /** 201s whose body named another lead than the one asked for. */
  wrongLead: number;
  /** Requests sent whose answer never came back before autocannon stopped (re-sent afterwards). */
  inFlightAtStop: number;
  /** Distinct sellerLeadIds sent (new mode): the leads the organization must have gained. */
  sellerLeadIdsSent: number;
  latencyMs: LatencySummary;
  serverCpuPercent: number;
  /** Server CPU time (user + system) divided by the responses it sent. */
  serverCpuMicrosPerRequest: number;
  loadGeneratorCpuPercent: number;
  /** CPU used meanwhile by every other process on the machine (PostgreSQL included), % of one core. */
  otherProcessesCpuPercent: number;
  serverMaxRssMb: number;
}

interface Run {
  server: RunningServer;
  headers: Record<string, string>;
  /** The next lead index of the new mode (shared by warmup and the measured phase). */
  next: number;
  /** Lead index → lead id, of the leads the repeats mode sends again. */
  repeatIds: string[];
}

async function load(run: Run, mode: Mode | "warmup", seconds: number): Promise<Measured> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let wrongLead = 0;
  const pending = new Set<number>();
  const sent = new Set<number>();
  const repeating = mode === "repeats";
  // setupRequest builds each request just before it is written; autocannon hands onResponse the same
  // context object (one per request with a single entry in `requests`), so it knows which lead it was.
  const request: AutocannonRequest & {
    onResponse: (status: number, body: unknown, context: Record<string, unknown>) => void;
  } = {
    method: "POST",
    path: "/leads",
    headers: run.headers,
    setupRequest: (req, context) => {
      const i = repeating ? Math.floor(Math.random() * run.repeatIds.length) : run.next++;
      context.lead = i;
      pending.add(i);
      sent.add(i);
      return { ...req, body: leadBody(i) };
    },
    onResponse: (status, body, context) => {
      const i = context.lead as number;
      pending.delete(i);
      if (status !== 201) return;
      const lead = leadOf(body);
      const right = repeating ? lead?.id === run.repeatIds[i] : lead?.sellerLeadId === sellerLeadId(i);
      if (!right) wrongLead++;
    },
  };
  const go = () => {
    const instance = autocannon({
      url: run.server.url,
      connections: settings.connections,
      duration: seconds,
      timeout: 10,
      requests: [request],
    });
    instance.on("response", (_client: unknown, status: number, _size: number, responseTime: number) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (latencies.length < 5_000_000) latencies.push(responseTime);
    });
    return instance as PromiseLike<AutocannonResult>;
  };
  const rss0 = run.server.sampler.maxRssKb;
  run.server.sampler.resetMax();
  const {
    value: result,
    processes,
    cpuSeconds,
    self,
    other,
  } = await withCpuAccounting([run.server.sampler], go);
  const serverMaxRssMb = run.server.sampler.maxRssMb;
  run.server.sampler.maxRssKb = Math.max(rss0, run.server.sampler.maxRssKb);
  const accepted = statuses[201] ?? 0;
  const inFlightAtStop = pending.size;
  // What was still in flight: posted again (the same body), now that the server has had time to
  // finish whatever it was doing; each answers 201, with the lead made then or a new one.
  await sleep(1000);
  if (!repeating) await resend(run, [...pending], mode);
  return {
    mode,
    seconds: result.duration,
    acceptedPerSecond: Math.round(accepted / result.duration),
    accepted,
    statuses,
    notAccepted: latencies.length - accepted,
    errors: result.errors,
    timeouts: result.timeouts,
    wrongLead,
    inFlightAtStop,
    sellerLeadIdsSent: repeating ? 0 : sent.size,
    latencyMs: summarize(latencies),
    serverCpuPercent: processes[0]!,
    serverCpuMicrosPerRequest: Math.round((cpuSeconds[0]! * 1e6) / Math.max(1, latencies.length)),
    loadGeneratorCpuPercent: self,
    otherProcessesCpuPercent: other,
    serverMaxRssMb,
  };
}

/** Posts leads `indices` one at a time; every one must answer 201 with its own sellerLeadId. */
async function resend(run: Run, indices: number[], what: string): Promise<string[]> {
  const ids: string[] = [];
  for (const i of indices) {
    const res = await fetch(`${run.server.url}/leads`, {
      method: "POST",
      headers: run.headers,
      body: leadBody(i),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const lead = leadOf(text);
    if (res.status !== 201 || lead?.sellerLeadId !== sellerLeadId(i))
      throw new Error(
        `${what}: POST /leads (${phone(i)}, ${sellerLeadId(i)}): ${res.status} ${text.slice(0, 300)}`,
      );
    ids.push(lead.id);
  }
  return ids;
}

function line(m: Measured): string {
  const failures = m.notAccepted + m.errors + m.timeouts + m.wrongLead;
  return (
    `${m.mode.padEnd(8)} ${String(m.acceptedPerSecond).padStart(5)} leads/s (${m.accepted} × 201 in ${m.seconds} s)  ` +
    `p50 ${m.latencyMs.p50.toFixed(2)} ms  p99 ${m.latencyMs.p99.toFixed(2)} ms  ` +
    `server CPU ${m.serverCpuMicrosPerRequest} µs/req  max RSS ${m.serverMaxRssMb} MB  ` +
    `CPU: server ${m.serverCpuPercent}%, autocannon ${m.loadGeneratorCpuPercent}%, other ${m.otherProcessesCpuPercent}%` +
    (failures > 0
      ? `  FAILED: statuses ${JSON.stringify(m.statuses)}, errors ${m.errors}, timeouts ${m.timeouts}, wrong lead ${m.wrongLead}`
      : "")
  );
}

// ---------------------------------------------------------------------------------------------

checkBuild();
for (let i = 0; i < PHONES; i++) {
  if (toE164(phone(i)) !== phone(i))
    throw new Error(`${phone(i)} is not a valid number as leadtrail sees it`);
}
const report = [];
const failures: string[] = [];
for (const engine of flags.engines) {
  const t = intakeTarget(engine);
  await resetDatabase(t);
  const org = createOrganization(t.env, `Lead intake bench (${engine})`);
  const app = await startLeadtrail(t, cpuProfile);
  const phases: { measured: Measured; check: ReturnType<typeof reconcile> }[] = [];
  let whole: ReturnType<typeof reconcile>;
  let warmup: Measured | null = null;
  try {
    const api = new Api(app.url, org.apiKey);
    const created = await api.call("POST", "/sources", {
      name: "Vendor",
      costPerLead: settings.costPerLead,
      defaultTagNames: ["vendor"],
    });
    const apiKey = (created.json as { apiKey?: unknown } | null)?.apiKey;
    if (created.status !== 201 || typeof apiKey !== "string")
      throw new Error(`POST /sources: ${created.status} ${JSON.stringify(created.json)}`);
    const run: Run = {
      server: app,
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      next: 0,
      repeatIds: [],
    };
    const start = await books(api);

    // Before any load: the first leads, one at a time (every area code), and one sent again.
    run.repeatIds = await resend(
      run,
      Array.from({ length: settings.repeatIds }, (_, i) => i),
      "check",
    );
    run.next = settings.repeatIds;
    const [again] = await resend(run, [0], "repeat check");
    if (again !== run.repeatIds[0]) throw new Error(`a repeated sellerLeadId made lead ${again}`);
    const checked = await books(api);
    const first = reconcile(start, checked, settings.repeatIds);
    if (!first.ok)
      throw new Error(`after the first ${settings.repeatIds} leads: ${first.mismatches.join("; ")}`);
    console.error(
      `${engine}: ${settings.repeatIds} leads posted one at a time (${AREA_CODES.length} area codes), all 201`,
    );

    warmup = await load(run, "warmup", settings.warmup);
    console.error(`  ${line(warmup)}`);
    for (const mode of modes) {
      if (quiet) await waitForQuiet();
      const before = await books(api);
      const measured = await load(run, mode, settings.duration);
      const check = reconcile(before, await books(api), measured.sellerLeadIdsSent);
      console.error(`  ${line(measured)}`);
      phases.push({ measured, check });
    }
    whole = reconcile(start, await books(api), run.next);
  } finally {
    await app.stop();
  }
  if (!keep) await resetDatabase(t, true);

  for (const m of [warmup!, ...phases.map((p) => p.measured)]) {
    if (m.notAccepted + m.errors + m.timeouts + m.wrongLead > 0) failures.push(`${engine} ${line(m)}`);
  }
  for (const { measured, check } of phases)
    if (!check.ok) failures.push(`${engine} ${measured.mode}: ${check.mismatches.join("; ")}`);
  if (!whole.ok) failures.push(`${engine} whole run: ${whole.mismatches.join("; ")}`);

  const entry = {
    engine,
    database: t.describe,
    settings: { ...settings, modes },
    cpuProfile,
    sellerLeadIdsSent: whole.expected.leads,
    phonesDistinct: Math.min(whole.expected.leads, PHONES),
    warmup,
    phases,
    wholeRun: whole,
    leadtrailMaxRssMb: app.sampler.maxRssMb,
    rssSamples: app.sampler.samples,
    leadtrailGc: app.gc(),
  };
  report.push(entry);
  const checkLine = ({ measured, check }: (typeof phases)[number]) =>
    `  ${measured.mode} check: leads +${check.delta.leads}, LeadCreated events +${check.delta.events}, ` +
    `usage lines +${check.delta.usageLines}, wallet −${usd(check.delta.walletMicros)} USD; expected ` +
    (measured.mode === "new"
      ? `${measured.sellerLeadIdsSent} each (${measured.accepted} × 201 + ${measured.inFlightAtStop} in flight at stop, re-sent) and ${measured.sellerLeadIdsSent} × ${settings.costPerLead} = ${usd(check.expected.walletMicros)} USD`
      : "no change") +
    ` — ${check.ok ? "ok" : `MISMATCH: ${check.mismatches.join("; ")}`}\n`;
  console.log(
    `\n[${engine}] POST /leads with a source key, ${settings.connections} connections, ${settings.duration} s per mode ` +
      `(after ${settings.warmup} s of warmup), cost per lead ${settings.costPerLead} USD\n` +
      phases.map(({ measured }) => `  ${line(measured)}\n`).join("") +
      phases.map(checkLine).join("") +
      `  whole run: ${whole.delta.leads} leads for ${whole.expected.leads} sellerLeadIds, wallet −${usd(whole.delta.walletMicros)} USD ` +
      `(expected ${usd(whole.expected.walletMicros)}) — ${whole.ok ? "ok" : `MISMATCH: ${whole.mismatches.join("; ")}`}\n` +
      `  leadtrail max RSS ${entry.leadtrailMaxRssMb} MB over the whole run (${entry.rssSamples} samples)` +
      gcLine(entry.leadtrailGc) +
      (cpuProfile ? " (with --cpu-prof: the profiler's own memory included)" : ""),
  );
}
const file = writeResult(`lead-intake-${flags.engines.join("+")}`, {
  date: new Date().toISOString(),
  machine: machine(),
  report,
  failures,
});
console.log(`results: ${file}`);
if (failures.length > 0) {
  console.error(`\nFAILED:\n${failures.map((f) => `  ${f}`).join("\n")}`);
  process.exitCode = 1;
}
