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

/** How to start the CLI: node arguments before the command's own. */
export type Entry = readonly string[];
/** The compiled CLI, as users run it (needs ensureBuilt). */
export const FROM_BUILD: Entry = [BIN];
/**
 * The CLI from source through tsx (the code dist/ is compiled from), for suites that must not
 * depend on dist/ while another suite may be rebuilding it.
 */
export const FROM_SOURCE: Entry = ["--import", "tsx", join(ROOT, "src", "cli", "main.ts")];

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

export async function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
  entry: Entry = FROM_BUILD,
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...entry, ...args], {
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
export async function cliOk(
  args: string[],
  env: NodeJS.ProcessEnv,
  entry: Entry = FROM_BUILD,
): Promise<CliResult> {
  const result = await cli(args, env, entry);
  assert.equal(result.code, 0, `leadtrail ${args.join(" ")} exited ${result.code}\n${result.stderr}`);
  return result;
}

/** A TCP port nobody listens on right now, to give a server (or to hold, to make one busy). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address && typeof address === "object");
  return address.port;
}

export interface RunningProcess {
  child: ChildProcess;
  /** Everything it printed (stdout and stderr) so far. */
  output(): string;
  /** SIGTERM (if still running); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Spawns `leadtrail <args>` and resolves once its output matches `ready` (30 s at most). */
export async function spawnUntilReady(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  entry: Entry = FROM_BUILD,
): Promise<RunningProcess & { match: RegExpMatchArray }> {
  const child: ChildProcess = spawn(process.execPath, [...entry, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  try {
    const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`leadtrail ${args[0]} did not start:\n${output}`)),
        30_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk;
        const found = output.match(ready);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`leadtrail ${args[0]} exited with ${code} before it was ready:\n${output}`));
      });
    });
    return { child, output: () => output, stop, match };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface RunningServer {
  baseUrl: string;
  /** Everything the server printed until it was listening. */
  banner: string;
  stop(): Promise<number | null>;
  /** The process, to kill -9 it. */
  child: ChildProcess;
}

/**
 * Starts `leadtrail serve …` and resolves once it says it is listening: on `port` when given (a
 * server started again where the webhooks of messages it already sent point), else on a free one.
 */
export async function startServer(
  args: string[],
  env: NodeJS.ProcessEnv,
  entry: Entry = FROM_BUILD,
  port?: number,
): Promise<RunningServer> {
  port ??= await freePort();
  const server = await spawnUntilReady(
    ["serve", ...args],
    { ...env, PORT: String(port), HOST: "127.0.0.1" },
    /leadtrail listening on (http:\/\/\S+) /,
    entry,
  );
  const baseUrl = server.match[1]!;
  if (baseUrl !== `http://127.0.0.1:${port}`) {
    await server.stop();
    assert.fail(`server listens on ${baseUrl}, not on the port it was given (${port})`);
  }
  return { baseUrl, banner: server.output(), stop: server.stop, child: server.child };
}

/** Starts `leadtrail worker` and resolves once it says it is running. */
export function startWorker(env: NodeJS.ProcessEnv, entry: Entry = FROM_BUILD): Promise<RunningProcess> {
  return spawnUntilReady(["worker"], env, /leadtrail worker running/, entry);
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
  /** Runs one statement ($1… parameters on both engines); a write answers no rows. */
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
        const db = new SqliteDatabase(file, { fileMustExist: true, timeout: 10_000 });
        try {
          const statement = db.prepare(text.replace(/\$\d+/g, "?"));
          if (!statement.reader) {
            statement.run(...params);
            return [];
          }
          return statement.all(...params) as T[];
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
  // One client, not a pool: Client.end() resolves only once the connection has closed, whereas
  // Pool.end() resolves while its clients are still closing, and the forced drop below would then
  // terminate a live connection and raise an unhandled error in the test process.
  const client = new pg.Client({ connectionString: url.href });
  await client.connect();
  return {
    env: cliEnv({ DATABASE_URL: url.href }),
    isEmpty: async () =>
      (await client.query("select 1 from information_schema.tables where table_schema = 'public'"))
        .rowCount === 0,
    query: async <T>(text: string, params: unknown[] = []) => (await client.query(text, params)).rows as T[],
    cleanup: async () => {
      await client.end();
      const dropper = new pg.Client({ connectionString: PG_URL });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}
