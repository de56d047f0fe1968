import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { realpathSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTestApi } from "./helpers/api.js";
import {
  BIN,
  type CliDatabase,
  cli,
  cliEnv,
  cliOk,
  createCliDatabase,
  ensureBuilt,
  freePort,
  ROOT,
  spawnUntilReady,
  startServer,
} from "./helpers/processes.js";

// `leadtrail serve` as a process supervisor sees it: it refuses to start before it writes or sends
// anything, and SIGTERM ends it whatever its clients are doing.

before(ensureBuilt, { timeout: 180_000 });

/** Opens a connection and sends the start of a request; resolves with the socket once written. */
async function halfSent(baseUrl: string, head: string): Promise<Socket> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  await new Promise<void>((resolve) => socket.write(head, () => resolve()));
  return socket;
}

function received(socket: Socket): Promise<string> {
  let text = "";
  socket.on("data", (chunk) => {
    text += chunk;
  });
  return new Promise((resolve) => socket.once("close", () => resolve(text)));
}

/** Whether something accepts connections on the port (127.0.0.1). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The pids of every process below `pid` (children, theirs, …), read from ps. */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const line of execFileSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8" }).split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (!child || !parent) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  for (let i = -1; i < found.length; i++) found.push(...(children.get(i < 0 ? pid : found[i]!) ?? []));
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("serve: start and stop", () => {
  let db: CliDatabase;
  before(async () => {
    db = await createCliDatabase("sqlite");
  });
  after(() => db.cleanup());

  test("a port it cannot listen on: exit 1 before the demo is seeded or anything is sent", async () => {
    const holder = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => holder.listen(port, "127.0.0.1", resolve));
    try {
      const env = { ...db.env, PORT: String(port), HOST: "127.0.0.1" };
      const failed = await cli(["serve", "--demo-if-empty"], env);
      assert.equal(failed.code, 1, failed.stdout + failed.stderr);
      assert.match(failed.stderr, /EADDRINUSE/);
      // Which setting to change, in the message a new user sees when port 3000 is taken.
      assert.match(
        failed.stderr,
        new RegExp(
          `^leadtrail: cannot listen on 127\\.0\\.0\\.1:${port} \\(HOST, PORT\\): .*set PORT to a free port`,
          "m",
        ),
      );
      assert.doesNotMatch(failed.stdout, /Demo organization/);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
    assert.deepEqual(await db.query("select id from organizations"), [], "no demo was written");
    assert.deepEqual(await db.query("select id from events"), []);
  });

  test("PORT=0: the system picks the port, and the banner names the one picked", async () => {
    const server = await spawnUntilReady(
      ["serve"],
      { ...db.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" },
      /leadtrail listening on (http:\/\/\S+) /,
    );
    try {
      const baseUrl = server.match[1]!;
      assert.notEqual(new URL(baseUrl).port, "0");
      assert.equal((await fetch(`${baseUrl}/healthz`)).status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test("npm start: a SIGTERM to npm itself (as a supervisor sends it) stops the server it started", {
    timeout: 90_000,
  }, async () => {
    // A database of its own: npm start seeds the demo in it.
    const own = await createCliDatabase("sqlite");
    const port = await freePort();
    // npm's own script, run by this node: npm-cli.js, where the npm next to it links to.
    const npmCli = realpathSync(join(dirname(process.execPath), "npm"));
    const npm = await spawnUntilReady(
      ["start"],
      { ...own.env, PORT: String(port), HOST: "127.0.0.1", npm_config_update_notifier: "false" },
      /leadtrail listening on http:\/\//,
      [npmCli],
    );
    const below = descendantsOf(npm.child.pid!);
    assert.ok(below.length > 0, "npm runs the server as its child");
    try {
      await npm.stop();
      assert.equal(await accepts(port), false, "the server still listens after npm exited");
      assert.deepEqual(below.filter(isAlive), [], "a process npm started outlives it");
    } finally {
      // What the assertions found left running (npm's start script without exec): ended here.
      for (const pid of below.filter(isAlive)) process.kill(pid, "SIGTERM");
      await own.cleanup();
    }
  });

  test("SIGTERM: a request already under way is answered; a client that never finishes is cut after the grace period", {
    timeout: 60_000,
  }, async () => {
    const org = JSON.parse((await cliOk(["org", "create", "--name", "Stop Co", "--json"], db.env)).stdout);
    const server = await startServer([], {
      ...db.env,
      LEADTRAIL_SHUTDOWN_GRACE_SECONDS: "1",
      LOG_LEVEL: "silent",
    });
    const body = JSON.stringify({ contact: { firstName: "Late", phone: { number: "+12125550177" } } });
    const head =
      `POST /leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${org.apiKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    // One client sends its whole request after the signal; another stops half-way for good.
    const finishing = await halfSent(server.baseUrl, head);
    const stalled = await halfSent(server.baseUrl, `${head}${body.slice(0, 10)}`);
    const finishingAnswer = received(finishing);
    const stalledAnswer = received(stalled);
    const exit = server.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    finishing.write(body);
    const answer = await finishingAnswer;
    assert.match(answer, /^HTTP\/1\.1 201 /, answer);
    assert.equal(await exit, 0, "exits cleanly once the stalled connection is cut");
    assert.equal(await stalledAnswer, "", "the stalled client gets no answer, only the closed connection");
    const leads = await db.query<{ first_name: string }>("select first_name from leads");
    assert.deepEqual(
      leads.map((l) => l.first_name),
      ["Late"],
    );
  });
});

test("a request that reaches the app while it closes is served, not refused with a plain-JSON 503", async () => {
  const api = await startTestApi("sqlite");
  const closing = api.app.close();
  try {
    const res = await api.call("GET", "/healthz");
    assert.equal(res.statusCode, 200, res.body);
  } finally {
    await closing;
    await api.close();
  }
});

test("SIGTERM while serve --demo-if-empty seeds the demo: it finishes the demo, then exits 0", {
  timeout: 90_000,
}, async () => {
  const db = await createCliDatabase("postgresql");
  try {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, "serve", "--demo-if-empty"], {
      cwd: ROOT,
      env: { ...db.env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr!.on("data", (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    // As soon as the port accepts a connection, the demo is being seeded.
    while (!(await accepts(port))) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill("SIGTERM");
    assert.equal(await exited, 0, output);
    assert.match(output, /Demo organization ready/, "the demo was finished and its key printed");
    const count = async (table: string) =>
      Number((await db.query<{ n: string }>(`select count(*) as n from ${table}`))[0]!.n);
    assert.equal(await count("organizations"), 1);
    assert.ok((await count("phone_numbers")) > 0, "the whole demo, numbers included");
    assert.ok((await count("leads")) > 0);
  } finally {
    await db.cleanup();
  }
});

describe("the database going away", () => {
  test("a PostgreSQL server that takes the connection and never answers: the command gives up, exit 1", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => {
      sockets.push(socket);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
    try {
      const result = await cli(
        ["migrate"],
        cliEnv({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test` }),
      );
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /^leadtrail: .*timeout/m);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("a database dropped under a running server: /healthz is a 503 problem naming it, not a hang or a 500", async () => {
    const db = await createCliDatabase("postgresql");
    const server = await startServer([], { ...db.env, LOG_LEVEL: "silent" });
    try {
      assert.equal((await fetch(`${server.baseUrl}/healthz`)).status, 200);
      await db.cleanup(); // DROP DATABASE … WITH (FORCE): the server's connections are cut
      const res = await fetch(`${server.baseUrl}/healthz`);
      assert.equal(res.status, 503);
      assert.match(String(res.headers.get("content-type")), /^application\/problem\+json/);
      const body = (await res.json()) as { type: string; detail: string; instance: string };
      assert.equal(body.type, "urn:leadtrail:problem:database-unavailable");
      assert.match(body.detail, /^The postgresql database is unavailable: /);
      assert.equal(body.instance, "/healthz");
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
