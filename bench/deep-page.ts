// Keyset paging depth: POST /events/all/my (pageSize 50, default order createdAt desc) — page 1 vs
// the page reached after following 1,000 continuation tokens, in a 1,000,000-event organization.
//
//   node --import tsx bench/deep-page.ts [--engine sqlite|postgresql|both] [--events N]
//     [--hops 1000] [--repeat 200] [--warmup 20] [--page-size 50] [--reseed] [--cpu-prof] [--no-wait]
//
// --cpu-prof writes a V8 CPU profile of the leadtrail server to bench/out/prof/. Before timing, the
// script waits (up to 2 min) for other processes to leave the CPUs alone; --no-wait skips that.
// The server is a child process on 127.0.0.1; requests are sent one at a time from this process over
// a keep-alive connection and timed with performance.now() (request sent → whole body read). Page 1
// and the deep page are timed alternately, so drift on the machine hits both equally.

import { machine, round, verdict } from "./common.js";
import {
  checkBuild,
  ensureSeeded,
  gcLine,
  intFlag,
  parseFlags,
  type RunningServer,
  startLeadtrail,
  summarize,
  target,
  waitForQuiet,
  withCpuAccounting,
  writeResult,
} from "./lib.js";

const TARGET_RATIO = 1.5;
const TARGET_RSS_MB = 200;

const flags = parseFlags();
const hops = intFlag(flags.values, "hops", 1000);
const repeat = intFlag(flags.values, "repeat", 200);
const warmup = intFlag(flags.values, "warmup", 20);
const pageSize = intFlag(flags.values, "page-size", 50);
if (hops > 100_000 || repeat > 10_000) throw new Error("--hops ≤ 100000 and --repeat ≤ 10000");
const TIME_LIMIT_MS = 15 * 60_000;
const quiet = flags.values.get("no-wait") !== "true";

interface Page {
  items: { id: string; createdAt: string }[];
  continuationToken: string | null;
}

let bytesPerPage = 0;

async function post(server: RunningServer, apiKey: string, body: unknown): Promise<Page> {
  const res = await fetch(`${server.url}/events/all/my`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /events/all/my: ${res.status} ${text.slice(0, 300)}`);
  bytesPerPage = Buffer.byteLength(text);
  return JSON.parse(text) as Page;
}

async function timed(server: RunningServer, apiKey: string, body: unknown): Promise<number> {
  const t0 = performance.now();
  const page = await post(server, apiKey, body);
  const ms = performance.now() - t0;
  if (page.items.length !== pageSize) throw new Error(`expected ${pageSize} items, got ${page.items.length}`);
  return ms;
}

checkBuild();
const report = [];
for (const engine of flags.engines) {
  const t = target(engine, flags.events);
  const seeded = await ensureSeeded(t, flags.reseed);
  if (flags.events < (hops + 1) * pageSize)
    throw new Error(`--events must be at least ${(hops + 1) * pageSize}`);
  const server = await startLeadtrail(t, flags.values.get("cpu-prof") === "true");
  const deadline = Date.now() + TIME_LIMIT_MS;
  try {
    // Walk 1,000 tokens: the token of page k fetches page k+1.
    const firstBody = { pageSize };
    const deepBody: { pageSize: number; continuationToken?: string } = { pageSize };
    let page = await post(server, seeded.apiKey, firstBody);
    let previousLast = page.items.at(-1)!;
    const walkStarted = performance.now();
    for (let hop = 1; hop <= hops; hop++) {
      if (Date.now() > deadline) throw new Error("time limit reached while walking tokens");
      if (!page.continuationToken) throw new Error(`no continuation token after page ${hop}`);
      const token = page.continuationToken;
      page = await post(server, seeded.apiKey, { pageSize, continuationToken: token });
      // Keyset order: the next page starts strictly after the last row of the previous one.
      const head = page.items[0]!;
      if (head.createdAt > previousLast.createdAt || head.id === previousLast.id) {
        throw new Error(`page ${hop + 1} does not continue page ${hop}`);
      }
      previousLast = page.items.at(-1)!;
      if (hop === hops) {
        // The deep request: the 1,000th token, answered with page 1,001.
        deepBody.continuationToken = token;
      }
    }
    const walkSeconds = (performance.now() - walkStarted) / 1000;

    const first: number[] = [];
    const deep: number[] = [];
    for (let i = 0; i < warmup; i++) {
      await timed(server, seeded.apiKey, firstBody);
      await timed(server, seeded.apiKey, deepBody);
    }
    if (quiet) await waitForQuiet();
    const { cpuSeconds, self, other } = await withCpuAccounting([server.sampler], async () => {
      for (let i = 0; i < repeat; i++) {
        if (Date.now() > deadline) throw new Error("time limit reached while timing pages");
        first.push(await timed(server, seeded.apiKey, firstBody));
        deep.push(await timed(server, seeded.apiKey, deepBody));
      }
    });
    const serverCpuMsPerRequest = round((cpuSeconds[0]! * 1000) / (2 * repeat), 3);
    const firstMs = summarize(first);
    const deepMs = summarize(deep);
    const ratio = round(deepMs.p50 / firstMs.p50, 3);
    const entry = {
      engine,
      events: flags.events,
      database: t.describe,
      settings: { hops, repeat, warmup, pageSize },
      walk: {
        pages: hops,
        seconds: round(walkSeconds, 2),
        msPerPage: round((walkSeconds * 1000) / hops, 3),
      },
      bytesPerPage,
      serverCpuMsPerRequest,
      clientCpuPercent: self,
      otherProcessesCpuPercent: other,
      firstPageMs: firstMs,
      deepPageMs: deepMs,
      ratioP50: ratio,
      ratioMean: round(deepMs.mean / firstMs.mean, 3),
      targetRatio: TARGET_RATIO,
      ratioMet: ratio <= TARGET_RATIO,
      cpuProfile: flags.values.get("cpu-prof") === "true",
      leadtrailMaxRssMb: server.sampler.maxRssMb,
      leadtrailGc: server.gc(),
      rssSamples: server.sampler.samples,
      rssMet: server.sampler.maxRssMb < TARGET_RSS_MB,
    };
    report.push(entry);
    console.log(
      `\n[${engine}] POST /events/all/my pageSize ${pageSize}, ${flags.events} events; ` +
        `walked ${hops} tokens in ${entry.walk.seconds} s (${entry.walk.msPerPage} ms/page)\n` +
        `  page 1     p50 ${firstMs.p50} ms  mean ${firstMs.mean} ms  p99 ${firstMs.p99} ms  (n=${firstMs.count})\n` +
        `  page ${hops + 1}  p50 ${deepMs.p50} ms  mean ${deepMs.mean} ms  p99 ${deepMs.p99} ms  (n=${deepMs.count})\n` +
        `  ${bytesPerPage} B per page, server CPU ${serverCpuMsPerRequest} ms per request (both pages); ` +
        `other processes used ${other}% of a core meanwhile\n` +
        `  ratio (p50) ${ratio}, (mean) ${entry.ratioMean} — target ≤ ${TARGET_RATIO} ${verdict(entry.ratioMet)}\n` +
        `  leadtrail max RSS ${entry.leadtrailMaxRssMb} MB (${entry.rssSamples} samples) — target < ${TARGET_RSS_MB} MB ${verdict(entry.rssMet)}` +
        gcLine(entry.leadtrailGc),
    );
  } finally {
    await server.stop();
  }
}
const file = writeResult(`deep-page-${flags.engines.join("+")}-${flags.events}`, {
  date: new Date().toISOString(),
  machine: machine(),
  report,
});
console.log(`results: ${file}`);
