import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import SqliteDatabase from "better-sqlite3";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { sql } from "kysely";
import pg from "pg";
import { loadMessagingConfig } from "../src/config.js";
import { buildApp } from "../src/http/app.js";
import { Messaging } from "../src/messaging/messaging.js";
import { type CreatedOrganization, createOrganization } from "../src/store/orgs-repo.js";
import { Store } from "../src/store/store.js";
import { PG_URL, POSTGRES_AVAILABLE } from "./helpers/engines.js";

// A database outage is a 503 problem with Retry-After on every route, as /healthz reports it, not a
// 500 "internal" (a server fault to investigate) on all but /healthz.

async function appOn(store: Store): Promise<{ app: FastifyInstance; org: CreatedOrganization }> {
  const messaging = loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off" });
  const app = await buildApp({
    store,
    rateLimitPerMinute: 100_000,
    messaging,
    pipeline: new Messaging(store.db, store.engine, messaging),
  });
  const org = await createOrganization(store.db, "Outage Org");
  return { app, org };
}

function assertUnavailable(res: LightMyRequestResponse): void {
  assert.equal(res.statusCode, 503, res.body);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
  assert.equal(res.headers["retry-after"], "5");
  const problem = res.json();
  assert.equal(problem.type, "urn:leadtrail:problem:database-unavailable");
  assert.equal(problem.status, 503);
}

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(Number(new URL(PG_URL).port || 5432), new URL(PG_URL).hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server?.close(resolve));
  }

  url(): string {
    const url = new URL(PG_URL);
    url.host = `127.0.0.1:${this.port}`;
    return url.toString();
  }
}

describe("a database outage [postgresql]", {
  skip: POSTGRES_AVAILABLE ? false : "PostgreSQL unreachable",
}, () => {
  const schema = `lt_outage_${randomBytes(6).toString("hex")}`;
  const proxy = new CuttableProxy();
  let store: Store;
  let app: FastifyInstance;
  let org: CreatedOrganization;
  const admin = async (text: string) => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(text);
    await client.end();
  };
  before(async () => {
    await admin(`create schema ${schema}`);
    await proxy.start();
    store = await Store.open({ databaseUrl: proxy.url(), sqlitePath: "", pgSchema: schema });
    ({ app, org } = await appOn(store));
  });
  after(async () => {
    await app?.close();
    await store?.close();
    await proxy.cut();
    await admin(`drop schema if exists ${schema} cascade`);
  });

  test("PostgreSQL unreachable: every route answers 503 with Retry-After; back, they answer again", async () => {
    const call = (method: "GET" | "POST", url: string, body?: unknown) =>
      app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${org.apiKey}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
    assert.equal((await call("GET", "/wallets/me")).statusCode, 200);
    await proxy.cut();
    assertUnavailable(await call("GET", "/wallets/me"));
    assertUnavailable(await call("POST", "/leads", { contact: { firstName: "Ann" } }));
    assertUnavailable(await call("POST", "/events/all/my", {}));
    assert.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 503);
    await proxy.start();
    assert.equal((await call("GET", "/wallets/me")).statusCode, 200);
    assert.equal((await call("POST", "/leads", { contact: { firstName: "Ann" } })).statusCode, 201);
  });

  test("a connection lost in the middle of a query fails that query, and the process goes on", async () => {
    // pg emits 'error' on a checked-out client whose connection dies; with no listener on it, that
    // event would end the process (node:test reports it as an uncaught exception).
    const running = sql`select pg_sleep(2)`.execute(store.db);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await proxy.cut();
    await assert.rejects(running, /Connection terminated unexpectedly/);
    await proxy.start();
    assert.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
  });
});

describe("a database outage [sqlite]", () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let org: CreatedOrganization;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "leadtrail-outage-"));
    store = await Store.open({ sqlitePath: join(dir, "leadtrail.db") });
    ({ app, org } = await appOn(store));
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the file locked by another process past busy_timeout: a write answers 503, and works once free", {
    timeout: 30_000,
  }, async () => {
    const other = new SqliteDatabase(join(dir, "leadtrail.db"));
    other.exec("begin immediate");
    const post = () =>
      app.inject({
        method: "POST",
        url: "/leads",
        headers: { authorization: `Bearer ${org.apiKey}`, "content-type": "application/json" },
        payload: JSON.stringify({ contact: { firstName: "Ann" } }),
      });
    try {
      assertUnavailable(await post());
    } finally {
      other.exec("rollback");
      other.close();
    }
    assert.equal((await post()).statusCode, 201);
  });
});
