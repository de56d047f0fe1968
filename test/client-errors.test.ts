import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { startTestApi, type TestApi } from "./helpers/api.js";

// Errors on a connection before a request reaches Fastify (a client too slow to send its request,
// headers too large, bytes that are not HTTP) answer problem+json and close the connection, through a
// real listening server: light-my-request's inject never opens a socket, so it cannot show them.

const TIMEOUT_MS = 300;

interface RawExchange {
  statusLine: string;
  headers: Record<string, string>;
  body: string;
}

/** Writes `raw` on a fresh connection (and nothing more) and reads until the server closes it. */
function exchange(port: number, raw: string): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(raw));
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", body = ""] = received.split("\r\n\r\n");
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(
        lines.map((line) => [
          line.slice(0, line.indexOf(":")).toLowerCase(),
          line.slice(line.indexOf(":") + 1).trim(),
        ]),
      );
      resolve({ statusLine, headers, body });
    });
    // A server that never answers would hang the test: give up well past the timeout.
    socket.setTimeout(10_000, () => socket.destroy(new Error("the server neither answered nor closed")));
  });
}

function assertProblem(reply: RawExchange, status: number, mention: string): void {
  assert.match(reply.statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(reply));
  assert.match(reply.headers["content-type"] ?? "", /^application\/problem\+json/);
  const problem = JSON.parse(reply.body) as Record<string, unknown>;
  assert.equal(problem.status, status);
  assert.match(String(problem.type), /^urn:leadtrail:problem:[a-z-]+$/);
  assert.equal(typeof problem.title, "string");
  assert.ok(String(problem.detail).includes(mention), String(problem.detail));
}

describe("connection-level client errors", () => {
  let api: TestApi;
  let port: number;
  before(async () => {
    api = await startTestApi("sqlite", { requestTimeoutMs: TIMEOUT_MS });
    await api.app.listen({ port: 0, host: "127.0.0.1" });
    port = (api.app.server.address() as AddressInfo).port;
  });
  after(() => api.close());

  test("a request whose body never arrives in full is a 408 problem, and nothing is written", async () => {
    const before = await api.db.store.db.selectFrom("leads").select("id").execute();
    const reply = await exchange(
      port,
      "POST /leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
        `${api.org.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"contact":`,
    );
    assertProblem(reply, 408, `${TIMEOUT_MS} ms`);
    assert.deepEqual(await api.db.store.db.selectFrom("leads").select("id").execute(), before);
  });

  test("headers that never end are a 408 problem too", async () => {
    const reply = await exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    assertProblem(reply, 408, "not received in full");
  });

  test("bytes that are not HTTP are a 400 problem", async () => {
    assertProblem(await exchange(port, "HELLO THERE\r\n\r\n"), 400, "not valid HTTP");
  });

  test("headers larger than the server takes are a 431 problem", async () => {
    const reply = await exchange(
      port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    assertProblem(reply, 431, "headers");
  });

  test("a keep-alive connection outlives the timeout: the deadline is per request", async () => {
    const socket = connect(port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    const requests = 12;
    for (let i = 0; i < requests; i++) {
      socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS / 3));
    }
    socket.end();
    await new Promise((resolve) => socket.once("close", resolve));
    // 12 requests over 4× the timeout on one connection, every one answered 200.
    assert.equal(received.match(/HTTP\/1\.1 200 /g)?.length, requests, received.slice(0, 500));
    assert.doesNotMatch(received, /HTTP\/1\.1 408 /);
  });

  test("a whole request on time is answered as usual", async () => {
    const reply = await exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.match(reply.statusLine, /^HTTP\/1\.1 200 /);
  });
});
