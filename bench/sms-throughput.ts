// SMS throughput (issue 3): N messages (default 20,000) through POST /sms/send to Delivered with the
// simulator provider.
//
//   node --import tsx bench/sms-throughput.ts --engine sqlite|postgresql [--messages 20000]
//     [--leads 2000] [--connections 50] [--workers N] [--senders 1] [--max-wait 600]
//     [--warmup 0] [--cpu-prof] [--sql-stats] [--keep] [--no-wait] [--quiet-wait 300]
//
// Topology: one `leadtrail serve` (its in-process worker sends) and, on PostgreSQL, --workers
// `leadtrail worker` processes besides it (default 2; 0 on SQLite). Each run starts from a new
// database (bench/out/sms/lt-sms-bench.db, or PostgreSQL database lt_sms_bench), dropped at the end
// unless --keep. Setup: an organization (`leadtrail org create`), a funded wallet, sender number(s)
// with a 10DLC campaign, --leads leads with their conversations (recipients never end in a simulator
// failure scenario). Then autocannon (in this process) sends exactly --messages POST /sms/send,
// rotating over the conversations, as fast as the server accepts them on --connections connections,
// and the database is polled (every 500 ms, at most --max-wait s) until all are Delivered.
//
// Figures: accepted/s = 2xx responses ÷ the autocannon run; end-to-end delivered/s = messages ÷
// (last Delivered transition's modified_at − first POST), POST latency percentiles from each response
// (hrtime), max RSS of each leadtrail process during the measured phase, CPU per process. --cpu-prof
// profiles every leadtrail process and summarizes the profiles (bench/out/sms/prof/).

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
  stages,
  statusCounts,
  summarizeProfiles,
  summarizeSqlStats,
  verdict,
  waitFor,
  waitForQuiet,
  warmUp,
  writeResult,
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
  const { conversations } = setup;
  let next = 0;
  const latencies: number[] = [];
  const options: AutocannonOptions = {
    url: setup.server.url,
    connections: settings.connections,
    amount: settings.messages,
    timeout: 60,
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
  const postsDoneAt = Date.now();
  const cpuPosts = meter.read();
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
    benchmark: "sms-throughput",
    engine,
    startedAt,
    machine: machine(),
    database: describeDatabase(engine),
    command: `node --import tsx bench/sms-throughput.ts ${process.argv.slice(2).join(" ")}`,
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
summary.profiles = summarizeProfiles(setup.profileDir, window);
summary.sqlStatements = summarizeSqlStats(setup.sqlStatsDir, measured);
const file = writeResult(`throughput-${engine}${cpuProf ? "-prof" : ""}${sqlStats ? "-sql" : ""}`, summary);
console.log(JSON.stringify(summary, null, 2));
console.error(`wrote ${file}`);
