import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./processes.js";

// Shell text exactly as a user pastes it (the README's walk-through, the demo's banner), run by bash
// from the project's folder. Every curl call goes through a wrapper that records it and fails the
// script on an answer that is not 2xx, so a command that does not work when pasted fails the test.

/** One curl call the pasted text made, and what the server answered. */
export interface PastedCall {
  method: string;
  /** The path and query, without the scheme and host. */
  path: string;
  status: number;
  body: unknown;
}

export interface PastedRun {
  code: number;
  stdout: string;
  stderr: string;
  calls: PastedCall[];
}

// `command curl` is the real one; -s and --output are added so that the status is all it prints.
const CURL_WRAPPER = String.raw`
curl() {
  local n status
  n=$(( $(cat "$PASTED_LOG/count") + 1 )); echo "$n" > "$PASTED_LOG/count"
  printf '%s\0' "$@" > "$PASTED_LOG/$n.args"
  status=$(command curl --silent --show-error --output "$PASTED_LOG/$n.body" --write-out '%{http_code}' "$@") || return
  echo "$status" > "$PASTED_LOG/$n.status"
  cat "$PASTED_LOG/$n.body"
  case $status in 2??) ;; *) echo "HTTP $status from: curl $*" >&2; return 1 ;; esac
}
`;

/** Lines a shell joins: a line ending in a backslash continues on the next. */
export function joinContinuations(text: string): string[] {
  return text.replace(/\\\n/g, " ").split("\n");
}

/** Runs `script` with bash (`set -euo pipefail`) in the project's folder with `env`. */
export async function runPasted(script: string, env: NodeJS.ProcessEnv): Promise<PastedRun> {
  const log = mkdtempSync(join(tmpdir(), "leadtrail-pasted-"));
  try {
    writeFileSync(join(log, "count"), "0");
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        "bash",
        ["-c", `set -euo pipefail\n${CURL_WRAPPER}\n${script}`],
        { cwd: ROOT, env: { ...env, PASTED_LOG: log }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
    const count = Number(readFileSync(join(log, "count"), "utf8"));
    const calls = Array.from({ length: count }, (_, i) => readCall(log, i + 1));
    return { ...result, calls: calls.filter((call): call is PastedCall => call !== null) };
  } finally {
    rmSync(log, { recursive: true, force: true });
  }
}

/** Call n from the wrapper's files; null when curl itself failed (no status written). */
function readCall(log: string, n: number): PastedCall | null {
  let status: string;
  try {
    status = readFileSync(join(log, `${n}.status`), "utf8").trim();
  } catch {
    return null;
  }
  const args = readFileSync(join(log, `${n}.args`), "utf8").split("\0");
  const methodAt = args.indexOf("-X");
  const url = new URL(args.find((arg) => /^https?:\/\//.test(arg)) ?? "http://invalid/");
  const text = readFileSync(join(log, `${n}.body`), "utf8");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return {
    method: methodAt >= 0 ? args[methodAt + 1]! : "GET",
    path: `${url.pathname}${url.search}`,
    status: Number(status),
    body,
  };
}
