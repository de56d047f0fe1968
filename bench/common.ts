// What every benchmark shares: the project's paths, ports and child environments, /proc readings of
// a process's memory and CPU and of the whole machine, statistics, and the result files.
// bench/lib.ts (the event-store benchmarks) and bench/sms-lib.ts (the messaging benchmarks) build on it.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type Engine = "sqlite" | "postgresql";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/**
 * The leadtrail tree whose bin/leadtrail.js (and so dist/) the benchmarks run: this project, or a
 * frozen copy of it given as BENCH_LEADTRAIL_ROOT (`git archive REV` built elsewhere), for an A/B.
 */
export const LT_ROOT = resolve(process.env.BENCH_LEADTRAIL_ROOT ?? ROOT);
/** Every server under test listens here only. */
export const HOST = "127.0.0.1";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A leadtrail child's environment: this one plus `extra`, minus any inherited database choice. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Never let an inherited DATABASE_URL turn a SQLite run into a PostgreSQL one (or the reverse).
  delete env.DATABASE_URL;
  delete env.LEADTRAIL_DB;
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Memory and CPU, from /proc

/** USER_HZ on Linux: /proc reports CPU time in these ticks. */
export const CLOCK_TICKS = 100;

/** Samples one process's resident size (keeping the maximum), CPU time and storage writes. */
export class ProcessSampler {
  maxRssKb = 0;
  lastRssKb = 0;
  /** How many readings found the process alive. */
  samples = 0;
  private lastCpuSeconds = 0;
  private lastWriteBytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  get maxRssMb(): number {
    return round(this.maxRssKb / 1024, 1);
  }

  /** Resets the maximum (e.g. after setup, to report the RSS of the measured phase alone). */
  resetMax(): void {
    this.maxRssKb = 0;
    this.sample();
  }

  /** Seconds of CPU (user + system) the process has used so far (the last reading once it has exited). */
  cpuSeconds(): number {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // fields[0] is field 3 (state): utime is field 14, stime field 15.
      const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      if (Number.isFinite(seconds)) this.lastCpuSeconds = seconds;
    } catch {
      // exited: keep the last reading
    }
    return this.lastCpuSeconds;
  }

  /** Bytes the process has caused to be written to storage so far (/proc/<pid>/io write_bytes). */
  writeBytes(): number {
    try {
      const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${this.pid}/io`, "utf8"));
      if (m) this.lastWriteBytes = Number(m[1]);
    } catch {
      // exited: keep the last reading
    }
    return this.lastWriteBytes;
  }

  stop(): void {
    this.sample();
    this.writeBytes();
    clearInterval(this.timer);
  }

  private sample(): void {
    this.cpuSeconds();
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
      const kb = m ? Number(m[1]) : 0;
      if (kb > 0) {
        this.samples++;
        this.lastRssKb = kb;
        this.maxRssKb = Math.max(this.maxRssKb, kb);
      }
    } catch {
      // exited
    }
  }
}

/** CPU seconds the whole machine spent busy (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: busy is everything but idle and iowait.
  const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!;
  return busy / CLOCK_TICKS;
}

// ---------------------------------------------------------------------------------------------
// Statistics and results

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** The p-th percentile (nearest rank) of values sorted ascending. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * The machine, and the code measured: the commit checked out, whether src/ had uncommitted changes
 * (read-only git commands) and when the dist/ that runs was built, since dist/ is what runs.
 * `leadtrailRoot` is the tree whose dist/ runs when it is not this project (a frozen copy).
 */
export function machine(leadtrailRoot = LT_ROOT): Record<string, string | number> {
  const cpu = cpus();
  const git = (args: string[]) =>
    spawnSync("git", args, { cwd: ROOT, encoding: "utf8", timeout: 10_000 }).stdout?.trim() ?? "";
  const head = git(["rev-parse", "--short", "HEAD"]) || "unknown";
  const dirty = git(["status", "--porcelain", "--", "src"]);
  const main = join(leadtrailRoot, "dist", "cli", "main.js");
  const built = existsSync(main) ? new Date(statSync(main).mtimeMs).toISOString() : "missing";
  const tree = leadtrailRoot === ROOT ? "" : `leadtrail run from ${leadtrailRoot} (BENCH_LEADTRAIL_ROOT); `;
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? "unknown",
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    code: `${tree}HEAD ${head}${dirty ? " + uncommitted changes in src/" : ""}; dist/ built ${built}`,
  };
}

/** Writes <outDir>/results/<name>.json and returns its path relative to the project. */
export function writeResultIn(outDir: string, name: string, data: unknown): string {
  const dir = join(outDir, "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return relative(ROOT, file);
}

export function verdict(ok: boolean): string {
  return ok ? "met" : "NOT met";
}
