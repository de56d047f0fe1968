// bench-seed throughput: `leadtrail bench-seed --events N` into a brand-new database per engine.
//
//   node --import tsx bench/seed.ts [--engine sqlite|postgresql|both] [--events N]
//
// Always seeds afresh (this is the measurement); the database it leaves behind (bench/out/*.db or
// the PostgreSQL database leadtrail_bench_<N>) is what the other benchmarks reuse.

import { cpus } from "node:os";
import { machine, verdict } from "./common.js";
import { checkBuild, parseFlags, seed, target, writeResult } from "./lib.js";

const SQLITE_TARGET_EVENTS_PER_S = 100_000;

const flags = parseFlags();
checkBuild();
const results = [];
for (const engine of flags.engines) {
  const t = target(engine, flags.events);
  const s = await seed(t);
  const seconds = s.seedSeconds ?? s.wallSeconds;
  const perSecond = Math.round(flags.events / seconds);
  const result = {
    engine,
    events: flags.events,
    database: t.describe,
    seedSeconds: s.seedSeconds,
    eventsPerSecond: perSecond,
    wallSeconds: Math.round(s.wallSeconds * 100) / 100,
    wallEventsPerSecond: Math.round(flags.events / s.wallSeconds),
    seederMaxRssMb: s.seederMaxRssMb,
    seederCpuSeconds: s.seederCpuSeconds,
    machineCpuSeconds: s.machineCpuSeconds,
    postSeed: s.postSeed,
    target: engine === "sqlite" ? `>= ${SQLITE_TARGET_EVENTS_PER_S} events/s` : "none (recorded only)",
    targetMet: engine === "sqlite" ? perSecond >= SQLITE_TARGET_EVENTS_PER_S : null,
  };
  results.push(result);
  console.log(
    `${engine}: ${flags.events} events in ${seconds.toFixed(2)} s = ${perSecond} events/s ` +
      `(process wall ${s.wallSeconds.toFixed(2)} s = ${result.wallEventsPerSecond} events/s; ` +
      `seeder max RSS ${s.seederMaxRssMb} MB; CPU: seeder ${s.seederCpuSeconds} s, ` +
      `whole machine ${s.machineCpuSeconds} s of ${Math.round(s.wallSeconds * cpus().length)} available)` +
      (engine === "sqlite"
        ? ` — target ≥ ${SQLITE_TARGET_EVENTS_PER_S}/s ${verdict(result.targetMet!)}`
        : ""),
  );
}
const file = writeResult(`seed-${flags.engines.join("+")}-${flags.events}`, {
  date: new Date().toISOString(),
  machine: machine(),
  results,
});
console.log(`results: ${file}`);
