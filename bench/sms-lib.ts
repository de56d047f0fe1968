// Plumbing shared by the SMS benchmarks (bench/sms-throughput.ts, bench/sms-latency.ts): a fresh
// database per run, the leadtrail processes under test (one `serve`, plus `leadtrail worker`
// processes on PostgreSQL), an organization with a funded wallet, a sender number and N leads with
// their conversations, a read-only view of the database to watch messages move, per-process RSS and
// CPU, and a summary of V8 CPU profiles.
//
// Every leadtrail process is a child process bound to 127.0.0.1; the load generator (autocannon) runs
// in the benchmark's own process. Every loop here is bounded in count and in time.
// What it shares with the event-store benchmarks (bench/lib.ts) is in bench/common.ts.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import autocannon, { type AutocannonOptions, type AutocannonResult } from "autocannon";
import Sqlite from "better-sqlite3";
import pg from "pg";
import {
  CLOCK_TICKS,
  childEnv,
  machine as commonMachine,
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

export const OUT = join(ROOT, "bench", "out", "sms");
const CLI = join(LT_ROOT, "bin", "leadtrail.js");
const PG_SERVER = (process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432").replace(/\/+$/, "");
/** The only PostgreSQL database these benchmarks create, and drop. */
const PG_DATABASE = "lt_sms_bench";
const SQLITE_FILE = join(OUT, "lt-sms-bench.db");
/** Recipients ending in these digits are the simulator's failure scenarios (providers/simulator.ts). */
const SIMULATOR_SCENARIOS = new Set(["0400", "0500", "0600", "0700", "0800"]);
/** The simulator's default price of one GSM-7 segment, for sizing the wallet. */
const SEGMENT_MICROS = 7900;

// ---------------------------------------------------------------------------------------------
// Flags

export class Flags {
  readonly values = new Map<string, string>();

  constructor(argv: string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (!arg.startsWith("--")) throw new Error(`unexpected argument '${arg}'`);
      const eq = arg.indexOf("=");
      if (eq > 0) this.values.set(arg.slice(2, eq), arg.slice(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--"))
        this.values.set(arg.slice(2), argv[++i]!);
      else this.values.set(arg.slice(2), "true");
    }
  }

  engine(): Engine {
    const engine = this.values.get("engine");
    if (engine !== "sqlite" && engine !== "postgresql")
      throw new Error("--engine must be sqlite or postgresql");
    return engine;
  }

  int(name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw.replace(/_/g, ""));
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  }

  bool(name: string): boolean {
    return this.values.get(name) === "true";
  }
}

// ---------------------------------------------------------------------------------------------
// Database: created fresh for each run, read from this process

/** Read access to the benchmark database. SQL is written with $1, $2 … (each parameter once, in order). */
export interface DbReader {
  all<T>(query: string, params?: unknown[]): Promise<T[]>;
  run(query: string, params?: unknown[]): Promise<void>;
  close(): Promise<void>;
}

async function withPgAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${PG_SERVER}/postgres` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Environment pointing leadtrail at a brand-new benchmark database. */
export async function freshDatabase(engine: Engine): Promise<Record<string, string>> {
  mkdirSync(OUT, { recursive: true });
  if (engine === "sqlite") {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${SQLITE_FILE}${suffix}`, { force: true });
    return { LEADTRAIL_DB: SQLITE_FILE };
  }
  await withPgAdmin(async (c) => {
    await c.query(`drop database if exists ${PG_DATABASE} with (force)`);
    await c.query(`create database ${PG_DATABASE}`);
  });
  return { DATABASE_URL: `${PG_SERVER}/${PG_DATABASE}` };
}

export async function dropDatabase(engine: Engine): Promise<void> {
  if (engine === "sqlite") {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${SQLITE_FILE}${suffix}`, { force: true });
    return;
  }
  await withPgAdmin((c) => c.query(`drop database if exists ${PG_DATABASE} with (force)`));
}

export function describeDatabase(engine: Engine): string {
  return engine === "sqlite" ? relative(ROOT, SQLITE_FILE) : `${PG_SERVER}/${PG_DATABASE}`;
}

export async function openReader(engine: Engine): Promise<DbReader> {
  if (engine === "sqlite") {
    // WAL mode: this reader never blocks the server's writes.
    const db = new Sqlite(SQLITE_FILE, { fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    const toSqlite = (q: string) => q.replace(/\$\d+/g, "?");
    return {
      all: async <T>(q: string, params: unknown[] = []) => db.prepare(toSqlite(q)).all(...params) as T[],
      run: async (q: string, params: unknown[] = []) => {
        db.prepare(toSqlite(q)).run(...params);
      },
      close: async () => {
        db.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: `${PG_SERVER}/${PG_DATABASE}` });
  await client.connect();
  return {
    all: async <T>(q: string, params: unknown[] = []) => (await client.query(q, params)).rows as T[],
    run: async (q: string, params: unknown[] = []) => {
      await client.query(q, params);
    },
    close: () => client.end(),
  };
}

// ---------------------------------------------------------------------------------------------
// SQL statistics inside a leadtrail process (--sql-stats): a preload module (node --import) that
// wraps better-sqlite3's prepare/run/all/get or pg's Client#query, and at exit writes, per distinct
// statement text, how many times it ran and the time it took (SQLite: prepare and execute, on the
// event loop; PostgreSQL: from sending the query to its result, i.e. including waiting for locks).

const SQL_STATS_PRELOAD = `
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
const require = createRequire(process.env.LT_SQL_STATS_ROOT + "/package.json");
const stats = new Map();
const norm = (sql) => sql.replace(/\\s+/g, " ").replace(/\\$\\d+(, ?\\$\\d+)+/g, "$…").replace(/\\?(, ?\\?)+/g, "?…").replace(/(\\(\\$…\\)|\\(\\?…\\))(, ?(\\(\\$…\\)|\\(\\?…\\)))+/g, "$1…").trim();
const add = (sql, field, ms) => {
  const k = norm(sql);
  let s = stats.get(k);
  if (!s) stats.set(k, (s = { count: 0, prepareMs: 0, execMs: 0 }));
  if (field === "execMs") s.count++;
  s[field] += ms;
};
try {
  const Database = require("better-sqlite3");
  const prepare = Database.prototype.prepare;
  Database.prototype.prepare = function (sql, ...rest) {
    const t0 = performance.now();
    const stmt = prepare.call(this, sql, ...rest);
    add(sql, "prepareMs", performance.now() - t0);
    for (const m of ["run", "all", "get"]) {
      const orig = stmt[m];
      stmt[m] = function (...args) {
        const t1 = performance.now();
        try { return orig.apply(this, args); } finally { add(sql, "execMs", performance.now() - t1); }
      };
    }
    return stmt;
  };
} catch {}
try {
  const pg = require("pg");
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (config, values, callback) {
    const sql = typeof config === "string" ? config : config && config.text;
    const t0 = performance.now();
    const result = query.call(this, config, values, callback);
    if (sql && result && typeof result.then === "function") {
      result.then(() => add(sql, "execMs", performance.now() - t0), () => add(sql, "execMs", performance.now() - t0));
    }
    return result;
  };
} catch {}
process.on("exit", () => {
  const rows = [...stats.entries()].map(([sql, s]) => ({ sql, ...s }));
  writeFileSync(process.env.LT_SQL_STATS_FILE, JSON.stringify(rows));
});
`;

/** Writes the preload module (bench/out/sms/sql-stats-preload.mjs) and returns its path. */
function sqlStatsPreload(): string {
  const file = join(OUT, "sql-stats-preload.mjs");
  mkdirSync(OUT, { recursive: true });
  writeFileSync(file, SQL_STATS_PRELOAD);
  return file;
}

export interface SqlStatementStats {
  sql: string;
  count: number;
  prepareMs: number;
  execMs: number;
}

/** The statements of every process's stats file in `dir`, merged, the costliest first. */
export function summarizeSqlStats(dir: string | null, messages: number, top = 40) {
  if (!dir || !existsSync(dir)) return null;
  const merged = new Map<string, SqlStatementStats>();
  const perProcess: Record<string, { statements: number; execMs: number; prepareMs: number }> = {};
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".json"))) {
    const rows = JSON.parse(readFileSync(join(dir, f), "utf8")) as SqlStatementStats[];
    const p = { statements: 0, execMs: 0, prepareMs: 0 };
    for (const r of rows) {
      p.statements += r.count;
      p.execMs += r.execMs;
      p.prepareMs += r.prepareMs;
      const m = merged.get(r.sql) ?? { sql: r.sql, count: 0, prepareMs: 0, execMs: 0 };
      m.count += r.count;
      m.prepareMs += r.prepareMs;
      m.execMs += r.execMs;
      merged.set(r.sql, m);
    }
    perProcess[f.replace(/\.json$/, "")] = {
      statements: p.statements,
      execMs: round(p.execMs, 0),
      prepareMs: round(p.prepareMs, 0),
    };
  }
  const all = [...merged.values()];
  const total = all.reduce((a, r) => a + r.count, 0);
  return {
    note: "whole process lifetime, setup included (leads, conversations); per message = ÷ measured messages",
    perProcess,
    statementsPerMessage: round(total / messages, 1),
    top: all
      .sort((a, b) => b.execMs + b.prepareMs - (a.execMs + a.prepareMs))
      .slice(0, top)
      .map((r) => ({
        sql: r.sql.length > 220 ? `${r.sql.slice(0, 220)}…` : r.sql,
        count: r.count,
        perMessage: round(r.count / messages, 2),
        execMs: round(r.execMs, 0),
        prepareMs: round(r.prepareMs, 0),
        avgUs: round(((r.execMs + r.prepareMs) / Math.max(1, r.count)) * 1000, 0),
      })),
  };
}

// ---------------------------------------------------------------------------------------------
// Processes under test

function exitOf(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? -1);
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(null), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolveExit(code ?? -1);
    });
  });
}

export interface Proc {
  name: string;
  pid: number;
  sampler: ProcessSampler;
  log: string;
  stop(): Promise<void>;
}

/** The environment every leadtrail process of a run gets (besides the database's). */
export function leadtrailEnv(db: Record<string, string>): Record<string, string> {
  return {
    ...db,
    HOST,
    LOG_LEVEL: "warn",
    LEADTRAIL_RATE_LIMIT_PER_MINUTE: "1000000000",
    LEADTRAIL_QUIET_HOURS: "off",
    LEADTRAIL_PROVIDER: "simulator",
    LEADTRAIL_WARMUP_TICK_SECONDS: "0",
    LEADTRAIL_STARTING_CREDIT: "100000",
  };
}

/**
 * Starts `leadtrail <command>` and waits (≤ 60 s) until `ready()` holds. stdout and stderr go to
 * bench/out/sms/logs/<name>.log. With a profile directory, the process runs under --cpu-prof.
 */
export interface Instrumentation {
  /** Directory for V8 CPU profiles (node --cpu-prof), or null. */
  profileDir: string | null;
  /** Directory for SQL statistics (see SQL_STATS_PRELOAD), or null. */
  sqlStatsDir: string | null;
}

async function startLeadtrailProcess(
  name: string,
  command: string,
  env: Record<string, string>,
  ready: (child: ChildProcess, log: string) => Promise<boolean>,
  instrument: Instrumentation,
): Promise<Proc> {
  const logDir = join(OUT, "logs");
  mkdirSync(logDir, { recursive: true });
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, "w");
  const { profileDir, sqlStatsDir } = instrument;
  const profile = profileDir
    ? ["--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-name", `${name}.cpuprofile`]
    : [];
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const sqlStats: Record<string, string> = {};
  if (sqlStatsDir) {
    mkdirSync(sqlStatsDir, { recursive: true });
    profile.push("--import", pathToFileURL(sqlStatsPreload()).href);
    sqlStats.LT_SQL_STATS_ROOT = LT_ROOT;
    sqlStats.LT_SQL_STATS_FILE = join(sqlStatsDir, `${name}.json`);
  }
  const child = spawn(process.execPath, [...profile, CLI, command], {
    cwd: LT_ROOT,
    env: childEnv({ ...env, ...sqlStats }),
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const deadline = Date.now() + 60_000;
  let ok = false;
  while (!ok && Date.now() < deadline && child.exitCode === null) {
    ok = await ready(child, log);
    if (!ok) await sleep(100);
  }
  if (!ok) {
    child.kill("SIGKILL");
    throw new Error(
      `${name} did not start: see ${relative(ROOT, log)}\n${readFileSync(log, "utf8").slice(-2000)}`,
    );
  }
  const sampler = new ProcessSampler(child.pid!);
  return {
    name,
    pid: child.pid!,
    sampler,
    log: relative(ROOT, log),
    stop: async () => {
      sampler.stop();
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      // A profiled process writes its profile on the way out: give it time.
      if ((await exitOf(child, 30_000)) === null) child.kill("SIGKILL");
    },
  };
}

export async function startServer(
  env: Record<string, string>,
  instrument: Instrumentation,
): Promise<Proc & { url: string }> {
  const port = await freePort();
  const url = `http://${HOST}:${port}`;
  const proc = await startLeadtrailProcess(
    "server",
    "serve",
    { ...env, PORT: String(port) },
    async () => {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return res.ok;
      } catch {
        return false;
      }
    },
    instrument,
  );
  return { ...proc, url };
}

export function startWorker(
  index: number,
  env: Record<string, string>,
  instrument: Instrumentation,
): Promise<Proc> {
  return startLeadtrailProcess(
    `worker-${index}`,
    "worker",
    env,
    async (_child, log) => readFileSync(log, "utf8").includes("worker running"),
    instrument,
  );
}

/** `leadtrail org create --json`: {organizationId, userId, apiKey}. Also migrates a new database. */
export function createOrganization(env: Record<string, string>, name: string) {
  const r = spawnSync(process.execPath, [CLI, "org", "create", "--name", name, "--json"], {
    cwd: LT_ROOT,
    env: childEnv(env),
    encoding: "utf8",
    timeout: 180_000,
  });
  if (r.status !== 0)
    throw new Error(
      `org create failed (${r.error?.message ?? `status ${r.status}, signal ${r.signal}`}): ${r.stderr}`,
    );
  const line = r.stdout.trim().split("\n").at(-1)!;
  return JSON.parse(line) as { organizationId: string; userId: string; apiKey: string };
}

// ---------------------------------------------------------------------------------------------
// The organization's data: wallet, sender number(s), leads and conversations

export class Api {
  constructor(
    readonly url: string,
    readonly apiKey: string,
  ) {}

  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}`, "content-type": "application/json" };
  }

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: this.headers(),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }
}

/** Makes sure the wallet can pay for `messages` messages (twice over), topping it up in the database. */
export async function ensureFunds(db: DbReader, organizationId: string, messages: number): Promise<number> {
  const need = messages * SEGMENT_MICROS * 2;
  const rows = await db.all<{ balance_micros: number | string }>(
    "select balance_micros from wallets where organization_id = $1",
    [organizationId],
  );
  const balance = Number(rows[0]?.balance_micros ?? -1);
  if (rows.length === 0) {
    // Older code creates no wallet with the organization: add one as billing-repo's createWallet would.
    const now = Date.now();
    await db.run(
      `insert into wallets (organization_id, id, balance_micros, purchased_micros, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6)`,
      [organizationId, `wal_bench${now}`, need, need, now, now],
    );
    return need;
  }
  if (balance < need) {
    await db.run("update wallets set balance_micros = $1, purchased_micros = $2 where organization_id = $3", [
      need,
      need,
      organizationId,
    ]);
    return need;
  }
  return balance;
}

/**
 * Adds `count` sender numbers with a 10DLC campaign (US recipients need one): through POST
 * /phone-numbers when the server has it, else written straight to phone_numbers as
 * test/helpers/messaging.ts does. Returns how they were added.
 */
export async function addSenders(
  api: Api,
  db: DbReader,
  organizationId: string,
  count: number,
): Promise<string> {
  let via = "POST /phone-numbers";
  for (let i = 0; i < count; i++) {
    const number = `+1415555${String(100 + i).padStart(4, "0")}`;
    if (via === "POST /phone-numbers") {
      const res = await api.call("POST", "/phone-numbers", {
        number,
        name: `Bench sender ${i + 1}`,
        enabled: true,
        isDefault: i === 0,
        routing: { smsEnabled: true, tenDlcCampaignId: "CBENCH1" },
      });
      // 200 since the create follows the contract's subset; builds before that answered 201.
      if (res.status === 200 || res.status === 201) continue;
      if (res.status !== 404 || i > 0)
        throw new Error(`POST /phone-numbers: ${res.status} ${JSON.stringify(res.json)}`);
      via = "insert into phone_numbers";
    }
    const now = Date.now();
    await db.run(
      `insert into phone_numbers (organization_id, id, number, name, enabled, sms_enabled, source_id, campaign_id,
        ten_dlc_campaign_id, is_preferred, is_default, warmup_enabled, warmup_started_at, last_used_at, created_at,
        updated_at, warmup_day_start, warmup_sent_today, warmup_last_sent_at, warmup_total_sent)
       values ($1, $2, $3, $4, 1, 1, null, null, $5, 0, $6, 0, null, null, $7, $8, null, 0, null, 0)`,
      [organizationId, `pn_bench${i}`, number, `Bench sender ${i + 1}`, "CBENCH1", i === 0 ? 1 : 0, now, now],
    );
  }
  return via;
}

/** The i-th recipient number: valid US numbers, none ending in a simulator failure scenario. */
export function recipients(count: number): string[] {
  const out: string[] = [];
  for (let k = 0; out.length < count && k < count * 2 + 100; k++) {
    const exchange = 555 - Math.floor(k / 9000);
    const line = String(1000 + (k % 9000)).padStart(4, "0");
    if (SIMULATOR_SCENARIOS.has(line)) continue;
    out.push(`+1212${exchange}${line}`);
  }
  if (out.length < count) throw new Error(`could not make ${count} recipient numbers`);
  return out;
}

/** Runs `fn` over `items` with at most `concurrency` at a time. */
export async function pool<T, R>(
  items: T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(runners);
  return results;
}

/** POST /leads for each recipient, then POST /conversations/lead/{id}: the conversation ids. */
export async function createConversations(api: Api, count: number): Promise<string[]> {
  return pool(recipients(count), 16, async (number, i) => {
    const lead = await api.call("POST", "/leads", {
      contact: { firstName: "Bench", lastName: `Lead ${i + 1}`, phone: { number } },
    });
    if (lead.status !== 201) throw new Error(`POST /leads: ${lead.status} ${JSON.stringify(lead.json)}`);
    const leadId = (lead.json as { id: string }).id;
    const list = await api.call("POST", `/conversations/lead/${leadId}`, {});
    const id = (list.json as { items?: Array<{ id: string }> }).items?.[0]?.id;
    if (list.status !== 200 || !id)
      throw new Error(`POST /conversations/lead/${leadId}: ${list.status} ${JSON.stringify(list.json)}`);
    return id;
  });
}

// ---------------------------------------------------------------------------------------------
// A complete setup: fresh database, organization, processes, data

export interface Setup {
  engine: Engine;
  env: Record<string, string>;
  server: Proc & { url: string };
  workers: Proc[];
  api: Api;
  db: DbReader;
  organizationId: string;
  conversations: string[];
  sendersAddedVia: string;
  walletMicros: number;
  profileDir: string | null;
  sqlStatsDir: string | null;
  /** Stops every leadtrail process (waiting for their CPU profiles to be written). */
  stopProcesses(): Promise<void>;
  /** Stops the processes, closes the reader, drops the database (unless keep). */
  close(keep: boolean): Promise<void>;
}

export async function setUp(options: {
  engine: Engine;
  workers: number;
  leads: number;
  senders: number;
  messages: number;
  profileName: string | null;
  /** Collect SQL statistics in every leadtrail process (--sql-stats). */
  sqlStatsName?: string | null;
}): Promise<Setup> {
  const { engine } = options;
  const dbEnv = await freshDatabase(engine);
  const env = leadtrailEnv(dbEnv);
  const org = createOrganization(env, "SMS bench");
  const profileDir = options.profileName ? join(OUT, "prof", options.profileName) : null;
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  const sqlStatsDir = options.sqlStatsName ? join(OUT, "sql", options.sqlStatsName) : null;
  if (sqlStatsDir) rmSync(sqlStatsDir, { recursive: true, force: true });
  const instrument = { profileDir, sqlStatsDir };
  const procs: Proc[] = [];
  let db: DbReader | null = null;
  const stopProcesses = async () => {
    // Workers first, so that nothing is mid-send when the server (and its receipts) goes away.
    for (const p of [...procs].reverse()) await p.stop();
  };
  const close = async (keep: boolean) => {
    await stopProcesses();
    await db?.close();
    if (!keep) await dropDatabase(engine);
  };
  try {
    const server = await startServer(env, instrument);
    procs.push(server);
    db = await openReader(engine);
    const api = new Api(server.url, org.apiKey);
    const walletMicros = await ensureFunds(db, org.organizationId, options.messages);
    const sendersAddedVia = await addSenders(api, db, org.organizationId, options.senders);
    const t0 = performance.now();
    const conversations = await createConversations(api, options.leads);
    console.error(
      `${options.leads} leads with conversations in ${((performance.now() - t0) / 1000).toFixed(1)} s; senders via ${sendersAddedVia}`,
    );
    const workers: Proc[] = [];
    for (let i = 0; i < options.workers; i++) {
      const w = await startWorker(i + 1, env, instrument);
      procs.push(w);
      workers.push(w);
    }
    const reader = db;
    return {
      engine,
      env,
      server,
      workers,
      api,
      db: reader,
      organizationId: org.organizationId,
      conversations,
      sendersAddedVia,
      walletMicros,
      profileDir,
      sqlStatsDir,
      stopProcesses,
      close,
    };
  } catch (error) {
    await close(false);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Watching the messages

export interface StatusCounts {
  total: number;
  byStatus: Record<string, number>;
}

/** Outbound SMS events of the organization queued at or after `since` (epoch ms), by status. */
export async function statusCounts(db: DbReader, organizationId: string, since = 0): Promise<StatusCounts> {
  const rows = await db.all<{ status: string | null; n: number | string }>(
    `select status, count(*) as n from events
      where organization_id = $1 and event_type = 'SmsOutbound' and queued_at >= $2 group by status`,
    [organizationId, since],
  );
  const byStatus: Record<string, number> = {};
  let total = 0;
  for (const r of rows) {
    byStatus[r.status ?? "null"] = Number(r.n);
    total += Number(r.n);
  }
  return { total, byStatus };
}

export interface MessageTimes {
  queued_at: number;
  sending_started_at: number | null;
  sent_at: number | null;
  delivered_at: number | null;
  modified_at: number | null;
  status: string | null;
}

export async function messageTimes(db: DbReader, organizationId: string, since = 0): Promise<MessageTimes[]> {
  const rows = await db.all<Record<string, number | string | null>>(
    `select queued_at, sending_started_at, sent_at, delivered_at, modified_at, status from events
      where organization_id = $1 and event_type = 'SmsOutbound' and queued_at >= $2`,
    [organizationId, since],
  );
  const num = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    queued_at: Number(r.queued_at),
    sending_started_at: num(r.sending_started_at),
    sent_at: num(r.sent_at),
    delivered_at: num(r.delivered_at),
    modified_at: num(r.modified_at),
    status: (r.status as string | null) ?? null,
  }));
}

/**
 * Polls (every `everyMs`, at most `maxMs`) until `done(counts)` holds. Returns the last counts, when
 * it was first seen done (or null), and a progress line every ~2 s on stderr.
 */
export async function waitFor(
  db: DbReader,
  organizationId: string,
  since: number,
  done: (c: StatusCounts) => boolean,
  maxMs: number,
  everyMs = 500,
): Promise<{ counts: StatusCounts; doneAt: number | null; polls: number }> {
  const deadline = Date.now() + maxMs;
  let counts = await statusCounts(db, organizationId, since);
  let polls = 1;
  let lastPrint = Date.now();
  while (!done(counts) && Date.now() < deadline) {
    await sleep(everyMs);
    counts = await statusCounts(db, organizationId, since);
    polls++;
    if (Date.now() - lastPrint > 2000) {
      lastPrint = Date.now();
      console.error(`  ${new Date().toISOString().slice(11, 19)} ${JSON.stringify(counts.byStatus)}`);
    }
  }
  return { counts, doneAt: done(counts) ? Date.now() : null, polls };
}

/**
 * Sends `count` messages one at a time (caches, JIT) and waits (≤ 60 s) until they are Delivered.
 * The measured messages are then told apart by queued_at ≥ the time measuring starts.
 */
export async function warmUp(setup: Setup, count: number): Promise<void> {
  if (count === 0) return;
  const since = Date.now();
  for (let i = 0; i < count; i++) {
    const res = await setup.api.call("POST", "/sms/send", {
      conversationId: setup.conversations[i % setup.conversations.length],
      text: "Warm-up message.",
    });
    if (res.status !== 201)
      throw new Error(`warm-up POST /sms/send: ${res.status} ${JSON.stringify(res.json)}`);
  }
  const wait = await waitFor(
    setup.db,
    setup.organizationId,
    since,
    (c) => (c.byStatus.Delivered ?? 0) >= count,
    60_000,
  );
  if (wait.doneAt === null) throw new Error(`warm-up messages not delivered: ${JSON.stringify(wait.counts)}`);
  await sleep(50); // a ms boundary between warm-up and measured messages' queued_at
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: activity counters of the benchmark database, and what its backends wait for

/**
 * Cumulative counters of the benchmark database (pg_stat_database) and of its tables
 * (pg_stat_user_tables). PostgreSQL 15 backends publish them at most once a second and at exit:
 * read the final ones after stopping the leadtrail processes.
 */
export async function pgCounters(db: DbReader): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const [d] = await db.all<Record<string, string>>(
    `select xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted,
            blks_read, blks_hit, deadlocks
       from pg_stat_database where datname = current_database()`,
  );
  for (const [k, v] of Object.entries(d ?? {})) out[`db.${k}`] = Number(v);
  const tables = await db.all<Record<string, string>>(
    "select relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, seq_scan, idx_scan from pg_stat_user_tables",
  );
  for (const t of tables)
    for (const [k, v] of Object.entries(t)) if (k !== "relname") out[`${t.relname}.${k}`] = Number(v ?? 0);
  return out;
}

/** after − before, per message, for the counters that moved. */
export function perMessage(before: Record<string, number>, after: Record<string, number>, messages: number) {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = round(d / messages, 2);
  }
  return out;
}

/** Samples (every 100 ms) what the benchmark database's backends are doing: state and wait event. */
export class PgActivitySampler {
  private readonly counts = new Map<string, number>();
  private readonly waiting = new Map<string, number>();
  samples = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  private constructor(private readonly client: pg.Client) {}

  static async start(): Promise<PgActivitySampler> {
    const client = new pg.Client({ connectionString: `${PG_SERVER}/${PG_DATABASE}` });
    await client.connect();
    const sampler = new PgActivitySampler(client);
    sampler.timer = setInterval(() => void sampler.sample(), 100);
    return sampler;
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const r = await this.client.query<{ key: string; n: string }>(
        `select coalesce(state, '?') || ' / ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') as key,
                count(*) as n
           from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
          group by 1`,
      );
      this.samples++;
      for (const row of r.rows) this.counts.set(row.key, (this.counts.get(row.key) ?? 0) + Number(row.n));
      // Which statements wait for a lock (e.g. the update of a row every message updates).
      const waiting = await this.client.query<{ query: string; n: string }>(
        `select left(regexp_replace(query, '\\s+', ' ', 'g'), 90) as query, count(*) as n
           from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'
          group by 1`,
      );
      for (const row of waiting.rows)
        this.waiting.set(row.query, (this.waiting.get(row.query) ?? 0) + Number(row.n));
    } finally {
      this.busy = false;
    }
  }

  /**
   * Average number of backends in each state / wait event over the samples, and of backends waiting
   * for a lock, by statement.
   */
  async stop(): Promise<{
    byStateAndWait: Record<string, number>;
    waitingForLockByStatement: Record<string, number>;
  }> {
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await sleep(10);
    await this.client.end();
    const average = (m: Map<string, number>) =>
      Object.fromEntries(
        [...m.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => [k, round(n / Math.max(1, this.samples), 2)] as const)
          .filter(([, n]) => n >= 0.01),
      );
    return { byStateAndWait: average(this.counts), waitingForLockByStatement: average(this.waiting) };
  }
}

/** Both of the above over a measured phase (PostgreSQL only). */
export class PgWatch {
  private activity: Awaited<ReturnType<PgActivitySampler["stop"]>> | null = null;

  private constructor(
    private readonly db: DbReader,
    private readonly before: Record<string, number>,
    private readonly sampler: PgActivitySampler,
  ) {}

  static async start(setup: Setup): Promise<PgWatch | null> {
    if (setup.engine !== "postgresql") return null;
    return new PgWatch(setup.db, await pgCounters(setup.db), await PgActivitySampler.start());
  }

  /** Call when the measured phase ends. */
  async stopActivity(): Promise<void> {
    this.activity = await this.sampler.stop();
  }

  /** Call after the leadtrail processes have stopped (so that their counters are published). */
  async result(messages: number) {
    const after = await pgCounters(this.db);
    return {
      backends: this.activity,
      countersPerMessage: perMessage(this.before, after, messages),
      note: "pg_stat counters of the benchmark database over the measured phase ÷ messages; they include this script's polling (one count query every 500 ms)",
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Memory and CPU of processes, from /proc

/**
 * CPU seconds used so far by every PostgreSQL process of the machine: the living ones, plus what the
 * postmaster has collected from the backends that exited (cutime, cstime).
 */
export function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (comm !== "postgres") continue;
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone
    }
  }
  return ticks / CLOCK_TICKS;
}

/** CPU used over a phase: each process, this (load-generator) process, PostgreSQL, everything else. */
export class CpuMeter {
  private readonly machine0 = machineBusySeconds();
  private readonly self0 = process.cpuUsage();
  private readonly procs0: number[];
  private readonly t0 = performance.now();
  private readonly postgres0 = postgresCpuSeconds();

  private readonly written0: number[];

  constructor(private readonly procs: Proc[]) {
    this.procs0 = procs.map((p) => p.sampler.cpuSeconds());
    this.written0 = procs.map((p) => p.sampler.writeBytes());
  }

  read() {
    const elapsed = (performance.now() - this.t0) / 1000;
    const own = process.cpuUsage(this.self0);
    const self = (own.user + own.system) / 1e6;
    const per = this.procs.map((p, i) => p.sampler.cpuSeconds() - this.procs0[i]!);
    const machine = machineBusySeconds() - this.machine0;
    const postgres = postgresCpuSeconds() - this.postgres0;
    const other = machine - self - postgres - per.reduce((a, b) => a + b, 0);
    const pct = (x: number) => Math.max(0, Math.round((x / elapsed) * 100));
    return {
      elapsedSeconds: round(elapsed, 2),
      /** % of one core, per leadtrail process. */
      processes: Object.fromEntries(this.procs.map((p, i) => [p.name, pct(per[i]!)])),
      loadGenerator: pct(self),
      /** Every PostgreSQL process of the machine (other databases' too). */
      postgres: pct(postgres),
      /** Everything else: other people's processes. */
      other: pct(other),
      /** MB each leadtrail process wrote to storage (SQLite: database and WAL files). */
      storageWritesMb: Object.fromEntries(
        this.procs.map((p, i) => [p.name, round((p.sampler.writeBytes() - this.written0[i]!) / 2 ** 20, 1)]),
      ),
      machine: pct(machine),
    };
  }
}

/** Waits (≤ maxSeconds) until processes other than ours (PostgreSQL included) use < maxPercent of a core over 2 s. */
export async function waitForQuiet(maxPercent = 25, maxSeconds = 120): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  let other = 100;
  while (Date.now() < deadline) {
    const meter = new CpuMeter([]);
    await sleep(2000);
    const r = meter.read();
    other = r.other + r.postgres;
    if (other < maxPercent) return other;
    console.error(`waiting for a quieter machine: other processes use ${other}% of a core`);
  }
  return other;
}

// ---------------------------------------------------------------------------------------------
// Statistics, output

export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function distribution(values: number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    count: values.length,
    mean: round(sum / Math.max(1, values.length), 1),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Per-stage durations (ms) of the messages that got that far. */
export function stages(times: MessageTimes[]) {
  const diff = (a: (t: MessageTimes) => number | null, b: (t: MessageTimes) => number | null) =>
    distribution(
      times.flatMap((t) => {
        const x = a(t);
        const y = b(t);
        return x === null || y === null ? [] : [x - y];
      }),
    );
  return {
    /** queued → claimed by a worker (Sending): time waiting in the queue. */
    queuedToSending: diff(
      (t) => t.sending_started_at,
      (t) => t.queued_at,
    ),
    /** Sending → Sent: the provider call and recording its answer. */
    sendingToSent: diff(
      (t) => t.sent_at,
      (t) => t.sending_started_at,
    ),
    /** The figure of the latency target. */
    queuedToSent: diff(
      (t) => t.sent_at,
      (t) => t.queued_at,
    ),
    /** Delivered receipt applied (modified_at of the Delivered transition) minus queued. */
    queuedToDeliveredApplied: diff(
      (t) => (t.status === "Delivered" ? t.modified_at : null),
      (t) => t.queued_at,
    ),
  };
}

/** queued → Sent by when the message was queued: consecutive `sliceSeconds` slices from `t0`. */
export function sentLatencyBySlice(times: MessageTimes[], t0: number, sliceSeconds = 5) {
  const slices = new Map<number, number[]>();
  for (const t of times) {
    if (t.sent_at === null) continue;
    const k = Math.floor((t.queued_at - t0) / 1000 / sliceSeconds);
    const slice = slices.get(k) ?? [];
    slice.push(t.sent_at - t.queued_at);
    slices.set(k, slice);
  }
  return [...slices.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, values]) => {
      const d = distribution(values);
      return { fromSecond: k * sliceSeconds, count: d.count, p50: d.p50, p99: d.p99, max: d.max };
    });
}

// ---------------------------------------------------------------------------------------------
// The measured phase both SMS benchmarks share: POST /sms/send load, and the summary around it

/** How much load to offer: exactly `amount` requests as fast as they are accepted, or a rate for a time. */
export type SmsLoad = { amount: number } | { durationSeconds: number; overallRate: number };

export interface SmsLoadRun {
  posts: AutocannonResult;
  /** Each response's latency (ms), as autocannon measured it. */
  latencies: number[];
  /** Wall clock of the first POST. */
  t0: number;
  /** The same moment on the profiles' clock (monotonic µs). */
  startUs: number;
  meter: CpuMeter;
  cpuPosts: ReturnType<CpuMeter["read"]>;
  pgWatch: PgWatch | null;
}

/**
 * Sends POST /sms/send from this process with autocannon, rotating over the setup's conversations,
 * while metering CPU (and PostgreSQL's backends).
 */
export async function sendSmsLoad(
  setup: Setup,
  procs: Proc[],
  connections: number,
  load: SmsLoad,
  timeoutSeconds: number,
): Promise<SmsLoadRun> {
  const { conversations } = setup;
  let next = 0;
  const latencies: number[] = [];
  const options: AutocannonOptions & { overallRate?: number } = {
    url: setup.server.url,
    connections,
    timeout: timeoutSeconds,
    ...("amount" in load
      ? { amount: load.amount }
      : { duration: load.durationSeconds, overallRate: load.overallRate }),
    requests: [
      {
        method: "POST",
        path: "/sms/send",
        headers: setup.api.headers(),
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({
            conversationId: conversations[next++ % conversations.length],
            text: "Hi, this is Alex from Summit Insurance: your quote is ready.",
          }),
        }),
      },
    ],
  };
  const pgWatch = await PgWatch.start(setup);
  const meter = new CpuMeter(procs);
  const t0 = Date.now();
  const startUs = monotonicUs();
  const instance = autocannon(options);
  instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
  });
  const posts: AutocannonResult = await instance;
  return { posts, latencies, t0, startUs, meter, cpuPosts: meter.read(), pgWatch };
}

/** The part of a summary every SMS benchmark has: what ran, where, on what. */
export function runDescription(
  benchmark: string,
  engine: Engine,
  startedAt: string,
  settings: Record<string, unknown>,
  setup: Setup,
  procs: Proc[],
  otherCpuBeforeStart: number | null,
) {
  return {
    benchmark,
    engine,
    startedAt,
    machine: machine(),
    database: describeDatabase(engine),
    command: `node --import tsx bench/${benchmark}.ts ${process.argv.slice(2).join(" ")}`,
    settings,
    processes: {
      count: procs.length,
      list: procs.map((p) => ({ name: p.name, pid: p.pid, log: p.log })),
      note: "the server's in-process worker also sends",
    },
    sendersAddedVia: setup.sendersAddedVia,
    otherCpuBeforeStart,
  };
}

/** Adds the profile and SQL summaries, writes the result file and prints the summary. */
export function finishRun(
  resultName: string,
  summary: Record<string, unknown>,
  setup: Setup,
  window: [number, number],
  measuredMessages: number,
): void {
  summary.profiles = summarizeProfiles(setup.profileDir, window);
  summary.sqlStatements = summarizeSqlStats(setup.sqlStatsDir, measuredMessages);
  const file = writeResult(resultName, summary);
  console.log(JSON.stringify(summary, null, 2));
  console.error(`wrote ${file}`);
}

export function machine(): Record<string, string | number> {
  return commonMachine(LT_ROOT);
}

export function writeResult(name: string, data: unknown): string {
  return writeResultIn(OUT, name, data);
}

// ---------------------------------------------------------------------------------------------
// V8 CPU profiles (.cpuprofile): where a process spent its time

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function category(url: string, fn: string): string {
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(idle)") return "idle";
  if (fn === "(program)") return "V8/native (program)";
  if (!url) return "native (syscalls such as writev, C++ bindings)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith("node:")) return "node core";
  const m = /\/dist\/(.*)$/.exec(url);
  if (m) return `leadtrail ${m[1]!.split("/").slice(0, 2).join("/")}`;
  return url;
}

export interface ProfileSummary {
  file: string;
  /** Wall time covered by the samples counted (the measured phase), and the part not idle. */
  totalMs: number;
  busyMs: number;
  byCategory: Array<{ category: string; ms: number; pctOfBusy: number }>;
  topSelf: Array<{ fn: string; where: string; ms: number; pctOfBusy: number }>;
  /** Inclusive (self + synchronous callees) time of leadtrail functions: async work after an await is not included. */
  topInclusiveLeadtrail: Array<{ fn: string; where: string; ms: number; pctOfBusy: number }>;
}

/** Microseconds on the monotonic clock V8 profiles use (the same in every process of the machine). */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Summarizes a profile, counting only the samples taken within `window` (monotonic µs) when given. */
export function summarizeProfile(
  file: string,
  window: [number, number] | null = null,
  top = 25,
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window[0] || at > window[1])) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const where = (n: ProfileNode) => {
    const url = n.callFrame.url.replace(/^file:\/\//, "");
    const short = url.includes("/node_modules/")
      ? url.slice(url.lastIndexOf("/node_modules/") + 14)
      : url.startsWith(LT_ROOT)
        ? relative(LT_ROOT, url)
        : url;
    return short ? `${short}:${n.callFrame.lineNumber + 1}` : "";
  };
  const fnKey = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"}\t${where(n)}`;
  let total = 0;
  let idle = 0;
  const cats = new Map<string, number>();
  const selfByFn = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    total += us;
    if (n.callFrame.functionName === "(idle)") idle += us;
    const c = category(n.callFrame.url, n.callFrame.functionName);
    cats.set(c, (cats.get(c) ?? 0) + us);
    const k = fnKey(n);
    selfByFn.set(k, (selfByFn.get(k) ?? 0) + us);
  }
  // Inclusive time: for each sampled node, every distinct leadtrail function on its stack.
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (!n.callFrame.url.includes("/dist/")) continue;
      const k = fnKey(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const ms = (us: number) => round(us / 1000, 0);
  const pct = (us: number) => round((us / Math.max(1, busy)) * 100, 1);
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .filter(([k]) => !k.startsWith("(idle)"))
      .slice(0, top)
      .map(([k, us]) => {
        const [fn, at] = k.split("\t");
        return { fn: fn!, where: at!, ms: ms(us), pctOfBusy: pct(us) };
      });
  return {
    file: relative(ROOT, file),
    totalMs: ms(total),
    busyMs: ms(busy),
    byCategory: [...cats.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([c, us]) => ({ category: c, ms: ms(us), pctOfBusy: c === "idle" ? Number.NaN : pct(us) })),
    topSelf: rows(selfByFn),
    topInclusiveLeadtrail: rows(inclusive),
  };
}

/** Summaries of every .cpuprofile in a directory (one per profiled process). */
export function summarizeProfiles(
  dir: string | null,
  window: [number, number] | null = null,
): ProfileSummary[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .map((f) => summarizeProfile(join(dir, f), window));
}
