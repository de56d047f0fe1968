import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { baseUrlOf } from "../src/cli/base-url.js";
import { LATEST_MIGRATION } from "../src/store/migrations.js";
import { hashApiKey } from "../src/store/orgs-repo.js";
import { assertEventRecord } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { FakeTelnyx } from "./helpers/fake-telnyx.js";
import { INVALID_SETTINGS } from "./helpers/invalid-settings.js";
import { joinContinuations, runPasted } from "./helpers/pasted.js";
import {
  BIN,
  type CliDatabase,
  cli,
  cliEnv,
  cliOk,
  createCliDatabase,
  ensureBuilt,
  freePort,
  listAllEvents,
  post,
  type RunningServer,
  spawnUntilReady,
  startServer,
  startWorker,
} from "./helpers/processes.js";
import { readmeVariables } from "./helpers/readme-variables.js";

// The CLI as users run it: `node bin/leadtrail.js …` child processes on the compiled dist/, against a
// fresh SQLite file or a fresh PostgreSQL database each.

before(ensureBuilt, { timeout: 180_000 });

describe("leadtrail CLI basics", () => {
  test("--help lists every command", async () => {
    const { stdout } = await cliOk(["--help"], cliEnv({}));
    assert.match(stdout, /^Usage: leadtrail /m);
    for (const command of ["serve", "migrate", "org", "user", "key", "demo", "bench-seed"]) {
      assert.match(stdout, new RegExp(`^\\s+${command}\\b`, "m"), `--help lacks ${command}`);
    }
    const org = await cliOk(["org", "create", "--help"], cliEnv({}));
    assert.match(org.stdout, /--name <name>/);
    assert.match(org.stdout, /--json/);
  });

  test("--help of leadtrail, serve and worker lists every variable README's Configuration documents", async () => {
    // Where the database, the address and every other setting come from, which no flag says.
    const names = readmeVariables();
    for (const command of [[], ["serve"], ["worker"]]) {
      const { stdout } = await cliOk([...command, "--help"], cliEnv({}));
      for (const name of names) {
        assert.match(
          stdout,
          new RegExp(`^  ${name}  `, "m"),
          `leadtrail ${command.join(" ")} --help lacks ${name}`,
        );
      }
    }
  });

  test("every command and option of README's Commands block is one the CLI has", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = readme.split("\n## Commands\n")[1]?.match(/```\n([\s\S]*?)```/)?.[1];
    assert.ok(block, "README.md has a Commands block");
    const usages = block.split("\n").filter((line) => line.startsWith("leadtrail "));
    assert.ok(usages.length >= 10, block);
    for (const usage of usages) {
      const synopsis = usage.split(/\s{2,}/)[0]!;
      const words = synopsis.split(" ").slice(1);
      const firstFlag = words.findIndex((word) => !/^[a-z][a-z-]*$/.test(word));
      const command = firstFlag < 0 ? words : words.slice(0, firstFlag);
      const { stdout } = await cliOk([...command, "--help"], cliEnv({}));
      for (const option of synopsis.match(/--[a-z-]+/g) ?? []) {
        if (option === "--help") continue;
        assert.match(
          stdout,
          new RegExp(`\\s${option}\\b`),
          `leadtrail ${command.join(" ")} has no ${option}`,
        );
      }
    }
  });

  test("an unreachable database fails with a message on stderr, exit 1 and nothing on stdout", async () => {
    const env = cliEnv({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" });
    for (const args of [["org", "create", "--name", "X", "--json"], ["migrate"]]) {
      const result = await cli(args, env);
      assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        /^leadtrail: cannot open the PostgreSQL database at postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere \(DATABASE_URL\): .*ECONNREFUSED/m,
      );
    }
    // Secrets in the query string are not echoed either.
    const withQuery = await cli(
      ["migrate"],
      cliEnv({
        DATABASE_URL: "postgres://postgres:pw1@127.0.0.1:1/nowhere?password=pw2&sslpassword=pw3",
      }),
    );
    assert.equal(withQuery.code, 1, withQuery.stderr);
    assert.match(
      withQuery.stderr,
      /^leadtrail: cannot open the PostgreSQL database at postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere \(DATABASE_URL\): /m,
    );
    assert.doesNotMatch(withQuery.stderr, /pw[1-3]/);
    // Not a URL node-postgres can read: said so, without echoing a password.
    const bad = await cli(
      ["migrate"],
      cliEnv({ DATABASE_URL: "postgres://postgres:secret@127.0.0.1:99999/x" }),
    );
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^leadtrail: cannot open the PostgreSQL database at .*\(DATABASE_URL\): Invalid URL/m,
    );
    assert.doesNotMatch(bad.stderr, /secret/);
  });

  test("serve with the Telnyx provider and no Telnyx keys exits 1 before it creates the database", async () => {
    const db = await createCliDatabase("sqlite");
    try {
      const result = await cli(["serve"], { ...db.env, LEADTRAIL_PROVIDER: "telnyx", PORT: "0" });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /^leadtrail: LEADTRAIL_PROVIDER=telnyx needs TELNYX_API_KEY/m);
      assert.ok(await db.isEmpty(), "the database file was created");
    } finally {
      await db.cleanup();
    }
  });

  test("serve, worker and migrate refuse an invalid value of any variable, naming it, before the database exists", async () => {
    const db = await createCliDatabase("sqlite");
    try {
      const runs: Array<{ args: string[]; name: string; value: string; env: NodeJS.ProcessEnv }> = [];
      // Each variable's first invalid value (config.test.ts tries them all) with one of the commands in
      // turn: every command checks every variable (one loadConfig), a process each would be slow.
      const commands = [["serve"], ["worker"], ["migrate"]];
      for (const [index, [name, entry]] of Object.entries(INVALID_SETTINGS).entries()) {
        if ("anyValue" in entry) continue;
        const args = (entry.commands ?? commands)[index % (entry.commands ?? commands).length]!;
        const value = entry.refused[0]!;
        runs.push({ args, name, value, env: { ...db.env, PORT: "0", ...entry.with, [name]: value } });
      }
      // A few at a time: each is a node process that should stop before it does anything.
      for (let i = 0; i < runs.length; i += 4) {
        await Promise.all(
          runs.slice(i, i + 4).map(async ({ args, name, value, env }) => {
            const result = await cli(args, env);
            const what = `${name}=${JSON.stringify(value)} leadtrail ${args.join(" ")}`;
            assert.equal(result.code, 1, `${what} exited ${result.code}: ${result.stdout}${result.stderr}`);
            assert.equal(result.stdout, "", what);
            assert.match(result.stderr, new RegExp(`^leadtrail: ${name}\\b`, "m"), what);
          }),
        );
      }
      assert.ok(await db.isEmpty(), "the database file was created");
    } finally {
      await db.cleanup();
    }
  });

  test("a misspelled LEADTRAIL_ variable is warned about on stderr, by migrate and by serve, which still run", async () => {
    const db = await createCliDatabase("sqlite");
    const misspelled = { LEADTRAIL_RETRY_MAX_ATTEMPT: "3", LEADTRAIL_TEST_SOMETHING: "1", BENCH_EVENTS: "5" };
    const warning =
      /^leadtrail: warning: LEADTRAIL_RETRY_MAX_ATTEMPT is not a setting of this leadtrail and is ignored; did you mean LEADTRAIL_RETRY_MAX_ATTEMPTS\?$/m;
    try {
      const migrated = await cliOk(["migrate"], { ...db.env, ...misspelled });
      assert.match(migrated.stderr, warning);
      assert.match(migrated.stdout, /^migrated sqlite database to /m);
      // The test suite's and the benchmarks' variables are not leadtrail's to warn about.
      assert.doesNotMatch(migrated.stderr, /LEADTRAIL_TEST_SOMETHING|BENCH_EVENTS/);
      const server = await startServer([], { ...db.env, ...misspelled });
      const code = await server.stop();
      assert.match(server.banner, warning);
      assert.equal(code, 0);
    } finally {
      await db.cleanup();
    }
  });

  test("commands on existing records refuse a database file that is not there, and create none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leadtrail-cli-"));
    try {
      const path = join(dir, "mistyped", "leadtrail.db");
      const env = cliEnv({ LEADTRAIL_DB: path });
      for (const args of [
        ["user", "add", "--org", "org_01HZZZZZZZZZZZZZZZZZZZZZZZ", "--name", "X", "--json"],
        ["key", "create", "--user", "usr_01HZZZZZZZZZZZZZZZZZZZZZZZ", "--json"],
        ["key", "revoke", "--user", "usr_01HZZZZZZZZZZZZZZZZZZZZZZZ", "--json"],
        ["wallet", "credit", "--org", "org_01HZZZZZZZZZZZZZZZZZZZZZZZ", "--amount", "5", "--json"],
      ]) {
        const result = await cli(args, env);
        assert.equal(result.code, 1, args.join(" "));
        assert.equal(result.stdout, "");
        assert.match(result.stderr, /^leadtrail: there is no database at .*leadtrail\.db \(LEADTRAIL_DB\)$/m);
        assert.equal(existsSync(path), false, `${args.join(" ")} created the file`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a LEADTRAIL_DB that cannot be opened, or is no database, is named in the error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leadtrail-cli-"));
    try {
      const junk = join(dir, "notes.txt");
      writeFileSync(junk, "these are not the pages of a database ".repeat(200));
      for (const path of [dir, junk]) {
        const result = await cli(["migrate"], cliEnv({ LEADTRAIL_DB: path }));
        assert.equal(result.code, 1, result.stdout);
        assert.equal(result.stdout, "");
        const named = new RegExp(
          `^leadtrail: cannot open the SQLite database at ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(LEADTRAIL_DB\\): `,
          "m",
        );
        assert.match(result.stderr, named);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("key revoke with an empty --key, or nothing on standard input for --key -, says so", async () => {
    const empty = await cli(["key", "revoke", "--key", " "], cliEnv({}));
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /--key is empty/);
    const fromStdin = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, "key", "revoke", "--key", "-"], {
        env: cliEnv({}),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr!.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on("close", (code) => resolve({ code, stderr }));
    });
    assert.notEqual(fromStdin.code, 0);
    assert.match(fromStdin.stderr, /standard input held no key/);
  });

  test("key revoke given a source's key (lp_src_…) says how to stop it rather than 'unknown'", async () => {
    const run = await cli(["key", "revoke", "--key", `lp_src_${"a".repeat(43)}`], cliEnv({}));
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /lead source's key .*re-key the source .*regenerateApiKey.* or delete it/);
  });

  test("--version prints the package's version", async () => {
    const { stdout } = await cliOk(["--version"], cliEnv({}));
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    assert.equal(stdout.trim(), version);
  });

  test("the printed base URL is one a client can use: an IPv6 host in brackets", () => {
    assert.equal(baseUrlOf({ host: "127.0.0.1", port: 3000 }), "http://127.0.0.1:3000");
    assert.equal(baseUrlOf({ host: "::", port: 3000 }), "http://[::]:3000");
    assert.equal(baseUrlOf({ host: "::1", port: 8080 }), "http://[::1]:8080");
  });

  test("an option that takes a value, given twice, exits 1 on every command without touching a database", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leadtrail-cli-"));
    try {
      const env = cliEnv({ LEADTRAIL_DB: join(dir, "x.db") });
      for (const [args, option] of [
        [["org", "create", "--name", "A", "--name", "B"], "--name"],
        [["org", "create", "--name", "A", "--credit", "1", "--credit", "2"], "--credit"],
        [["user", "add", "--org", "org_a", "--org", "org_b", "--name", "A"], "--org"],
        [
          [
            "user",
            "add",
            "--org",
            "org_a",
            "--name",
            "A",
            "--email",
            "a@example.com",
            "--email=b@example.com",
          ],
          "--email",
        ],
        [["key", "create", "--user", "usr_a", "--user", "usr_b"], "--user"],
        [["key", "revoke", "--key", "sk_first_secret", "--key", "sk_second_secret"], "--key"],
        [["key", "revoke", "--user", "usr_a", "--user", "usr_b"], "--user"],
        [["wallet", "credit", "--org", "org_a", "--amount", "5", "--amount", "50"], "--amount"],
        [["bench-seed", "--events", "1", "--events", "2"], "--events"],
      ] as const) {
        const result = await cli([...args], env);
        assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
        assert.equal(result.stdout, "");
        assert.match(result.stderr, new RegExp(`^leadtrail: ${option} was given more than once`, "m"));
        assert.doesNotMatch(result.stderr, /secret/, "a value (an API key) is not echoed");
      }
      assert.equal(existsSync(join(dir, "x.db")), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a missing or blank --name fails without touching a database", async () => {
    const dir = mkdtempSync(join(tmpdir(), "leadtrail-cli-"));
    try {
      const blank = await cli(
        ["org", "create", "--name", "  ", "--json"],
        cliEnv({ LEADTRAIL_DB: join(dir, "x.db") }),
      );
      assert.notEqual(blank.code, 0);
      assert.equal(blank.stdout, "");
      assert.match(blank.stderr, /--name must not be empty/);
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

    test("user add gives a second user of an organization a key of their own; their notes carry their name", async () => {
      assert.ok(server, "needs the running server");
      const owner = JSON.parse(
        (await cliOk(["org", "create", "--name", "Team Org", "--json"], db.env)).stdout,
      );
      const { stdout } = await cliOk(
        [
          "user",
          "add",
          "--org",
          owner.organizationId,
          "--name",
          "Sam Agent",
          "--email",
          "sam@example.com",
          "--json",
        ],
        db.env,
      );
      assert.match(stdout, /^\{[^\n]*\}\n$/);
      const added = JSON.parse(stdout);
      assert.deepEqual(Object.keys(added).sort(), ["apiKey", "organizationId", "userId"]);
      assert.equal(added.organizationId, owner.organizationId);
      assert.notEqual(added.userId, owner.userId);
      assert.notEqual(added.apiKey, owner.apiKey);
      // The owner's lead, noted by the new user: same organization, the new user's name on the note.
      const lead = await post(server.baseUrl, "/leads", owner.apiKey, {
        contact: { firstName: "Ana", phone: { number: "+12065550177" } },
      });
      assert.equal(lead.status, 201, JSON.stringify(lead.body));
      const conversations = await post(
        server.baseUrl,
        `/conversations/lead/${lead.body.id}`,
        added.apiKey,
        {},
      );
      assert.equal(conversations.status, 200, JSON.stringify(conversations.body));
      const note = await post(
        server.baseUrl,
        `/events/conversations/${conversations.body.items[0].id}/notes`,
        added.apiKey,
        { text: "Called, no answer" },
      );
      assert.equal(note.status, 200, JSON.stringify(note.body));
      assertEventRecord(note.body);
      assert.equal(note.body.createdBy, added.userId);
      assert.equal(note.body.actorDisplayName, "Sam Agent");
      assert.equal(note.body.actorEmail, "sam@example.com");
    });

    test("key create rotates a user's key; key revoke refuses a key, or all of a user's, from then on", async () => {
      assert.ok(server, "needs the running server");
      const owner = JSON.parse(
        (await cliOk(["org", "create", "--name", "Rotating Org", "--json"], db.env)).stdout,
      );
      const status = async (apiKey: string) =>
        (await post(server!.baseUrl, "/events/all/my", apiKey, {})).status;
      const rotated = JSON.parse(
        (await cliOk(["key", "create", "--user", owner.userId, "--json"], db.env)).stdout,
      );
      assert.deepEqual(Object.keys(rotated).sort(), ["apiKey", "organizationId", "userId"]);
      assert.equal(rotated.userId, owner.userId);
      assert.equal(rotated.organizationId, owner.organizationId);
      assert.notEqual(rotated.apiKey, owner.apiKey);
      // A third key, never used, so that the server has not cached it: its revocation shows at once.
      const spare = JSON.parse(
        (await cliOk(["key", "create", "--user", owner.userId, "--json"], db.env)).stdout,
      );
      const revoked = JSON.parse(
        (await cliOk(["key", "revoke", "--key", spare.apiKey, "--json"], db.env)).stdout,
      );
      assert.deepEqual(revoked, {
        organizationId: owner.organizationId,
        userId: owner.userId,
        keyPrefixes: [spare.apiKey.slice(0, 7)],
      });
      assert.equal(await status(spare.apiKey), 401);
      assert.equal(await status(rotated.apiKey), 200, "the other keys still work");
      // The key read from standard input (`--key -`), so that it stays out of shell history.
      const piped = JSON.parse(
        (await cliOk(["key", "create", "--user", owner.userId, "--json"], db.env)).stdout,
      );
      const fromStdin = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "key", "revoke", "--key", "-", "--json"], {
          env: db.env,
        });
        let stdout = "";
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        child.on("close", (code) => resolve({ code, stdout }));
        child.stdin.end(`${piped.apiKey}\n`);
      });
      assert.equal(fromStdin.code, 0, fromStdin.stdout);
      assert.deepEqual(JSON.parse(fromStdin.stdout).keyPrefixes, [piped.apiKey.slice(0, 7)]);
      assert.equal(await status(piped.apiKey), 401);
      // Every key of a user; a second time, nothing is left to revoke.
      const other = JSON.parse(
        (await cliOk(["user", "add", "--org", owner.organizationId, "--name", "Leaver", "--json"], db.env))
          .stdout,
      );
      await cliOk(["key", "create", "--user", other.userId], db.env);
      const all = JSON.parse(
        (await cliOk(["key", "revoke", "--user", other.userId, "--json"], db.env)).stdout,
      );
      assert.equal(all.keyPrefixes.length, 2);
      assert.equal(await status(other.apiKey), 401);
      const again = await cli(["key", "revoke", "--user", other.userId], db.env);
      assert.notEqual(again.code, 0);
      assert.match(
        again.stderr,
        new RegExp(
          `^leadtrail: user '${other.userId}' has no live API key: every one is revoked already`,
          "m",
        ),
      );
      const revokedKey = await cli(["key", "revoke", "--key", other.apiKey], db.env);
      assert.notEqual(revokedKey.code, 0);
      assert.match(revokedKey.stderr, /no live API key matched: it is unknown or already revoked/);
      for (const args of [
        ["key", "revoke"],
        ["key", "revoke", "--key", "x", "--user", "y"],
      ]) {
        const run = await cli(args, db.env);
        assert.notEqual(run.code, 0);
        assert.match(run.stderr, /either --key or --user/);
      }
      for (const command of ["create", "revoke"]) {
        const unknown = await cli(["key", command, "--user", "usr_01NOSUCHUSER000000000000000"], db.env);
        assert.notEqual(unknown.code, 0);
        assert.match(unknown.stderr, /user 'usr_01NOSUCHUSER\w*' was not found/, command);
      }
    });

    test("user add refuses an unknown organization, an empty name and a malformed email", async () => {
      const owner = JSON.parse(
        (await cliOk(["org", "create", "--name", "Strict Org", "--json"], db.env)).stdout,
      );
      const users = async () =>
        Number((await db.query<{ n: number | string }>("select count(*) as n from users"))[0]?.n);
      const usersBefore = await users();
      for (const [args, message] of [
        [
          ["--org", "org_01NOSUCHORGANIZATION0000000", "--name", "X"],
          /organization 'org_01NOSUCH\w*' was not found/,
        ],
        [["--org", owner.organizationId, "--name", "  "], /--name must not be empty/],
        [["--org", owner.organizationId, "--name", "X", "--email", "not-an-email"], /--email 'not-an-email'/],
      ] as const) {
        const run = await cli(["user", "add", ...args, "--json"], db.env);
        assert.notEqual(run.code, 0, run.stdout);
        assert.equal(run.stdout, "");
        assert.match(run.stderr, message);
      }
      assert.equal(await users(), usersBefore, "nothing was added");
    });

    test("demo prints a working API key and curl commands", async () => {
      assert.ok(server, "needs the running server");
      const { stdout } = await cliOk(["demo"], db.env);
      const key = stdout.match(/API key:\s+(sk_[A-Za-z0-9_-]+)/)?.[1];
      assert.ok(key, `no API key in:\n${stdout}`);
      const curls = stdout.split("\n").filter((line) => line.trim().startsWith("curl "));
      assert.ok(curls.length >= 3, stdout);
      const sourceKey = stdout.match(/Bearer (lp_src_[A-Za-z0-9_-]+)/)?.[1];
      assert.ok(sourceKey, `no source key in:\n${stdout}`);
      for (const line of curls)
        assert.ok(line.includes(`Bearer ${key}`) || line.includes(`Bearer ${sourceKey}`), line);
      assert.match(stdout, /curl -s -X POST http:\/\/\S+\/events\/all\/my /);

      // The source's key creates a lead, named on the timeline as the source's.
      const delivered = await fetch(`${server.baseUrl}/leads`, {
        method: "POST",
        headers: { authorization: `Bearer ${sourceKey}`, "content-type": "application/json" },
        body: JSON.stringify({ contact: { firstName: "Grace", phone: { number: "(415) 555-0143" } } }),
      });
      assert.equal(delivered.status, 201, await delivered.clone().text());
      const leadId = ((await delivered.json()) as { id: string }).id;

      const events = await listAllEvents(server.baseUrl, key);
      assert.ok(events.length > 0);
      const types = new Set(events.map((e) => e.activityType));
      for (const type of ["LeadCreated", "Note", "LeadUpdated"])
        assert.ok(types.has(type), `no ${type} in ${[...types]}`);
      const received = events.find((e) => e.leadId === leadId && e.activityType === "LeadCreated");
      assert.match(String(received?.sourceId), /^src_/);
      // The demo's own leads came from several sources, two of them delivered with a source key.
      const sourced = events.filter(
        (e) => e.activityType === "LeadCreated" && /^src_/.test(String(e.sourceId)),
      );
      assert.ok(sourced.length >= 3, `${sourced.length} leads delivered by sources`);
    });

    test("a second demo on the same database gets numbers of its own, and its own inbound messages", async () => {
      const keys: string[] = [];
      for (let i = 0; i < 2; i++) {
        const { stdout } = await cliOk(["demo"], db.env);
        keys.push(stdout.match(/API key:\s+(sk_[A-Za-z0-9_-]+)/)?.[1] as string);
      }
      const numbers = await db.query<{ number: string; n: number | string }>(
        "select number, count(*) as n from phone_numbers group by number having count(*) > 1",
      );
      assert.deepEqual(numbers, [], "a number held by two organizations");
      for (const key of keys) {
        const events = await listAllEvents(server!.baseUrl, key);
        const received = events.filter((e) => e.status === "Received" || e.status === "Opted out");
        assert.equal(received.length, 2, "the reply and the STOP of this demo, in this demo");
      }
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
      for (const event of events) assertEventRecord(event);
      // Events are written from per-kind templates: each kind must come out with its own fields.
      const kinds = new Set(events.map((e) => `${e.activityType}/${e.status}`));
      for (const kind of ["LeadCreated/Completed", "Sms/Delivered", "Sms/Received", "Note/Completed"]) {
        assert.ok(kinds.has(kind), `no ${kind} among ${[...kinds].join(", ")}`);
      }
      const delivered = events.find((e) => e.status === "Delivered")!;
      assert.equal(delivered.billableAmount, 0.0079);
      assert.ok(String(delivered.deliveredAt) > String(delivered.createdAt));
      // Conversations preview as the server keeps them: lastEventAt the newest event's time, the
      // snippet and note flag from the newest that was not canceled.
      const res = await fetch(`${server.baseUrl}/conversations/my`, {
        method: "POST",
        headers: { authorization: `Bearer ${seeded.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ pageSize: 500 }),
      });
      const conversations = (await res.json()).items as Array<Record<string, unknown>>;
      assert.equal(conversations.length, 2000 / 25);
      let previewsPastACancel = 0;
      for (const conversation of conversations) {
        const own = events
          .filter((e) => e.conversationId === conversation.id)
          .sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
        assert.equal(conversation.lastEventAt, own[0]!.createdAt);
        const shown = own.find((e) => e.status !== "Canceled")!;
        if (shown !== own[0]) previewsPastACancel++;
        assert.equal(conversation.lastSnippet, String(shown.summary).slice(0, 160), String(conversation.id));
        assert.equal(conversation.lastEventIsInternalNote, shown.activityType === "Note");
      }
      assert.ok(previewsPastACancel > 0, "some conversation ends with a canceled message");
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

    test("every curl command the banner prints works when pasted", async () => {
      assert.ok(server, "needs the running server");
      const commands = joinContinuations(server.banner).filter((line) => line.trim().startsWith("curl "));
      assert.ok(commands.length >= 5, server.banner);
      const run = await runPasted(commands.join("\n"), db.env);
      assert.equal(run.code, 0, `a pasted command failed:\n${run.stderr}`);
      assert.deepEqual(
        run.calls.map((call) => `${call.method} ${call.path} ${call.status}`),
        [
          "POST /events/all/my 200",
          "POST /leads/all/my 200",
          "POST /conversations/my 200",
          "POST /leads 201",
          "POST /leads 201",
        ],
      );
      // Each lead the banner creates is a new person: at none of the demo leads' phones, nor each other's.
      const digits = (phone: unknown) => String(phone).replace(/\D/g, "").slice(-10);
      const demoLeads = (run.calls[1]!.body as { items: { phone: string }[] }).items;
      const taken = new Set(demoLeads.map((lead) => digits(lead.phone)));
      assert.ok(taken.size >= 8, JSON.stringify(demoLeads));
      for (const call of run.calls.slice(3)) {
        const phone = digits((call.body as { contact: { phone: { number: string } } }).contact.phone.number);
        assert.ok(!taken.has(phone), `the banner creates a second lead at a demo lead's phone, ${phone}`);
        taken.add(phone);
      }
      // Nothing else in the banner reads as a command to paste.
      assert.doesNotMatch(server.banner, /^\s+open /m);
      assert.match(server.banner, new RegExp(`API reference: ${server.baseUrl}/docs`));
    });

    test("a later start on that database creates no demo, and says how to get an API key", async () => {
      await server?.stop();
      server = await startServer(["--demo-if-empty"], db.env);
      assert.doesNotMatch(server.banner, /Demo organization ready/);
      assert.match(server.banner, /no demo was created/);
      const command = server.banner.match(/npx leadtrail (org create --name) NAME/);
      assert.ok(command, server.banner);
      const created = await cliOk(["org", "create", "--name", "Second Start", "--json"], db.env);
      assert.match(JSON.parse(created.stdout).apiKey, /^sk_/);
      assert.match(server.banner, /npx leadtrail key create --user usr_/);
    });
  });
});

describe("bench-seed on a SQLite file no other connection has open", () => {
  let db: CliDatabase;
  before(async () => {
    db = await createCliDatabase("sqlite");
  });
  after(async () => db?.cleanup());

  test("loads every event and hands the file back in WAL mode", { timeout: 120_000 }, async () => {
    // With the file to itself the load runs through a rollback journal (src/cli/bench-seed.ts): the
    // file must come back in WAL mode, which the server and worker rely on for concurrent readers.
    const { stdout } = await cliOk(["bench-seed", "--events", "30000", "--json"], db.env);
    const seeded = JSON.parse(stdout.trimEnd().split("\n").at(-1)!);
    const [mode] = await db.query<{ journal_mode: string }>("pragma journal_mode");
    assert.equal(mode?.journal_mode, "wal");
    const [count] = await db.query<{ n: number }>(
      "select count(*) as n from events where organization_id = $1",
      [seeded.organizationId],
    );
    assert.equal(count?.n, 30000);
    const [check] = await db.query<{ integrity_check: string }>("pragma integrity_check");
    assert.equal(check?.integrity_check, "ok");
  });
});

describe("commands that open a new SQLite file at once", () => {
  test("each migrates or waits for the other: every one succeeds", { timeout: 180_000 }, async () => {
    // Kysely ran SQLite migrations outside a transaction, without a lock: two `org create` on a new
    // file both applied 0001, and one failed about one round in three.
    for (let round = 0; round < 3; round++) {
      const db = await createCliDatabase("sqlite");
      try {
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            cli(["org", "create", "--name", `Race ${i}`, "--json"], db.env),
          ),
        );
        for (const result of results) assert.equal(result.code, 0, result.stderr);
        const [orgs] = await db.query<{ n: number }>("select count(*) as n from organizations");
        assert.equal(orgs?.n, 6);
        const [latest] = await db.query<{ name: string }>(
          "select name from kysely_migration order by name desc limit 1",
        );
        assert.equal(latest?.name, LATEST_MIGRATION);
      } finally {
        await db.cleanup();
      }
    }
  });
});

forEachEngine("serve's and worker's settings at start", (engine) => {
  test("one line of effective settings, never the Telnyx API key nor the database's password; /healthz neither", async () => {
    const db = await createCliDatabase(engine);
    const secrets = /KEYs3cretTelnyx|Pa55wordInUrl|QueryPa55/;
    const env: NodeJS.ProcessEnv = {
      ...db.env,
      LOG_LEVEL: "trace",
      LEADTRAIL_PROVIDER: "telnyx",
      TELNYX_API_KEY: "KEYs3cretTelnyx",
      TELNYX_PUBLIC_KEY: new FakeTelnyx().publicKeyBase64,
      TELNYX_API_BASE_URL: "http://127.0.0.1:9/v2",
      LEADTRAIL_QUIET_HOURS: "22:30-07:00",
    };
    if (engine === "postgresql") {
      // The test cluster trusts local connections: any password (in the URL, or its query) is taken.
      const url = new URL(db.env.DATABASE_URL!);
      url.password = "Pa55wordInUrl";
      url.search = "?password=QueryPa55";
      env.DATABASE_URL = url.href;
    }
    const database =
      engine === "postgresql"
        ? "postgresql postgres://postgres@127\\.0\\.0\\.1:5432/lt_cli_\\w+"
        : "sqlite \\S+x\\.db";
    const line = new RegExp(
      `^leadtrail settings: database ${database}, provider telnyx \\(API http://127\\.0\\.0\\.1:9/v2, API key set\\), keyword replies provider, public URL http://127\\.0\\.0\\.1:\\d+, quiet hours 22:30-07:00, retries 5 from 30 s, .*log level trace, shutdown grace 10 s$`,
      "m",
    );
    try {
      const port = await freePort();
      const server = await spawnUntilReady(
        ["serve"],
        { ...env, PORT: String(port), HOST: "127.0.0.1" },
        /leadtrail listening on /,
      );
      let health = "";
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        health = await res.text();
        assert.equal(res.status, 200, health);
        // A request that fails authentication is logged too.
        assert.equal((await fetch(`http://127.0.0.1:${port}/leads/all/my`, { method: "POST" })).status, 401);
      } finally {
        assert.equal(await server.stop(), 0, server.output());
      }
      assert.match(server.output(), line);
      assert.doesNotMatch(server.output(), secrets);
      assert.doesNotMatch(health, secrets);
      const worker = await startWorker(env);
      assert.equal(await worker.stop(), 0, worker.output());
      assert.match(worker.output(), line);
      assert.doesNotMatch(worker.output(), secrets);
    } finally {
      await db.cleanup();
    }
  });
});
