// SMS queue latency (issue 3): offer a steady --rate messages/s (default 200) through POST /sms/send
// for --duration s (default 30) and measure, from the database, sent_at − queued_at of every one of
// those messages: how long a message waits before the provider has accepted it. Target: p99 < 250 ms.
//
//   node --import tsx bench/sms-latency.ts --engine sqlite|postgresql [--rate 200] [--duration 30]
//     [--connections 20] [--leads 2000] [--workers N] [--senders 1] [--max-wait 300]
//     [--warmup 0] [--cpu-prof] [--sql-stats] [--keep] [--no-wait] [--quiet-wait 300]
//
// Same setup and topology as bench/sms-throughput.ts (one `serve`, plus --workers `leadtrail worker`
// processes on PostgreSQL, default 2). autocannon runs in this process with overallRate = --rate
// (spread over --connections connections, so that a slow response does not lower the offered rate).
// queued_at is stamped by POST /sms/send as it writes the message; sent_at by the worker in the
// transaction that records the provider's acceptance. The stages (queued → Sending → Sent →
// Delivered applied) are reported too, to show where the time goes.

import autocannon, { type AutocannonOptions, type AutocannonResult } from "autocannon";
import {
  CpuMeter,
  describeDatabase,
  distribution,
  Flags,
  machine,
  messageTimes,
  monotonicUs,
  PgWatch,
  round,
  type StatusCounts,
  sentLatencyBySlice,
  setUp,
  sleep,
  stages,
  summarizeProfiles,
  summarizeSqlStats,
  verdict,
  waitFor,
  waitForQuiet,
  warmUp,
  writeResult,
} from "./sms-lib.js";

const TARGET_P99_MS = 250;
const PENDING = ["Queued", "Scheduled", "Sending"];

const flags = new Flags();
const engine = flags.engine();
const settings = {
  rate: flags.int("rate", 200, 1, 10_000),
  durationSeconds: flags.int("duration", 30, 1, 600),
  connections: flags.int("connections", 20, 1, 1000),
  leads: flags.int("leads", 2_000, 1, 100_000),
  workers: flags.int("workers", engine === "postgresql" ? 2 : 0, 0, 16),
  senders: flags.int("senders", 1, 1, 100),
  warmup: flags.int("warmup", 0, 0, 1000),
  maxWaitSeconds: flags.int("max-wait", 300, 1, 3600),
};
const cpuProf = flags.bool("cpu-prof");
const sqlStats = flags.bool("sql-stats");
const keep = flags.bool("keep");

// The machine may be shared: wait (≤ --quiet-wait s) until other processes use < 25% of a core.
const otherBefore = flags.bool("no-wait")
  ? null
  : await waitForQuiet(25, flags.int("quiet-wait", 300, 1, 3600));
const startedAt = new Date().toISOString();
console.error(`sms-latency on ${engine}: ${JSON.stringify(settings)}`);
const setup = await setUp({
  engine,
  workers: settings.workers,
  leads: settings.leads,
  senders: settings.senders,
  messages: settings.rate * settings.durationSeconds,
  profileName: cpuProf ? `latency-${engine}` : null,
  sqlStatsName: sqlStats ? `latency-${engine}` : null,
});

let summary: Record<string, unknown>;
let measured = 0;
const window: [number, number] = [0, 0];
try {
  await warmUp(setup, settings.warmup);
  const procs = [setup.server, ...setup.workers];
  for (const p of procs) p.sampler.resetMax();
  const { conversations } = setup;
  let next = 0;
  const latencies: number[] = [];
  const options: AutocannonOptions & { overallRate: number } = {
    url: setup.server.url,
    connections: settings.connections,
    duration: settings.durationSeconds,
    overallRate: settings.rate,
    timeout: 30,
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
  window[0] = monotonicUs();
  const instance = autocannon(options);
  instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
  });
  const posts: AutocannonResult = await instance;
  const cpuPosts = meter.read();
  const accepted = posts["2xx"];
  measured = accepted;
  console.error(
    `${accepted} accepted in ${posts.duration} s (${posts.non2xx} non-2xx, ${posts.errors} errors)`,
  );
  // Every message handed to the provider (or ended otherwise): sent_at is then known.
  const sent = (c: StatusCounts) => c.total >= accepted && PENDING.every((s) => (c.byStatus[s] ?? 0) === 0);
  let wait = await waitFor(setup.db, setup.organizationId, t0, sent, settings.maxWaitSeconds * 1000);
  // Requests still in flight when autocannon stopped are queued a little later: let them settle too.
  await sleep(1000);
  wait = await waitFor(setup.db, setup.organizationId, t0, sent, settings.maxWaitSeconds * 1000);
  window[1] = monotonicUs();
  const cpuAll = meter.read();
  await pgWatch?.stopActivity();
  const times = await messageTimes(setup.db, setup.organizationId, t0);
  const byStage = stages(times);
  const q = byStage.queuedToSent;
  const postLatency = distribution(latencies);
  // Every message queued since the start has its sent_at (≥: requests in flight when autocannon's
  // duration ended were queued, but it does not count them).
  const allSent = q.count === times.length && q.count >= accepted && accepted > 0;
  const met = allSent && q.p99 < TARGET_P99_MS;
  summary = {
    benchmark: "sms-latency",
    engine,
    startedAt,
    machine: machine(),
    database: describeDatabase(engine),
    command: `node --import tsx bench/sms-latency.ts ${process.argv.slice(2).join(" ")}`,
    settings,
    processes: {
      count: procs.length,
      list: procs.map((p) => ({ name: p.name, pid: p.pid, log: p.log })),
      note: "the server's in-process worker also sends",
    },
    sendersAddedVia: setup.sendersAddedVia,
    otherCpuBeforeStart: otherBefore,
    posts: {
      sent: posts.requests.sent,
      accepted,
      non2xx: posts.non2xx,
      errors: posts.errors,
      durationSeconds: posts.duration,
      achievedRatePerSecond: round(accepted / posts.duration, 1),
      latencyMs: {
        p50: round(postLatency.p50, 2),
        p95: round(postLatency.p95, 2),
        p99: round(postLatency.p99, 2),
        max: round(postLatency.max, 2),
      },
    },
    messages: {
      finalCounts: wait.counts.byStatus,
      queued: times.length,
      withSentAt: q.count,
      queuedToSentMs: { p50: q.p50, p95: q.p95, p99: q.p99, max: q.max, mean: q.mean },
      stagesMs: byStage,
      /** queued → Sent of the messages queued in each 5 s of the run (cold start vs steady state). */
      queuedToSentBy5s: sentLatencyBySlice(times, t0),
    },
    cpu: { duringPosts: cpuPosts, wholeRun: cpuAll },
    rssMb: Object.fromEntries(procs.map((p) => [p.name, { maxMb: p.sampler.maxRssMb }])),
    postgresql: await (async () => {
      await setup.stopProcesses();
      return pgWatch ? pgWatch.result(accepted) : undefined;
    })(),
    target: { p99Ms: TARGET_P99_MS, met, verdict: verdict(met) },
  };
} finally {
  await setup.close(keep);
}
summary.profiles = summarizeProfiles(setup.profileDir, window);
summary.sqlStatements = summarizeSqlStats(setup.sqlStatsDir, measured);
const file = writeResult(`latency-${engine}${cpuProf ? "-prof" : ""}${sqlStats ? "-sql" : ""}`, summary);
console.log(JSON.stringify(summary, null, 2));
console.error(`wrote ${file}`);
