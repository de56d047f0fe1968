// SMS throughput: --messages N sends (default 20,000) posted to POST /sms/send as fast as
// --connections autocannon connections (default 50) go, to --leads leads, through the built-in
// simulator provider (receipts included). Measured: first POST to last Delivered, in messages/s.
// Target: 1,000/s on SQLite, 500/s on PostgreSQL (serve + --workers worker processes, default 2),
// with every accepted message Delivered once.
//
//   node --import tsx bench/sms-throughput.ts --engine sqlite|postgresql [--messages 20000]
//     [--leads 2000] [--connections 50] [--workers N] [--senders 1] [--warmup 0] [--max-wait 600]
//     [--quiet-wait 300 | --no-wait] [--cpu-prof] [--sql-stats] [--keep]
//
// Each run uses a fresh database (bench/out/sms/lt-sms-bench.db or PostgreSQL database lt_sms_bench)
// and drops it afterwards unless --keep. Results: bench/out/sms/results/throughput-<engine>.json.

import { round, verdict } from "./common.js";
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
  statusCounts,
  waitFor,
  waitForQuiet,
  warmUp,
} from "./sms-lib.js";

const TARGET = { sqlite: 1000, postgresql: 500 } as const;
const PENDING = ["Queued", "Scheduled", "Sending", "Sent"];

const flags = new Flags();
const engine = flags.engine();
const settings = {
  messages: flags.int("messages", 20_000, 1, 1_000_000),
  leads: flags.int("leads", 2_000, 1, 100_000),
  connections: flags.int("connections", 50, 1, 1000),
  workers: flags.int("workers", engine === "postgresql" ? 2 : 0, 0, 16),
  senders: flags.int("senders", 1, 1, 100),
  warmup: flags.int("warmup", 0, 0, 1000),
  maxWaitSeconds: flags.int("max-wait", 600, 1, 3600),
};
const cpuProf = flags.bool("cpu-prof");
const sqlStats = flags.bool("sql-stats");
const keep = flags.bool("keep");
if (settings.connections > settings.messages) settings.connections = settings.messages;

// The machine may be shared: wait (≤ --quiet-wait s) until other processes use < 25% of a core.
const otherBefore = flags.bool("no-wait")
  ? null
  : await waitForQuiet(25, flags.int("quiet-wait", 300, 1, 3600));
const startedAt = new Date().toISOString();
console.error(`sms-throughput on ${engine}: ${JSON.stringify(settings)}`);
const setup = await setUp({
  engine,
  workers: settings.workers,
  leads: settings.leads,
  senders: settings.senders,
  messages: settings.messages,
  profileName: cpuProf ? `throughput-${engine}` : null,
  sqlStatsName: sqlStats ? `throughput-${engine}` : null,
});

let summary: Record<string, unknown>;
let measured = 0;
/** The measured phase on the profiles' clock: first POST to every message settled. */
const window: [number, number] = [0, 0];
try {
  await warmUp(setup, settings.warmup);
  const procs = [setup.server, ...setup.workers];
  for (const p of procs) p.sampler.resetMax();
  const { posts, latencies, t0, startUs, meter, cpuPosts, pgWatch } = await sendSmsLoad(
    setup,
    procs,
    settings.connections,
    { amount: settings.messages },
    60,
  );
  window[0] = startUs;
  const postsDoneAt = Date.now();
  const atPostsDone = await statusCounts(setup.db, setup.organizationId, t0);
  console.error(
    `${posts["2xx"]} accepted in ${posts.duration} s (${posts.non2xx} non-2xx, ${posts.errors} errors); at that point ${JSON.stringify(atPostsDone.byStatus)}`,
  );
  const accepted = posts["2xx"];
  measured = accepted;
  const settled = (c: StatusCounts) =>
    c.total >= accepted && PENDING.every((s) => (c.byStatus[s] ?? 0) === 0);
  const wait = await waitFor(setup.db, setup.organizationId, t0, settled, settings.maxWaitSeconds * 1000);
  window[1] = monotonicUs();
  const cpuAll = meter.read();
  await pgWatch?.stopActivity();
  const times = await messageTimes(setup.db, setup.organizationId, t0);
  const delivered = times.filter((t) => t.status === "Delivered");
  const lastDelivered = delivered.reduce((m, t) => Math.max(m, t.modified_at ?? 0), 0);
  const firstQueued = times.reduce((m, t) => Math.min(m, t.queued_at), Number.POSITIVE_INFINITY);
  const lastQueued = times.reduce((m, t) => Math.max(m, t.queued_at), 0);
  const e2eSeconds = (lastDelivered - t0) / 1000;
  const postLatency = distribution(latencies);
  const acceptedPerSecond = accepted / posts.duration;
  const deliveredPerSecond = delivered.length / e2eSeconds;
  const allDelivered = delivered.length === settings.messages;
  const rss = Object.fromEntries(procs.map((p) => [p.name, { maxMb: p.sampler.maxRssMb }]));

  summary = {
    ...runDescription("sms-throughput", engine, startedAt, settings, setup, procs, otherBefore),
    posts: {
      sent: posts.requests.sent,
      accepted,
      non2xx: posts.non2xx,
      errors: posts.errors,
      timeouts: posts.timeouts,
      durationSeconds: posts.duration,
      acceptedPerSecond: round(acceptedPerSecond, 0),
      latencyMs: {
        p50: round(postLatency.p50, 2),
        p95: round(postLatency.p95, 2),
        p99: round(postLatency.p99, 2),
        max: round(postLatency.max, 2),
        mean: postLatency.mean,
      },
      statusAtPostsDone: atPostsDone.byStatus,
      queuedSpanSeconds: round((lastQueued - firstQueued) / 1000, 2),
    },
    delivery: {
      delivered: delivered.length,
      allDelivered,
      finalCounts: wait.counts.byStatus,
      /** first POST → last Delivered transition (modified_at, written in the receipt's transaction). */
      endToEndSeconds: round(e2eSeconds, 2),
      deliveredPerSecond: round(deliveredPerSecond, 0),
      /** first POST → the poll that first saw every message settled (≤ 500 ms late). */
      observedSettledSeconds: wait.doneAt ? round((wait.doneAt - t0) / 1000, 2) : null,
      drainAfterPostsSeconds: round((lastDelivered - postsDoneAt) / 1000, 2),
      stagesMs: stages(times),
      queuedToSentBy10s: sentLatencyBySlice(times, t0, 10),
    },
    cpu: { duringPosts: cpuPosts, wholeRun: cpuAll },
    rssMb: rss,
    postgresql: await (async () => {
      await setup.stopProcesses();
      return pgWatch ? pgWatch.result(accepted) : undefined;
    })(),
    target: {
      deliveredPerSecond: TARGET[engine],
      met: allDelivered && deliveredPerSecond >= TARGET[engine],
      verdict: verdict(allDelivered && deliveredPerSecond >= TARGET[engine]),
    },
  };
} finally {
  await setup.close(keep);
}
finishRun(
  `throughput-${engine}${cpuProf ? "-prof" : ""}${sqlStats ? "-sql" : ""}`,
  summary,
  setup,
  window,
  measured,
);
