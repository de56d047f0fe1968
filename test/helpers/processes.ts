import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import SqliteDatabase from "better-sqlite3";
import pg from "pg";
import type { Engine } from "../../src/store/database.js";
import { PG_URL } from "./engines.js";

// leadtrail as users run it: `node bin/leadtrail.js …` child processes on the compiled dist/, each
// against a fresh SQLite file or a fresh PostgreSQL database.

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = join(ROOT, "bin", "leadtrail.js");
export const run = promisify(execFile);

export function newestMtime(dir: string, suffix: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) newest = Math.max(newest, newestMtime(path, suffix));
    else if (name.endsWith(suffix)) newest = Math.max(newest, stat.mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than any source file (tsc rewrites every output). */
export async function ensureBuilt(): Promise<void> {
  const entry = join(ROOT, "dist", "cli", "main.js");
  if (existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(join(ROOT, "src"), ".ts")) return;
  try {
    await run("npm", ["run", "build"], { cwd: ROOT, timeout: 120_000 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/** The environment for a CLI process on one database, free of the test runner's own settings. */
export function cliEnv(
  database: Record<string, string>,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["DATABASE_URL", "LEADTRAIL_DB", "PORT", "HOST", "NODE_TEST_CONTEXT", "NODE_OPTIONS"]) {
    delete env[name];
  }
  return { ...env, LOG_LEVEL: "warn", ...database, ...extra };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env,
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Runs the CLI and asserts it succeeded, with its output in the failure message. */
export async function cliOk(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const result = await cli(args, env);
  assert.equal(result.code, 0, `leadtrail ${args.join(" ")} exited ${result.code}\n${result.stderr}`);
  return result;
}

/** A TCP port nobody listens on right now (PORT=0 is refused by the config loader). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address && typeof address === "object");
  return address.port;
}

export interface RunningServer {
  baseUrl: string;
  /** Everything the server printed on stdout until it was listening. */
  banner: string;
  stop(): Promise<number | null>;
}

/** Starts `leadtrail serve …` and resolves once it says it is listening. */
export async function startServer(args: string[], env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [BIN, "serve", ...args], {
    cwd: ROOT,
    env: { ...env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  try {
    const baseUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server did not start:\n${stdout}\n${stderr}`)),
        30_000,
      );
      child.stdout!.on("data", () => {
        const match = stdout.match(/leadtrail listening on (http:\/\/\S+) /);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code} before listening:\n${stdout}\n${stderr}`));
      });
    });
    assert.equal(baseUrl, `http://127.0.0.1:${port}`);
    return { baseUrl, banner: stdout, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function post(baseUrl: string, path: string, key: string, body: unknown) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  return { status: res.status, body: (await res.json()) as any };
}

/** Every event of the key's organization, through the API's continuation tokens. */
export async function listAllEvents(baseUrl: string, key: string): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let continuationToken: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res = await post(baseUrl, "/events/all/my", key, { pageSize: 500, continuationToken });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    items.push(...res.body.items);
    continuationToken = res.body.continuationToken ?? null;
    if (!continuationToken) return items;
  }
  throw new Error("more than 100 pages of events");
}

/** One database for CLI processes: its environment, direct SQL access to check results, and cleanup. */
export interface CliDatabase {
  env: NodeJS.ProcessEnv;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** No file yet (SQLite), or no tables (PostgreSQL). */
  isEmpty(): Promise<boolean>;
  cleanup(): Promise<void>;
}

export async function createCliDatabase(engine: Engine): Promise<CliDatabase> {
  if (engine === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "leadtrail-cli-"));
    const file = join(dir, "sub", "x.db"); // the folder does not exist yet either
    return {
      env: cliEnv({ LEADTRAIL_DB: file }),
      isEmpty: async () => !existsSync(file),
      query: async <T>(text: string, params: unknown[] = []) => {
        const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
        try {
          return db.prepare(text.replace(/\$\d+/g, "?")).all(...params) as T[];
        } finally {
          db.close();
        }
      },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `lt_cli_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.href, max: 2 });
  return {
    env: cliEnv({ DATABASE_URL: url.href }),
    isEmpty: async () =>
      (await pool.query("select 1 from information_schema.tables where table_schema = 'public'")).rowCount ===
      0,
    query: async <T>(text: string, params: unknown[] = []) => (await pool.query(text, params)).rows as T[],
    cleanup: async () => {
      await pool.end();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
