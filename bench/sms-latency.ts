// SMS latency: a steady --rate (default 200 messages/s) for --duration seconds (default 30), and the
// time each message takes from queued to Sent (handed to the provider). Target: p99 < 250 ms.
//
//   node --import tsx bench/sms-latency.ts --engine sqlite|postgresql [--rate 200] [--duration 30]
//     [--connections 20] [--leads 2000] [--workers N] [--senders 1] [--warmup 0] [--max-wait 300]
//     [--quiet-wait 300 | --no-wait] [--cpu-prof] [--sql-stats] [--keep]
//
// Same set-up as sms-throughput.ts (fresh database, simulator provider). Results:
// bench/out/sms/results/latency-<engine>.json.

import { round, sleep, verdict } from "./common.js";
import {
  distribution,
  Flags,
  finishRun,
  messageTimes,
  monotonicUs,
  runDescription,
  type StatusCounts,
  sendSmsLoad,
  sentLatencyBySlice,
  setUp,
  stages,
  waitFor,
  waitForQuiet,
  warmUp,
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
  const { posts, latencies, t0, startUs, meter, cpuPosts, pgWatch } = await sendSmsLoad(
    setup,
    procs,
    settings.connections,
    { durationSeconds: settings.durationSeconds, overallRate: settings.rate },
    30,
  );
  window[0] = startUs;
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
    ...runDescription("sms-latency", engine, startedAt, settings, setup, procs, otherBefore),
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
finishRun(
  `latency-${engine}${cpuProf ? "-prof" : ""}${sqlStats ? "-sql" : ""}`,
  summary,
  setup,
  window,
  measured,
);
