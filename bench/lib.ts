// Plumbing of the event-store benchmarks (seed, GET by id, deep page): command-line flags, seeded
// databases (created once, reused), the servers under test as child processes, CPU accounting and
// latency statistics. What the SMS benchmarks share with these is in bench/common.ts.
//
// The load generators (autocannon, timing loops) run in the benchmark's own process; every server
// under test is a separate child process bound to 127.0.0.1.

import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import autocannon, { type AutocannonOptions, type AutocannonResult } from "autocannon";
import pg from "pg";
import {
  childEnv,
  type Engine,
  freePort,
  HOST,
  LT_ROOT,
  machineBusySeconds,
  ProcessSampler,
  percentile,
  ROOT,
  round,
  sleep,
  writeResultIn,
} from "./common.js";

export const OUT = join(ROOT, "bench", "out");
const CLI = join(LT_ROOT, "bin", "leadtrail.js");

// ---------------------------------------------------------------------------------------------
// Flags

export interface CommonFlags {
  engines: Engine[];
  events: number;
  reseed: boolean;
  values: Map<string, string>;
}

/** `--engine sqlite|postgresql|both` (default both), `--events N` (default 1,000,000), `--reseed`, `--k v`. */
export function parseFlags(argv: string[] = process.argv.slice(2)): CommonFlags {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new Error(`unexpected argument '${arg}'`);
    const eq = arg.indexOf("=");
    if (eq > 0) {
      values.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) {
      values.set(arg.slice(2), argv[++i]!);
    } else {
      values.set(arg.slice(2), "true");
    }
  }
  const engine = values.get("engine") ?? process.env.BENCH_ENGINE ?? "both";
  if (engine !== "both" && engine !== "sqlite" && engine !== "postgresql") {
    throw new Error("--engine must be sqlite, postgresql or both");
  }
  const engines: Engine[] = engine === "both" ? ["sqlite", "postgresql"] : [engine];
  const events = intFlag(values, "events", Number(process.env.BENCH_EVENTS ?? 1_000_000));
  return { engines, events, reseed: values.get("reseed") === "true", values };
}

export function intFlag(values: Map<string, string>, name: string, fallback: number): number {
  const raw = values.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw.replace(/_/g, ""));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Databases

/** Server URL (no database name) of the PostgreSQL the benchmarks create their databases in. */
const PG_SERVER = (process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432").replace(/\/+$/, "");
/**
 * An existing database of one's own to seed into instead of leadtrail_bench_<events> (on a server
 * shared with others). It is never dropped: a seed needs it without an events table.
 */
const PG_DATABASE = process.env.BENCH_PG_DATABASE;

export interface Target {
  engine: Engine;
  events: number;
  /** Environment that points leadtrail at this database. */
  env: Record<string, string>;
  describe: string;
}

export function target(engine: Engine, events: number): Target {
  if (engine === "sqlite") {
    const file = join(OUT, `leadtrail-bench-${events}.db`);
    return { engine, events, env: { LEADTRAIL_DB: file }, describe: relative(ROOT, file) };
  }
  const url = `${PG_SERVER}/${PG_DATABASE ?? `leadtrail_bench_${events}`}`;
  return { engine, events, env: { DATABASE_URL: url }, describe: url };
}

export interface Seeded {
  engine: Engine;
  events: number;
  organizationId: string;
  apiKey: string;
  /** As reported by bench-seed (the bulk write only, after opening and migrating). */
  seedSeconds: number | null;
  /** Whole `leadtrail bench-seed` process, start to exit. */
  wallSeconds: number;
  seederMaxRssMb: number;
  /** CPU time of the bench-seed process, and of the whole machine (both cores, every process). */
  seederCpuSeconds?: number;
  machineCpuSeconds?: number;
  postSeed: string;
  seededAt: string;
}

function stateFile(engine: Engine, events: number): string {
  return join(OUT, `seed-${engine}-${events}.json`);
}

async function withPg<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${PG_SERVER}/${database}` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function databaseExists(t: Target): Promise<boolean> {
  if (t.engine === "sqlite") return existsSync(t.env.LEADTRAIL_DB!);
  const name = new URL(t.env.DATABASE_URL!).pathname.slice(1);
  return withPg("postgres", async (c) => {
    const r = await c.query("select 1 from pg_database where datname = $1", [name]);
    return r.rowCount === 1;
  });
}

/** Drops and recreates the benchmark database (never anything but bench/out/*.db or leadtrail_bench_*). */
async function freshDatabase(t: Target): Promise<void> {
  if (t.engine === "sqlite") {
    const file = t.env.LEADTRAIL_DB!;
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
    mkdirSync(dirname(file), { recursive: true });
    return;
  }
  const name = new URL(t.env.DATABASE_URL!).pathname.slice(1);
  if (name === PG_DATABASE) {
    const seededBefore = await withPg(name, (c) => c.query("select to_regclass('public.events') as t"));
    if (seededBefore.rows[0]?.t !== null)
      throw new Error(`${name} already has an events table: drop it yourself`);
    return;
  }
  if (!/^leadtrail_bench_\d+$/.test(name)) throw new Error(`refusing to recreate database '${name}'`);
  await withPg("postgres", async (c) => {
    await c.query(`drop database if exists ${name} with (force)`);
    await c.query(`create database ${name}`);
  });
}

/**
 * Runs `leadtrail bench-seed --events N` into a brand-new database and records its throughput.
 * On PostgreSQL the tables are then VACUUM ANALYZEd (outside the timed seed): what autovacuum
 * would do shortly after such a load anyway, done up front so that it cannot run in the middle
 * of a measurement.
 */
export async function seed(t: Target): Promise<Seeded> {
  await freshDatabase(t);
  console.error(`seeding ${t.events} events into ${t.describe} …`);
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, "bench-seed", "--events", String(t.events)], {
    cwd: ROOT,
    env: childEnv(t.env),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const sampler = new ProcessSampler(child.pid!);
  const busy0 = machineBusySeconds();
  let stdout = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await exitOf(child, 60 * 60_000);
  const wallSeconds = (performance.now() - started) / 1000;
  const seederCpuSeconds = sampler.cpuSeconds();
  const machineCpuSeconds = machineBusySeconds() - busy0;
  sampler.stop();
  if (code !== 0) throw new Error(`bench-seed exited with ${code}: ${stdout}`);
  const lines = stdout.trim().split("\n");
  const { organizationId, apiKey } = JSON.parse(lines.at(-1)!) as { organizationId: string; apiKey: string };
  const reported = /wrote \d+ events in ([\d.]+) s/.exec(stdout);
  let postSeed = "none";
  if (t.engine === "postgresql") {
    const t0 = performance.now();
    await withPg(new URL(t.env.DATABASE_URL!).pathname.slice(1), (c) => c.query("vacuum analyze"));
    postSeed = `VACUUM ANALYZE (${((performance.now() - t0) / 1000).toFixed(1)} s, not counted in the seed time)`;
  }
  const seeded: Seeded = {
    engine: t.engine,
    events: t.events,
    organizationId,
    apiKey,
    seedSeconds: reported ? Number(reported[1]) : null,
    wallSeconds,
    seederMaxRssMb: sampler.maxRssMb,
    seederCpuSeconds: round(seederCpuSeconds, 1),
    machineCpuSeconds: round(machineCpuSeconds, 1),
    postSeed,
    seededAt: new Date().toISOString(),
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(stateFile(t.engine, t.events), `${JSON.stringify(seeded, null, 2)}\n`);
  return seeded;
}

/** The seeded database for (engine, events): reused when bench/out has its state, seeded otherwise. */
export async function ensureSeeded(t: Target, reseed: boolean): Promise<Seeded> {
  const file = stateFile(t.engine, t.events);
  if (!reseed && existsSync(file) && (await databaseExists(t))) {
    const seeded = JSON.parse(readFileSync(file, "utf8")) as Seeded;
    console.error(`reusing ${t.describe} (seeded ${seeded.seededAt}; --reseed to start over)`);
    return seeded;
  }
  return seed(t);
}

/** Up to `n` distinct event ids of the organization, drawn uniformly at random, read from the database. */
export async function sampleEventIds(t: Target, organizationId: string, n: number): Promise<string[]> {
  const query = "select id from events where organization_id = $1 order by random() limit $2";
  if (t.engine === "sqlite") {
    const { default: Sqlite } = await import("better-sqlite3");
    const db = new Sqlite(t.env.LEADTRAIL_DB!, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare(query.replace(/\$\d/g, "?")).all(organizationId, n) as { id: string }[];
      return rows.map((r) => r.id);
    } finally {
      db.close();
    }
  }
  return withPg(new URL(t.env.DATABASE_URL!).pathname.slice(1), async (c) => {
    const r = await c.query<{ id: string }>(query, [organizationId, n]);
    return r.rows.map((row) => row.id);
  });
}

// ---------------------------------------------------------------------------------------------
// Servers under test

export interface RunningServer {
  name: string;
  url: string;
  pid: number;
  sampler: ProcessSampler;
  /** Garbage collections so far, from node --trace-gc (leadtrail servers only). */
  gc(): GcSummary | null;
  stop(): Promise<void>;
}

async function startProcess(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyPath: string,
  gcLog?: string,
): Promise<RunningServer> {
  const port = await freePort();
  let stdout: "ignore" | number = "ignore";
  if (gcLog) {
    mkdirSync(dirname(gcLog), { recursive: true });
    stdout = openSync(gcLog, "w");
  }
  const child = spawn(process.execPath, gcLog ? ["--trace-gc", ...args] : args, {
    cwd: ROOT,
    env: childEnv({ ...env, PORT: String(port), HOST }),
    stdio: ["ignore", stdout, "inherit"],
  });
  if (typeof stdout === "number") closeSync(stdout);
  const url = `http://${HOST}:${port}`;
  const deadline = Date.now() + 60_000;
  let ready = false;
  while (!ready && Date.now() < deadline && child.exitCode === null) {
    try {
      const res = await fetch(`${url}${readyPath}`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      ready = res.ok;
    } catch {
      await sleep(100);
    }
  }
  if (!ready) {
    child.kill("SIGKILL");
    throw new Error(`${name} did not become ready at ${url}${readyPath}`);
  }
  const sampler = new ProcessSampler(child.pid!);
  return {
    name,
    url,
    pid: child.pid!,
    sampler,
    gc: () => (gcLog ? summarizeGc(gcLog) : null),
    stop: async () => {
      sampler.stop();
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      if ((await exitOf(child, 10_000)) === null) child.kill("SIGKILL");
    },
  };
}

/** Fails early when dist/ (what bin/leadtrail.js runs) is older than src/. */
export function checkBuild(): void {
  const main = join(LT_ROOT, "dist", "cli", "main.js");
  if (!existsSync(main)) throw new Error(`${LT_ROOT}/dist/ is missing: run \`npm run build\` there first`);
  const built = statSync(main).mtimeMs;
  const stale = newestMtime(join(LT_ROOT, "src")) > built;
  if (stale)
    console.error("warning: src/ is newer than dist/ — run `npm run build` to measure the current code");
}

function newestMtime(dir: string): number {
  let newest = 0;
  const walk = (d: string) => {
    for (const entry of readdirSyncSafe(d)) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

function readdirSyncSafe(d: string) {
  try {
    return readdirSync(d, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * `leadtrail serve` on the target database: logs off, rate limit out of the way. With `cpuProfile`,
 * node's --cpu-prof writes a .cpuprofile of the whole server run into bench/out/prof/.
 */
export function startLeadtrail(t: Target, cpuProfile = false): Promise<RunningServer> {
  const profile = cpuProfile ? ["--cpu-prof", "--cpu-prof-dir", join(OUT, "prof")] : [];
  const script = basename(process.argv[1] ?? "bench", ".ts");
  return startProcess(
    `leadtrail (${t.engine})`,
    [...profile, CLI, "serve"],
    { ...t.env, LOG_LEVEL: "silent", LEADTRAIL_RATE_LIMIT_PER_MINUTE: "1000000000" },
    "/healthz",
    join(OUT, "gc", `${script}-${t.engine}.log`),
  );
}

export interface GcSummary {
  log: string;
  scavenges: number;
  scavengeMsTotal: number;
  scavengeMsMax: number;
  markCompacts: number;
  markCompactMsMax: number;
  /** Largest "used (committed)" heap figure in any GC line, MB. */
  maxHeapCommittedMb: number;
}

/** Reads a node --trace-gc log: `… Scavenge 37.2 (57.9) -> 24.0 (57.9) MB, 0.91 / 0.25 ms …`. */
export function summarizeGc(file: string): GcSummary {
  const summary: GcSummary = {
    log: relative(ROOT, file),
    scavenges: 0,
    scavengeMsTotal: 0,
    scavengeMsMax: 0,
    markCompacts: 0,
    markCompactMsMax: 0,
    maxHeapCommittedMb: 0,
  };
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const re = /(Scavenge|Mark-Compact)[^\d]*([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB, ([\d.]+)/g;
  for (const m of text.matchAll(re)) {
    const pause = Number(m[6]);
    const committed = Math.max(Number(m[3]), Number(m[5]));
    summary.maxHeapCommittedMb = Math.max(summary.maxHeapCommittedMb, committed);
    if (m[1] === "Scavenge") {
      summary.scavenges++;
      summary.scavengeMsTotal += pause;
      summary.scavengeMsMax = Math.max(summary.scavengeMsMax, pause);
    } else {
      summary.markCompacts++;
      summary.markCompactMsMax = Math.max(summary.markCompactMsMax, pause);
    }
  }
  summary.scavengeMsTotal = round(summary.scavengeMsTotal, 1);
  return summary;
}

/** bench/bare-server.ts: Fastify with one route, nothing else (see BARE_MODE there). */
export function startBareFastify(
  name = "bare fastify",
  env: Record<string, string> = {},
  readyPath = "/events/evt_ready",
): Promise<RunningServer> {
  return startProcess(name, ["--import", "tsx", join(ROOT, "bench", "bare-server.ts")], env, readyPath);
}

function exitOf(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(null), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolveExit(code ?? -1);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// CPU of the processes under test, and of everything else

/**
 * CPU used by everything else on the machine (other processes, e.g. PostgreSQL or someone's test
 * run) while `fn` runs, in percent of one core, next to what `pids` used.
 */
export async function withCpuAccounting<T>(
  samplers: ProcessSampler[],
  fn: () => PromiseLike<T>,
): Promise<{
  value: T;
  elapsed: number;
  processes: number[];
  cpuSeconds: number[];
  self: number;
  other: number;
}> {
  const m0 = machineBusySeconds();
  const p0 = samplers.map((s) => s.cpuSeconds());
  const s0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const elapsed = (performance.now() - t0) / 1000;
  const ownUsage = process.cpuUsage(s0);
  const self = (ownUsage.user + ownUsage.system) / 1e6;
  const processes = samplers.map((s, i) => s.cpuSeconds() - p0[i]!);
  const other = machineBusySeconds() - m0 - self - processes.reduce((a, b) => a + b, 0);
  const pct = (x: number) => Math.max(0, Math.round((x / elapsed) * 100));
  return {
    value,
    elapsed,
    processes: processes.map(pct),
    cpuSeconds: processes,
    self: pct(self),
    other: pct(other),
  };
}

/** What one autocannon run against a server measured. */
export interface LoadMeasurement {
  requestsPerSecond: number;
  completed: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: LatencySummary;
  bytesPerResponse: number;
  serverCpuPercent: number;
  /** Server CPU time (user + system) divided by the responses it sent. */
  serverCpuMicrosPerRequest: number;
  loadGeneratorCpuPercent: number;
  /** CPU used meanwhile by every other process on the machine (PostgreSQL included), % of one core. */
  otherProcessesCpuPercent: number;
}

/**
 * Runs autocannon (from this process, a second one from the server's) against `server` and measures
 * it. Latency percentiles come from every response's own timing (autocannon's 'response' event,
 * hrtime-based), since autocannon's histogram only resolves whole milliseconds.
 */
export async function measureLoad(
  server: RunningServer,
  options: Omit<AutocannonOptions, "url">,
): Promise<LoadMeasurement> {
  const latencies: number[] = [];
  let bytes = 0;
  const run = () => {
    const instance = autocannon({ ...options, url: server.url });
    instance.on("response", (_client: unknown, _status: number, size: number, responseTime: number) => {
      bytes += size;
      if (latencies.length < 5_000_000) latencies.push(responseTime);
    });
    return instance as PromiseLike<AutocannonResult>;
  };
  const {
    value: result,
    processes,
    cpuSeconds,
    self,
    other,
  } = await withCpuAccounting([server.sampler], run);
  const completed = result["2xx"];
  return {
    requestsPerSecond: Math.round(completed / result.duration),
    completed,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: summarize(latencies),
    bytesPerResponse: Math.round(bytes / Math.max(1, latencies.length)),
    serverCpuPercent: processes[0]!,
    serverCpuMicrosPerRequest: Math.round((cpuSeconds[0]! * 1e6) / Math.max(1, latencies.length)),
    loadGeneratorCpuPercent: self,
    otherProcessesCpuPercent: other,
  };
}

export const loadFailed = (m: LoadMeasurement): boolean => m.non2xx + m.errors + m.timeouts > 0;

/** One measurement as a console line, `label` padded to `labelWidth`; errors named when there were any. */
export function loadLine(label: string, m: LoadMeasurement, labelWidth: number): string {
  return (
    `${label.padEnd(labelWidth)} ${String(m.requestsPerSecond).padStart(6)} req/s  ` +
    `p50 ${m.latencyMs.p50.toFixed(2)} ms  p99 ${m.latencyMs.p99.toFixed(2)} ms  ` +
    `${String(m.bytesPerResponse).padStart(6)} B  server CPU ${m.serverCpuMicrosPerRequest} µs/req  ` +
    `CPU: server ${m.serverCpuPercent}%, autocannon ${m.loadGeneratorCpuPercent}%, other ${m.otherProcessesCpuPercent}%` +
    (loadFailed(m) ? `  non2xx ${m.non2xx} errors ${m.errors} timeouts ${m.timeouts}` : "")
  );
}

/**
 * Waits (at most `maxSeconds`) until processes other than ours use less than `maxPercent` of one
 * core over a 2 s window: the machine is shared, and a test run next door skews every figure.
 */
export async function waitForQuiet(maxPercent = 25, maxSeconds = 120): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  let other = 100;
  while (Date.now() < deadline) {
    other = (await withCpuAccounting([], () => sleep(2000))).other;
    if (other < maxPercent) return other;
    console.error(`waiting for a quieter machine: other processes use ${other}% of a core`);
  }
  return other;
}

// ---------------------------------------------------------------------------------------------
// Statistics and output

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarize(values: number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    count: values.length,
    mean: round(sum / values.length, 3),
    p50: round(percentile(sorted, 50), 3),
    p90: round(percentile(sorted, 90), 3),
    p99: round(percentile(sorted, 99), 3),
    max: round(sorted[sorted.length - 1] ?? Number.NaN, 3),
  };
}

/** Writes bench/out/results/<name>.json and returns its path relative to the project. */
export function writeResult(name: string, data: unknown): string {
  return writeResultIn(OUT, name, data);
}

export function gcLine(gc: GcSummary | null): string {
  if (!gc) return "";
  return (
    `\n  leadtrail GC: ${gc.scavenges} scavenges (${gc.scavengeMsTotal} ms in all, longest ${gc.scavengeMsMax} ms), ` +
    `${gc.markCompacts} mark-compacts (longest ${gc.markCompactMsMax} ms), heap up to ${gc.maxHeapCommittedMb} MB — ${gc.log}`
  );
}
