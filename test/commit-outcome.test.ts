import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { after, before, describe, test } from "node:test";
import type { Transaction } from "kysely";
import pg from "pg";
import { loadMessagingConfig } from "../src/config.js";
import { buildApp } from "../src/http/app.js";
import { Messaging } from "../src/messaging/messaging.js";
import type { Provider } from "../src/messaging/provider.js";
import { Worker } from "../src/messaging/worker.js";
import { CommitOutcomeUnknownError } from "../src/store/commit-outcome.js";
import { isDatabaseUnavailable } from "../src/store/errors.js";
import { GroupCommit, runTransaction } from "../src/store/group-commit.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import type { Database } from "../src/store/schema.js";
import { Store } from "../src/store/store.js";
import { PG_URL, POSTGRES_AVAILABLE } from "./helpers/engines.js";
import { senderNumberRow } from "./helpers/messaging.js";

// A connection to PostgreSQL lost while COMMIT is in flight: the work may have committed, so it is
// never run a second time on a guess (a group commit used to run every unit again alone).

/** What the proxy does to the next COMMIT it sees. */
type CommitFault =
  /** Forwards it, and closes the client's side before PostgreSQL's answer can reach it. */
  | "lose-answer"
  /** Closes both sides without forwarding it: PostgreSQL aborts the transaction. */
  | "drop"
  /** Closes the client's side and keeps PostgreSQL's open, the transaction idle in it until released. */
  | "hold";

/** A NUL-terminated string of a protocol message at `at`, and the offset after it. */
function cstring(message: Buffer, at: number): [string, number] {
  const end = message.indexOf(0, at);
  return [message.toString("utf8", at, end), end + 1];
}

/** Splits a client's byte stream into protocol messages: the untyped startup message, then typed ones. */
class FrontendMessages {
  private buffer = Buffer.alloc(0);
  private started = false;

  constructor(private readonly onMessage: (type: string, message: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const header = this.started ? 1 : 0;
      if (this.buffer.length < header + 4) return;
      const size = header + this.buffer.readInt32BE(header);
      if (this.buffer.length < size) return;
      const message = this.buffer.subarray(0, size);
      this.buffer = this.buffer.subarray(size);
      this.onMessage(this.started ? String.fromCharCode(message[0]!) : "", message);
      this.started = true;
    }
  }
}

/**
 * A TCP proxy to PostgreSQL that reads the client's side of the protocol enough to see each
 * statement run (simple queries, and extended ones by the text their statement was parsed from) and
 * to break the connection at a COMMIT, as armed.
 */
class CommitBreakingProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** PostgreSQL's side of connections broken by "hold". */
  private readonly held = new Set<Socket>();
  private fault: CommitFault | undefined;
  /** Every statement run through the proxy, in order. */
  readonly executed: string[] = [];
  /** Where `executed` stood when the armed fault struck. */
  faultAt = -1;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((client) => this.connection(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Breaks the next COMMIT (of any connection) as `fault` says. */
  arm(fault: CommitFault): void {
    this.fault = fault;
    this.faultAt = -1;
  }

  get struck(): boolean {
    return this.faultAt >= 0;
  }

  /** The statements run since the fault struck. */
  executedSinceFault(): string[] {
    return this.executed.slice(this.faultAt);
  }

  private connection(client: Socket): void {
    const upstream = tcpConnect(Number(new URL(PG_URL).port || 5432), new URL(PG_URL).hostname);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => {});
    }
    // "open" forwards both ways; otherwise the client's side is gone and PostgreSQL's is kept as said.
    let state: "open" | "awaiting-answer" | "held" = "open";
    const statements = new Map<string, string>();
    const messages = new FrontendMessages((type, message) => {
      if (state !== "open") return;
      if (type === "P") {
        const [name, at] = cstring(message, 5);
        statements.set(name, cstring(message, at)[0]);
      } else if (type === "B") {
        const [, at] = cstring(message, 5);
        this.executed.push(statements.get(cstring(message, at)[0]) ?? "");
      } else if (type === "Q") {
        const text = cstring(message, 5)[0];
        this.executed.push(text);
        const fault = this.fault;
        if (fault && /^commit;?$/i.test(text.trim())) {
          this.fault = undefined;
          this.faultAt = this.executed.length;
          client.destroy();
          if (fault === "drop") upstream.destroy();
          if (fault === "hold") {
            state = "held";
            this.held.add(upstream);
          }
          if (fault !== "lose-answer") return;
          state = "awaiting-answer";
        }
      }
      upstream.write(message);
    });
    client.on("data", (chunk: Buffer) => messages.push(chunk));
    client.on("close", () => {
      if (state === "open") upstream.destroy();
    });
    upstream.on("data", (chunk: Buffer) => {
      if (state === "open") client.write(chunk);
      // PostgreSQL answered the COMMIT (so it did commit): that answer is the one lost.
      else if (state === "awaiting-answer") upstream.destroy();
    });
    upstream.on("close", () => client.destroy());
  }

  /** Closes every connection, held ones too (PostgreSQL then aborts what they left open). */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Closes PostgreSQL's side of held connections: their open transactions abort. */
  releaseHeld(): void {
    for (const socket of this.held) socket.destroy();
    this.held.clear();
  }

  url(): string {
    const url = new URL(PG_URL);
    url.host = `127.0.0.1:${this.port}`;
    return url.toString();
  }
}

describe("a COMMIT whose answer was lost [postgresql]", {
  skip: POSTGRES_AVAILABLE ? false : "PostgreSQL unreachable",
}, () => {
  const schema = `lt_commit_${randomBytes(6).toString("hex")}`;
  const proxy = new CommitBreakingProxy();
  let store: Store;
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
  });
  after(async () => {
    await store?.close();
    await proxy.close();
    await admin(`drop schema if exists ${schema} cascade`);
  });

  /** Work that writes a setting under a key new each time it runs, and answers that key. */
  const writeOne = (prefix: string) => async (trx: Transaction<Database>) => {
    const key = `${prefix}${randomBytes(6).toString("hex")}`;
    await trx.insertInto("settings").values({ key, value: "v" }).execute();
    return key;
  };
  const keys = async (prefix: string) =>
    (await store.db.selectFrom("settings").select("key").where("key", "like", `${prefix}%`).execute())
      .map((r) => r.key)
      .sort();
  const UNITS = 5;

  test("the answer lost after PostgreSQL committed: each unit of the group gets its result, none runs again", async () => {
    const { transact } = new GroupCommit(store.db);
    proxy.arm("lose-answer");
    const results = await Promise.all(Array.from({ length: UNITS }, () => transact(writeOne("lost-"))));
    assert.ok(proxy.struck, "the group's COMMIT was broken");
    assert.equal(new Set(results).size, UNITS);
    assert.deepEqual(await keys("lost-"), [...results].sort(), "every unit's row, once");
    assert.ok(
      proxy.executed.includes("begin; select pg_current_xact_id()::text as xid"),
      "the transaction learnt its id with its BEGIN, in one round trip",
    );
  });

  test("the COMMIT dropped before PostgreSQL saw it: it aborted, and each unit runs again alone, once", async () => {
    const { transact } = new GroupCommit(store.db);
    proxy.arm("drop");
    const results = await Promise.all(Array.from({ length: UNITS }, () => transact(writeOne("dropped-"))));
    assert.ok(proxy.struck, "the group's COMMIT was broken");
    assert.ok(
      proxy.executedSinceFault().some((text) => text.includes("pg_xact_status")),
      "PostgreSQL was asked what became of the group before its units ran again",
    );
    assert.deepEqual(await keys("dropped-"), [...results].sort(), "every unit's row, once");
  });

  test("runTransaction alone, the answer to its COMMIT lost: it answers what the work returned", async () => {
    proxy.arm("lose-answer");
    const key = await runTransaction(store.db, writeOne("alone-"));
    assert.ok(proxy.struck, "the COMMIT was broken");
    assert.deepEqual(await keys("alone-"), [key]);
  });

  /** The real app on the proxied store, with an organization, a sender and a lead's conversation. */
  const messagingApp = async () => {
    const messaging = loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off" });
    const pipeline = new Messaging(store.db, store.engine, messaging);
    const app = await buildApp({ store, rateLimitPerMinute: 100_000, messaging, pipeline });
    const org = await createOrganization(store.db, "Commit Org", {
      startingCreditMicros: messaging.startingCreditMicros,
    });
    const sender = senderNumberRow(org.organizationId);
    await store.db.insertInto("phone_numbers").values(sender).execute();
    const call = (url: string, body: unknown) =>
      app.inject({
        method: "POST",
        url,
        headers: { authorization: `Bearer ${org.apiKey}`, "content-type": "application/json" },
        payload: JSON.stringify(body),
      });
    const lead = (
      await call("/leads", { contact: { firstName: "Pat", phone: { number: LEAD_PHONE } } })
    ).json();
    const conversationId = (await call(`/conversations/lead/${lead.id}`, {})).json().items[0].id as string;
    const close = async () => {
      await pipeline.stop();
      await app.close();
    };
    return { messaging, org, call, conversationId, close };
  };
  const LEAD_PHONE = "+12125550101";

  test("POST /sms/send, the answer to the sends' COMMIT lost: each request is answered 201, one message each", async () => {
    const { org, call, conversationId, close } = await messagingApp();
    try {
      const toLead = async () =>
        (
          await store.db
            .selectFrom("events")
            .select("id")
            .where("organization_id", "=", org.organizationId)
            .where("to_phone_number", "=", LEAD_PHONE)
            .execute()
        ).map((e) => e.id);
      const earlier = new Set(await toLead());

      proxy.arm("lose-answer");
      const responses = await Promise.all(
        Array.from({ length: UNITS }, (_, i) => call("/sms/send", { conversationId, text: `Message ${i}` })),
      );
      assert.ok(proxy.struck, "the sends' COMMIT was broken");
      for (const res of responses) assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(
        (await toLead()).filter((id) => !earlier.has(id)).sort(),
        responses.map((res) => res.json().id as string).sort(),
        "one message queued per request, the one it answered",
      );
    } finally {
      await close();
    }
  });

  test("POST /leads and POST /suppressions, the answer to their COMMIT lost: answered 201, written once", async () => {
    const { org, call, close } = await messagingApp();
    try {
      const leadsNamed = async (firstName: string) =>
        store.db
          .selectFrom("leads")
          .select("id")
          .where("organization_id", "=", org.organizationId)
          .where("first_name", "=", firstName)
          .execute();
      proxy.arm("lose-answer");
      const created = await call("/leads", {
        contact: { firstName: "Lost Commit", phone: { number: "+12125550102" } },
      });
      assert.ok(proxy.struck, "the lead's COMMIT was broken");
      assert.equal(created.statusCode, 201, created.body);
      assert.deepEqual(await leadsNamed("Lost Commit"), [{ id: created.json().id }]);

      proxy.arm("lose-answer");
      const entry = await call("/suppressions", {
        organizationId: org.organizationId,
        phoneNumber: "+12125550102",
        channel: "sms",
      });
      assert.ok(proxy.struck, "the suppression's COMMIT was broken");
      assert.equal(entry.statusCode, 201, entry.body);
      const lead = await store.db
        .selectFrom("leads")
        .select("document")
        .where("id", "=", created.json().id)
        .executeTakeFirstOrThrow();
      assert.equal(JSON.parse(lead.document).metadata.smsOptedOut, true);
    } finally {
      await close();
    }
  });

  test("a worker's claim, the answer to its COMMIT lost: the claimed message is handed to the provider, not left Sending", async () => {
    const { messaging, org, call, conversationId, close } = await messagingApp();
    try {
      const res = await call("/sms/send", { conversationId, text: "Claimed once" });
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      const handedOver: string[] = [];
      const provider: Provider = {
        name: "simulator",
        send: async (message) => {
          handedOver.push(message.eventId);
          return { kind: "accepted", providerMessageId: `rec_${message.eventId}` };
        },
        close: async () => {},
      };
      const worker = new Worker(store.db, { engine: store.engine, config: messaging, provider });

      proxy.arm("lose-answer");
      await worker.runOnce();
      assert.ok(proxy.struck, "the claim's COMMIT was broken");
      // The worker claims every due message (the earlier test's too): each is handed over once.
      assert.ok(handedOver.includes(id));
      assert.equal(new Set(handedOver).size, handedOver.length, "no message handed over twice");
      const sending = await store.db
        .selectFrom("events")
        .select("id")
        .where("status", "=", "Sending")
        .execute();
      assert.deepEqual(sending, [], "no message left Sending");
      const row = await store.db
        .selectFrom("events")
        .select("status")
        .where("organization_id", "=", org.organizationId)
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, "Sent");
    } finally {
      await close();
    }
  });

  test("PostgreSQL not saying what became of the group: each unit fails as unavailable, none runs again", async () => {
    // The transaction stays open on PostgreSQL's side ('in progress') for longer than the wait.
    const { transact } = new GroupCommit(store.db, 100, 300);
    proxy.arm("hold");
    const outcomes = await Promise.allSettled(
      Array.from({ length: UNITS }, () => transact(writeOne("held-"))),
    );
    proxy.releaseHeld();
    assert.ok(proxy.struck, "the group's COMMIT was broken");
    for (const outcome of outcomes) {
      assert.equal(outcome.status, "rejected");
      const reason = (outcome as PromiseRejectedResult).reason;
      assert.ok(reason instanceof CommitOutcomeUnknownError, String(reason));
      assert.ok(isDatabaseUnavailable(reason), "a 503, as for any database failure");
    }
    // Units run again would have written rows of their own (the held transaction's are not visible).
    assert.deepEqual(await keys("held-"), [], "no unit ran again");
  });
});
