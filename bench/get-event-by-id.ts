// GET /events/{eventId} at random ids of a 1,000,000-event organization, against a bare Fastify
// server answering the same path with a constant object, same autocannon settings, same run.
//
//   node --import tsx bench/get-event-by-id.ts [--engine sqlite|postgresql|both] [--events N]
//     [--connections 10] [--pipelining 1] [--duration 10] [--warmup 3] [--rounds 3] [--ids 50000]
//     [--reseed] [--cpu-prof] [--no-wait] [--ladder]
//
// --ladder adds two more bare servers to every round, to show where the gap comes from: one that sends
// a real leadtrail event record as a constant (payload size), one that does the same primary-key read
// as leadtrail with the bare driver (database). The target ratio is always leadtrail / bare constant.
// --cpu-prof writes a V8 CPU profile of the leadtrail server to bench/out/prof/. Before each round the
// script waits (up to 2 min) for other processes to leave the CPUs alone; --no-wait skips that.
// Both servers are child processes on 127.0.0.1; autocannon runs in this process. Rounds alternate
// bare / leadtrail so that drift on the machine hits both; the reported figures are those of the round
// with the median ratio.
// Latency percentiles come from every response's own timing (autocannon's 'response' event,
// hrtime-based), since autocannon's histogram only resolves whole milliseconds.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { machine, round, verdict } from "./common.js";
import {
  checkBuild,
  ensureSeeded,
  gcLine,
  intFlag,
  type LoadMeasurement,
  loadFailed,
  loadLine,
  measureLoad,
  OUT,
  parseFlags,
  type RunningServer,
  sampleEventIds,
  startBareFastify,
  startLeadtrail,
  target,
  waitForQuiet,
  writeResult,
} from "./lib.js";

const TARGET_RATIO = 0.75;
const TARGET_RSS_MB = 200;

const flags = parseFlags();
const settings = {
  connections: intFlag(flags.values, "connections", 10),
  pipelining: intFlag(flags.values, "pipelining", 1),
  duration: intFlag(flags.values, "duration", 10),
  warmup: intFlag(flags.values, "warmup", 3),
  rounds: intFlag(flags.values, "rounds", 3),
  ids: intFlag(flags.values, "ids", 50_000),
};
const quiet = flags.values.get("no-wait") !== "true";
if (settings.duration > 120 || settings.rounds > 10) throw new Error("--duration ≤ 120 s and --rounds ≤ 10");

interface Measured extends LoadMeasurement {
  server: string;
}

async function load(server: RunningServer, ids: string[], headers: Record<string, string>, seconds: number) {
  const measured = await measureLoad(server, {
    connections: settings.connections,
    pipelining: settings.pipelining,
    duration: seconds,
    timeout: 10,
    headers,
    requests: [
      {
        method: "GET",
        setupRequest: (request) => ({
          ...request,
          path: `/events/${ids[Math.floor(Math.random() * ids.length)]}`,
        }),
      },
    ],
  });
  return { server: server.name, ...measured } satisfies Measured;
}

async function check(server: RunningServer, path: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`${server.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${server.name} GET ${path}: ${res.status} ${text.slice(0, 300)}`);
}

function line(m: Measured): string {
  return loadLine(m.server, m, 24);
}

checkBuild();
const ladder = flags.values.get("ladder") === "true";
const cpuProfile = flags.values.get("cpu-prof") === "true";
const report = [];
for (const engine of flags.engines) {
  const t = target(engine, flags.events);
  const seeded = await ensureSeeded(t, flags.reseed);
  const ids = await sampleEventIds(t, seeded.organizationId, settings.ids);
  if (ids.length === 0) throw new Error(`no events in organization ${seeded.organizationId}`);
  console.error(`${engine}: ${ids.length} random event ids sampled`);
  const auth = { authorization: `Bearer ${seeded.apiKey}` };

  const app = await startLeadtrail(t, cpuProfile);
  const servers: { server: RunningServer; headers: Record<string, string> }[] = [];
  const rounds: Record<string, Measured>[] = [];
  try {
    servers.push({ server: await startBareFastify(), headers: {} });
    if (ladder) {
      // A real record as leadtrail sends it, served as a constant; then the bare database read.
      const res = await fetch(`${app.url}/events/${ids[0]}`, { headers: auth });
      const payload = join(OUT, `record-${engine}.json`);
      writeFileSync(payload, await res.text());
      servers.push({
        server: await startBareFastify("bare + record payload", {
          BARE_MODE: "record",
          BARE_PAYLOAD_FILE: payload,
        }),
        headers: {},
      });
      servers.push({
        server: await startBareFastify(
          `bare + ${engine} lookup`,
          { ...t.env, BARE_MODE: "lookup", BARE_ORGANIZATION_ID: seeded.organizationId },
          `/events/${ids[0]}`,
        ),
        headers: {},
      });
    }
    servers.push({ server: app, headers: auth });
    for (const { server, headers } of servers) {
      await check(server, `/events/${ids[0]}`, headers);
      await load(server, ids, headers, settings.warmup);
    }
    for (let r = 0; r < settings.rounds; r++) {
      if (quiet) await waitForQuiet();
      const measured: Record<string, Measured> = {};
      console.error(`round ${r + 1}/${settings.rounds}`);
      for (const { server, headers } of servers) {
        const m = await load(server, ids, headers, settings.duration);
        if (loadFailed(m)) throw new Error(`${server.name} answered errors: ${line(m)}`);
        measured[server === app ? "leadtrail" : m.server] = m;
        console.error(`  ${line(m)}`);
      }
      rounds.push(measured);
    }
  } finally {
    for (const { server } of servers.reverse()) await server.stop();
    await app.stop();
  }

  // The round with the median ratio leadtrail / bare constant: its figures are the ones reported.
  const bareName = "bare fastify";
  const ratioOf = (r: Record<string, Measured>) =>
    r.leadtrail!.requestsPerSecond / r[bareName]!.requestsPerSecond;
  const ratios = rounds.map(ratioOf);
  const mid = [...rounds].sort((x, y) => ratioOf(x) - ratioOf(y))[Math.floor(rounds.length / 2)]!;
  const ratio = round(ratioOf(mid), 3);
  const bare = mid[bareName]!;
  const lead = mid.leadtrail!;
  const entry = {
    engine,
    events: flags.events,
    database: t.describe,
    settings,
    cpuProfile,
    bareRequestsPerSecond: bare.requestsPerSecond,
    leadtrailRequestsPerSecond: lead.requestsPerSecond,
    ratio,
    ratioPerRound: ratios.map((x) => round(x, 3)),
    targetRatio: TARGET_RATIO,
    ratioMet: ratio >= TARGET_RATIO,
    latencyMs: { bare: bare.latencyMs, leadtrail: lead.latencyMs },
    serverCpuMicrosPerRequest: Object.fromEntries(
      Object.entries(mid).map(([name, m]) => [name, m.serverCpuMicrosPerRequest]),
    ),
    leadtrailMaxRssMb: app.sampler.maxRssMb,
    leadtrailGc: app.gc(),
    rssSamples: app.sampler.samples,
    rssMet: app.sampler.maxRssMb < TARGET_RSS_MB,
    rounds,
  };
  report.push(entry);
  console.log(
    `\n[${engine}] GET /events/{id}, ${flags.events} events, ${settings.connections} connections, ` +
      `pipelining ${settings.pipelining}, ${settings.duration} s × ${settings.rounds} rounds (the round with the median ratio)\n` +
      Object.values(mid)
        .map((m) => `  ${line(m)}\n`)
        .join("") +
      `  ratio leadtrail / bare fastify ${ratio} (rounds ${entry.ratioPerRound.join(", ")}) — target ≥ ${TARGET_RATIO} ${verdict(entry.ratioMet)}\n` +
      `  leadtrail max RSS ${entry.leadtrailMaxRssMb} MB (${entry.rssSamples} samples) — target < ${TARGET_RSS_MB} MB ${verdict(entry.rssMet)}` +
      gcLine(entry.leadtrailGc) +
      (cpuProfile ? " (with --cpu-prof: the profiler's own memory included)" : ""),
  );
}
const file = writeResult(`get-event-by-id-${flags.engines.join("+")}-${flags.events}`, {
  date: new Date().toISOString(),
  machine: machine(),
  report,
});
console.log(`results: ${file}`);
