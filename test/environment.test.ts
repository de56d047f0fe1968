import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/config.js";
import { VARIABLE_NAMES } from "../src/environment.js";
import { unknownVariableWarnings } from "../src/unknown-variables.js";
import { readmeVariables } from "./helpers/readme-variables.js";

// Every environment variable leadtrail reads is one environment.ts lists (so `--help` prints it) and
// one README's Configuration table documents: a variable added to the code alone fails here.

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) ? [path] : [];
  });
}

/**
 * The names src/ and bin/ read from the environment: `process.env.X`, `env.X`, `env["X"]`,
 * `{ X } = process.env`, and, in a file with functions that take the environment (NodeJS.ProcessEnv),
 * every string literal spelled like a variable, which is how config.ts's helpers (setting("X", env))
 * are given theirs.
 */
function namesReadInSource(): Map<string, string> {
  const names = new Map<string, string>();
  const variableLike = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;
  for (const file of [...sourceFiles(join(ROOT, "src")), ...sourceFiles(join(ROOT, "bin"))]) {
    const text = readFileSync(file, "utf8");
    const where = file.slice(ROOT.length);
    for (const [, name] of text.matchAll(/\benv\??\.([A-Za-z_][A-Za-z0-9_]*)/g)) names.set(name!, where);
    for (const [, name] of text.matchAll(/\benv\??\.?\[\s*["'`]([^"'`]+)["'`]\s*\]/g))
      names.set(name!, where);
    for (const [, list] of text.matchAll(/\{([^}]*)\}\s*=\s*(?:process\.)?env\b/g)) {
      for (const part of list!.split(",")) {
        const name = part.split(":")[0]!.trim();
        if (name) names.set(name, where);
      }
    }
    if (!text.includes("ProcessEnv")) continue;
    for (const [, name] of text.matchAll(/["'`]([A-Z][A-Z0-9_]*)["'`]/g)) {
      if (variableLike.test(name!) && name!.length > 2) names.set(name!, where);
    }
  }
  return names;
}

test("every variable src/ and bin/ read is one environment.ts lists, and each one listed is read", () => {
  const read = namesReadInSource();
  const listed = new Set<string>(VARIABLE_NAMES);
  for (const [name, file] of read)
    assert.ok(listed.has(name), `${file} reads ${name}, not in environment.ts`);
  for (const name of listed) assert.ok(read.has(name), `environment.ts lists ${name}, which nothing reads`);
});

test("config reads from the environment only names environment.ts lists, whichever branch it takes", () => {
  const listed = new Set<string>(VARIABLE_NAMES);
  const touched = new Set<string>();
  const recording = (values: Record<string, string>): NodeJS.ProcessEnv =>
    new Proxy(values, {
      get(target, key) {
        if (typeof key === "string") touched.add(key);
        return target[key as string];
      },
    });
  loadConfig(recording({}));
  loadConfig(
    recording({
      LEADTRAIL_PROVIDER: "telnyx",
      DATABASE_URL: "postgres://u@h/db",
      LEADTRAIL_FAILOVER_PUBLIC_URL: "https://b.example.com",
      LEADTRAIL_TRUST_PROXY: "10.0.0.0/8",
    }),
  );
  for (const name of touched) assert.ok(listed.has(name), `loadConfig reads ${name}, not in environment.ts`);
});

test("README's Configuration table documents every variable environment.ts lists, and no other", () => {
  const documented = readmeVariables();
  for (const name of VARIABLE_NAMES) assert.ok(documented.has(name), `README's Configuration lacks ${name}`);
  const listed = new Set<string>(VARIABLE_NAMES);
  for (const name of documented) assert.ok(listed.has(name), `README documents ${name}, which nothing reads`);
});

test("a LEADTRAIL_ variable leadtrail does not know is warned about with the closest known name", () => {
  const warnings = unknownVariableWarnings({
    LEADTRAIL_RETRY_MAX_ATTEMPT: "3",
    LEADTRAIL_PUBLIC_ULR: "https://leads.example.com",
    LEADTRAIL_DATABASE_URL: "postgres://u@h/db",
    leadtrail_quiet_hours: "off",
    // Known, the test suite's and the benchmarks' own, and other programs': no warning.
    LEADTRAIL_QUIET_HOURS: "off",
    LEADTRAIL_TEST_DATABASE_URL: "postgres://u@h/db",
    LEADTRAIL_PROPERTY_RUNS: "10",
    LEADTRAIL_SOAK_OPS: "400",
    BENCH_EVENTS: "1000",
    PATH: "/usr/bin",
  });
  assert.deepEqual(warnings, [
    "warning: LEADTRAIL_DATABASE_URL is not a setting of this leadtrail and is ignored; did you mean DATABASE_URL?",
    "warning: LEADTRAIL_PUBLIC_ULR is not a setting of this leadtrail and is ignored; did you mean LEADTRAIL_PUBLIC_URL?",
    "warning: LEADTRAIL_RETRY_MAX_ATTEMPT is not a setting of this leadtrail and is ignored; did you mean LEADTRAIL_RETRY_MAX_ATTEMPTS?",
    "warning: leadtrail_quiet_hours is not a setting of this leadtrail and is ignored; did you mean LEADTRAIL_QUIET_HOURS?",
  ]);
});
