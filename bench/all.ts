// Every benchmark, both engines, one after the other, then one summary table.
//
//   node --import tsx bench/all.ts [--engine sqlite|postgresql|both] [--events N] [--seed]
//
// --seed measures bench-seed first (fresh databases); without it the seeded databases in bench/out
// (or leadtrail_bench_<N>) are reused, and seeded only when missing. Other flags are passed on to
// get-event-by-id and deep-page (e.g. --rounds 5, --ladder).

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./common.js";
import { OUT, parseFlags } from "./lib.js";

const flags = parseFlags();
const pass: string[] = [];
for (const [k, v] of flags.values) if (k !== "seed" && k !== "reseed") pass.push(`--${k}`, v);

function run(script: string, args: string[]): void {
  console.error(`\n$ node --import tsx bench/${script}.ts ${args.join(" ")}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench", `${script}.ts`), ...args], {
    cwd: ROOT,
    stdio: "inherit",
    timeout: 60 * 60_000,
  });
  if (r.status !== 0) throw new Error(`bench/${script}.ts failed (${r.status ?? r.signal})`);
}

const engines = flags.engines.join("+");
if (flags.values.get("seed") === "true" || flags.reseed) {
  run("seed", [
    "--engine",
    flags.engines.length === 2 ? "both" : flags.engines[0]!,
    "--events",
    `${flags.events}`,
  ]);
}
run("get-event-by-id", pass);
run("deep-page", pass);

// Summary from the result files the two scripts just wrote.
interface ByIdEntry {
  engine: string;
  leadtrailRequestsPerSecond: number;
  bareRequestsPerSecond: number;
  ratio: number;
  latencyMs: { leadtrail: { p50: number; p99: number } };
  leadtrailMaxRssMb: number;
}
interface DeepEntry {
  engine: string;
  firstPageMs: { p50: number };
  deepPageMs: { p50: number };
  ratioP50: number;
  leadtrailMaxRssMb: number;
}
function read<T>(name: string): T[] {
  const file = join(OUT, "results", `${name}-${engines}-${flags.events}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { report: T[] }).report : [];
}
const byId = read<ByIdEntry>("get-event-by-id");
const deep = read<DeepEntry>("deep-page");
const rows: string[] = [
  "| engine | GET by id req/s (bare) | ratio (≥ 0.75) | p50 / p99 ms | page 1 / page 1001 p50 ms | ratio (≤ 1.5) | max RSS MB (< 200) |",
  "|---|---|---|---|---|---|---|",
];
for (const engine of flags.engines) {
  const g = byId.find((e) => e.engine === engine);
  const d = deep.find((e) => e.engine === engine);
  rows.push(
    `| ${engine} | ${g ? `${g.leadtrailRequestsPerSecond} (${g.bareRequestsPerSecond})` : "–"} | ${g?.ratio ?? "–"} | ` +
      `${g ? `${g.latencyMs.leadtrail.p50} / ${g.latencyMs.leadtrail.p99}` : "–"} | ` +
      `${d ? `${d.firstPageMs.p50} / ${d.deepPageMs.p50}` : "–"} | ${d?.ratioP50 ?? "–"} | ` +
      `${Math.max(g?.leadtrailMaxRssMb ?? 0, d?.leadtrailMaxRssMb ?? 0)} |`,
  );
}
console.log(`\n${rows.join("\n")}`);
