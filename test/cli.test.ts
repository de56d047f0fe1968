import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import SqliteDatabase from "better-sqlite3";
import pg from "pg";
import type { Engine } from "../src/store/database.js";
import { LATEST_MIGRATION } from "../src/store/migrations.js";
import { hashApiKey } from "../src/store/orgs-repo.js";
import { forEachEngine, PG_URL } from "./helpers/engines.js";

// The CLI as users run it: `node bin/leadtrail.js …` child processes on the compiled dist/, against a
// fresh SQLite file or a fresh PostgreSQL database each.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin", "leadtrail.js");
const run = promisify(execFile);

function newestMtime(dir: string, suffix: string): number {
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
async function ensureBuilt(): Promise<void> {
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
function cliEnv(database: Record<string, string>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["DATABASE_URL", "LEADTRAIL_DB", "PORT", "HOST", "NODE_TEST_CONTEXT", "NODE_OPTIONS"]) {
    delete env[name];
  }
  return { ...env, LOG_LEVEL: "warn", ...database, ...extra };
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
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
async function cliOk(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const result = await cli(args, env);
  assert.equal(result.code, 0, `leadtrail ${args.join(" ")} exited ${result.code}\n${result.stderr}`);
  return result;
}

/** A TCP port nobody listens on right now (PORT=0 is refused by the config loader). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address && typeof address === "object");
  return address.port;
}

interface RunningServer {
  baseUrl: string;
  /** Everything the server printed on stdout until it was listening. */
  banner: string;
  stop(): Promise<number | null>;
}

/** Starts `leadtrail serve …` and resolves once it says it is listening. */
async function startServer(args: string[], env: NodeJS.ProcessEnv): Promise<RunningServer> {
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

async function post(baseUrl: string, path: string, key: string, body: unknown) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  return { status: res.status, body: (await res.json()) as any };
}

/** Every event of the key's organization, through the API's continuation tokens. */
async function listAllEvents(baseUrl: string, key: string): Promise<Array<Record<string, unknown>>> {
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
interface CliDatabase {
  env: NodeJS.ProcessEnv;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** No file yet (SQLite), or no tables (PostgreSQL). */
  isEmpty(): Promise<boolean>;
  cleanup(): Promise<void>;
}

async function createCliDatabase(engine: Engine): Promise<CliDatabase> {
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

before(ensureBuilt, { timeout: 180_000 });

describe("leadtrail CLI basics", () => {
  test("--help lists every command", async () => {
    const { stdout } = await cliOk(["--help"], cliEnv({}));
    assert.match(stdout, /^Usage: leadtrail /m);
    for (const command of ["serve", "migrate", "org", "demo", "bench-seed"]) {
      assert.match(stdout, new RegExp(`^\\s+${command}\\b`, "m"), `--help lacks ${command}`);
    }
    const org = await cliOk(["org", "create", "--help"], cliEnv({}));
    assert.match(org.stdout, /--name <name>/);
    assert.match(org.stdout, /--json/);
  });

  test("an unreachable database fails with a message on stderr, exit 1 and nothing on stdout", async () => {
    const env = cliEnv({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" });
    for (const args of [["org", "create", "--name", "X", "--json"], ["migrate"]]) {
      const result = await cli(args, env);
      assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /^leadtrail: .*ECONNREFUSED/m);
    }
  });

  test("a missing --name fails without touching a database", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leadtrail-cli-"));
    try {
      const result = await cli(["org", "create", "--json"], cliEnv({ LEADTRAIL_DB: join(dir, "x.db") }));
      assert.notEqual(result.code, 0);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /--name/);
      assert.equal(existsSync(join(dir, "x.db")), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

forEachEngine("leadtrail CLI", (engine) => {
  describe("commands on one database, with a server running on it", () => {
    let db: CliDatabase;
    let server: RunningServer | undefined;
    before(async () => {
      db = await createCliDatabase(engine);
    });
    after(async () => {
      await server?.stop();
      await db?.cleanup();
    });

    test("org create --json on a fresh database migrates it and prints only the new credentials", async () => {
      assert.equal(await db.isEmpty(), true);
      const { stdout } = await cliOk(["org", "create", "--name", "Acme Roofing", "--json"], db.env);
      // Exactly one line, one JSON object, nothing else on stdout.
      assert.match(stdout, /^\{[^\n]*\}\n$/);
      const created = JSON.parse(stdout);
      assert.deepEqual(Object.keys(created).sort(), ["apiKey", "organizationId", "userId"]);
      assert.match(created.apiKey, /^sk_[A-Za-z0-9_-]{40,}$/);
      assert.match(created.organizationId, /^org_/);
      assert.match(created.userId, /^usr_/);

      const migrations = await db.query<{ name: string }>("select name from kysely_migration order by name");
      assert.equal(migrations.at(-1)?.name, LATEST_MIGRATION);
      const orgs = await db.query<{ name: string }>("select name from organizations where id = $1", [
        created.organizationId,
      ]);
      assert.deepEqual(
        orgs.map((o) => o.name),
        ["Acme Roofing"],
      );
    });

    test("API keys are stored only as a hash", async () => {
      const { stdout } = await cliOk(["org", "create", "--name", "Hash Check", "--json"], db.env);
      const { apiKey, organizationId } = JSON.parse(stdout);
      const rows = await db.query<Record<string, unknown>>(
        "select * from api_keys where organization_id = $1",
        [organizationId],
      );
      assert.equal(rows.length, 1);
      const row = rows[0]!;
      assert.notEqual(row.key_hash, apiKey);
      assert.equal(row.key_hash, hashApiKey(apiKey));
      for (const [column, value] of Object.entries(row)) {
        assert.ok(
          typeof value !== "string" || !value.includes(apiKey.slice(8)),
          `api_keys.${column} holds the key`,
        );
      }
    });

    test("migrate reports the latest migration, and is idempotent", async () => {
      for (let i = 0; i < 2; i++) {
        const { stdout } = await cliOk(["migrate"], db.env);
        assert.equal(stdout.trim(), `migrated ${engine} database to ${LATEST_MIGRATION}`);
      }
    });

    test("serve --demo-if-empty on a database with organizations starts without a demo", async () => {
      server = await startServer(["--demo-if-empty"], db.env);
      assert.doesNotMatch(server.banner, /Demo organization|sk_/);
      const health = await fetch(`${server.baseUrl}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: "ok", engine, migration: LATEST_MIGRATION });
    });

    test("org create while the server runs: the new key authenticates against it at once", async () => {
      assert.ok(server, "needs the running server");
      const { stdout } = await cliOk(["org", "create", "--name", "Live Org", "--json"], db.env);
      const { apiKey } = JSON.parse(stdout);
      const res = await post(server.baseUrl, "/events/all/my", apiKey, {});
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.items, []);
      // An unknown key (same shape) is refused, so the 200 above really was the new key.
      const wrong = await post(
        server.baseUrl,
        "/events/all/my",
        `sk_${randomBytes(32).toString("base64url")}`,
        {},
      );
      assert.equal(wrong.status, 401);
    });

    test("demo prints a working API key and curl commands", async () => {
      assert.ok(server, "needs the running server");
      const { stdout } = await cliOk(["demo"], db.env);
      const key = stdout.match(/API key:\s+(sk_[A-Za-z0-9_-]+)/)?.[1];
      assert.ok(key, `no API key in:\n${stdout}`);
      const curls = stdout.split("\n").filter((line) => line.trim().startsWith("curl "));
      assert.ok(curls.length >= 3, stdout);
      for (const line of curls) assert.ok(line.includes(`Bearer ${key}`), line);
      assert.match(stdout, /curl -s -X POST http:\/\/\S+\/events\/all\/my /);

      const events = await listAllEvents(server.baseUrl, key);
      assert.ok(events.length > 0);
      const types = new Set(events.map((e) => e.activityType));
      for (const type of ["LeadCreated", "Note", "LeadUpdated"])
        assert.ok(types.has(type), `no ${type} in ${[...types]}`);
    });

    test("bench-seed --events 2000 --json writes 2000 events into a new organization", {
      timeout: 120_000,
    }, async () => {
      assert.ok(server, "needs the running server");
      const { stdout } = await cliOk(["bench-seed", "--events", "2000", "--json"], db.env);
      const last = stdout.trimEnd().split("\n").at(-1)!;
      const seeded = JSON.parse(last);
      assert.deepEqual(Object.keys(seeded).sort(), ["apiKey", "organizationId"]);
      assert.match(seeded.apiKey, /^sk_/);
      const [count] = await db.query<{ n: number | string }>(
        "select count(*) as n from events where organization_id = $1",
        [seeded.organizationId],
      );
      assert.equal(Number(count?.n), 2000);
      const events = await listAllEvents(server.baseUrl, seeded.apiKey);
      assert.equal(events.length, 2000);
      assert.equal(new Set(events.map((e) => e.id)).size, 2000);
    });

    test("the server shuts down cleanly on SIGTERM", async () => {
      assert.ok(server, "needs the running server");
      const code = await server.stop();
      server = undefined;
      assert.equal(code, 0);
    });
  });

  describe("serve --demo-if-empty (npm start) on an empty database", () => {
    let db: CliDatabase;
    let server: RunningServer | undefined;
    before(async () => {
      db = await createCliDatabase(engine);
    });
    after(async () => {
      await server?.stop();
      await db?.cleanup();
    });

    test("on an empty database prints the demo key, which works against that server", async () => {
      server = await startServer(["--demo-if-empty"], db.env);
      assert.match(server.banner, /Demo organization ready/);
      const key = server.banner.match(/API key:\s+(sk_[A-Za-z0-9_-]+)/)?.[1];
      assert.ok(key, `no API key in:\n${server.banner}`);
      assert.ok(server.banner.includes(`curl -s -X POST ${server.baseUrl}/events/all/my`), server.banner);
      const events = await listAllEvents(server.baseUrl, key);
      const types = new Set(events.map((e) => e.activityType));
      for (const type of ["LeadCreated", "Note", "LeadUpdated"])
        assert.ok(types.has(type), `no ${type} in ${[...types]}`);
      const [orgs] = await db.query<{ n: number | string }>("select count(*) as n from organizations");
      assert.equal(Number(orgs?.n), 1);
    });
  });
});
