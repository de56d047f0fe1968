import { generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

// A local HTTP server that speaks Telnyx's v2 messaging JSON: POST /v2/messages, and signed
// webhooks (Ed25519 over `timestamp|body`) back to each message's webhook_url, retried until the
// receiver answers 2xx (as Telnyx retries). Tests use it in-process; the crash test runs it as its
// own process: `node --import tsx test/helpers/fake-telnyx.ts [--auto-receipts] [--port N]` prints
// {"url","publicKey"} on stdout. GET /__sent lists every message request it received.

export type Behaviour = "accept" | "429" | "500" | "422" | "hang";

export interface SentRequest {
  id: string;
  body: { from: string; to: string; text: string; media_urls?: string[]; webhook_url?: string };
  authorization: string | undefined;
  at: number;
}

export class FakeTelnyx {
  readonly sent: SentRequest[] = [];
  /** Per recipient number; default "accept". */
  readonly behaviour = new Map<string, Behaviour>();
  readonly publicKeyBase64: string;
  private readonly privateKey: KeyObject;
  private server: Server | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  url = "";

  constructor(private readonly options: { autoReceipts?: boolean; receiptDelayMs?: number } = {}) {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: "jwk" }) as { x: string };
    this.publicKeyBase64 = Buffer.from(jwk.x, "base64url").toString("base64");
  }

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req).then(
        ({ status, body }) => {
          if (status === 0) return; // hang: never answer
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(body));
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method === "GET" && req.url === "/__sent") return { status: 200, body: this.sent };
    if (req.method !== "POST" || req.url !== "/v2/messages") {
      return { status: 404, body: { errors: [{ code: "10404", title: "Not found" }] } };
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as SentRequest["body"];
    const behaviour = this.behaviour.get(body.to) ?? "accept";
    if (behaviour === "hang") return { status: 0, body: null };
    if (behaviour === "429")
      return { status: 429, body: { errors: [{ code: "10011", title: "Too many requests" }] } };
    if (behaviour === "500")
      return { status: 500, body: { errors: [{ code: "10007", title: "Unexpected error" }] } };
    if (behaviour === "422") {
      return {
        status: 422,
        body: {
          errors: [{ code: "40310", title: "Invalid 'to' address", detail: "The 'to' number is not valid." }],
        },
      };
    }
    const id = randomUUID();
    this.sent.push({ id, body, authorization: req.headers.authorization, at: Date.now() });
    if (this.options.autoReceipts && body.webhook_url) {
      const url = body.webhook_url;
      const delay = this.options.receiptDelayMs ?? 50;
      this.later(delay, () => this.deliverWithRetry(url, this.webhook("message.sent", id, body, "sent")));
      this.later(delay * 2, () =>
        this.deliverWithRetry(url, this.webhook("message.finalized", id, body, "delivered")),
      );
    }
    return {
      status: 200,
      body: {
        data: {
          record_type: "message",
          direction: "outbound",
          id,
          type: body.media_urls?.length ? "MMS" : "SMS",
          from: { phone_number: body.from },
          to: [{ phone_number: body.to, status: "queued" }],
          text: body.text,
          media: (body.media_urls ?? []).map((url) => ({ url })),
          webhook_url: body.webhook_url ?? null,
        },
      },
    };
  }

  /** A webhook envelope as Telnyx sends it. */
  webhook(
    eventType: string,
    id: string,
    message: { from: string; to: string; text?: string },
    status: string,
    extra: Record<string, unknown> = {},
  ) {
    return {
      data: {
        event_type: eventType,
        id: randomUUID(),
        occurred_at: new Date().toISOString(),
        record_type: "event",
        payload: {
          id,
          record_type: "message",
          from: { phone_number: message.from },
          to: [{ phone_number: message.to, status }],
          text: message.text ?? "",
          errors: [],
          ...extra,
        },
      },
      meta: { attempt: 1 },
    };
  }

  /** Signs a body the way Telnyx does; `timestamp` in unix seconds. */
  signedHeaders(rawBody: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
    const signature = sign(null, Buffer.from(`${timestamp}|${rawBody}`), this.privateKey).toString("base64");
    return {
      "content-type": "application/json",
      "telnyx-signature-ed25519": signature,
      "telnyx-timestamp": String(timestamp),
    };
  }

  /** POSTs a signed webhook; retries every 250 ms for up to 60 s until the receiver answers 2xx. */
  async deliverWithRetry(url: string, webhook: unknown): Promise<void> {
    const raw = JSON.stringify(webhook);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: this.signedHeaders(raw),
          body: raw,
          signal: AbortSignal.timeout(5000),
        });
        if (res.ok) return;
      } catch {
        // receiver down: retry
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private later(ms: number, work: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void work();
    }, ms);
    this.timers.add(timer);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ""))) {
  const portArg = process.argv.indexOf("--port");
  const fake = new FakeTelnyx({ autoReceipts: process.argv.includes("--auto-receipts") });
  const url = await fake.start(portArg > 0 ? Number(process.argv[portArg + 1]) : 0);
  process.stdout.write(`${JSON.stringify({ url, publicKey: fake.publicKeyBase64 })}\n`);
}
