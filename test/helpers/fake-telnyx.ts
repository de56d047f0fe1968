import { generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import { realpathSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

// A local HTTP server that speaks Telnyx's v2 messaging JSON: POST /v2/messages answered per
// recipient number (accept, 429, 500, 422, hang…), and signed webhooks (Ed25519 over
// `timestamp|body`, the key pair generated here) back to each message's webhook_url (and its
// webhook_failover_url), retried until the receiver answers 2xx (see deliverWithRetry). GET
// /v2/messages/{id} answers what it knows of a message it took (statuses), 404 for any other id.
//
// Tests use it in-process. The crash test runs it as a process of its own:
//   node --import tsx test/helpers/fake-telnyx.ts [--port N] [--receipt-delay-ms N] [--no-auto-receipts]
// prints {"url","port","publicKey"} as one JSON line on stdout and, unless told not to, sends
// message.sent then message.finalized (delivered) to the webhook_url of every message it accepts
// (`--auto-receipts` is accepted and is the default). Control and inspection over HTTP:
//   GET /__sent       the accepted message requests   GET /__requests  every message request
//   POST /__behaviour {"to": "+1…", "behaviour": "500"} answers that recipient so from now on
//   POST /__finalized {"id": "…", "status": "sending_failed"} sends that message's webhook_url a
//                     message.finalized with that status (and answers once it was taken)
//
// It is one messaging profile with Telnyx's default keyword handling: a message.received it builds
// (inbound) whose text is an opt-out keyword makes a block rule for the sender, profile-wide, so any
// later send to them is refused with 40300 until they text START or UNSTOP. With `autoResponses`
// (Advanced Opt-In/Out) it also answers those keywords, and HELP/INFO, itself (autoResponded).

/**
 * How POST /v2/messages answers a recipient: "accept" is Telnyx's 200 with the message; "201" the
 * same as 201; "garbage" a 200 without a message id; "401" / "403" / "408" / "429" / "500" / "422"
 * Telnyx error bodies; "insufficient-funds" Telnyx's 402 with 20100 (the account's balance is spent);
 * "502" a gateway's answer (not Telnyx's format); "stop-blocked" Telnyx's 409 with error 40300 (the
 * recipient texted STOP and Telnyx holds a block rule); "hang" never answers (the adapter's timeout);
 * "accept-hang" takes the message (and sends its receipts) but never answers; "accept-null" takes it
 * and answers 200 with the JSON body `null` (a proxy's or a broken answer: no message id).
 */
export type Behaviour =
  | "accept"
  | "201"
  | "garbage"
  | "401"
  | "403"
  | "insufficient-funds"
  | "408"
  | "429"
  | "500"
  | "502"
  | "422"
  | "stop-blocked"
  | "hang"
  | "accept-hang"
  | "accept-null";
const BEHAVIOURS = new Set<string>([
  "accept",
  "201",
  "garbage",
  "401",
  "403",
  "insufficient-funds",
  "408",
  "429",
  "500",
  "502",
  "422",
  "stop-blocked",
  "hang",
  "accept-hang",
  "accept-null",
]);

export interface MessageRequestBody {
  from: string;
  to: string;
  /** Absent from an MMS without words. */
  text?: string;
  media_urls?: string[];
  webhook_url?: string;
  webhook_failover_url?: string;
  use_profile_webhooks?: boolean;
}

/** A message request the fake accepted: `id` is the Telnyx message id it answered with. */
export interface SentRequest {
  id: string;
  body: MessageRequestBody;
  authorization: string | undefined;
  at: number;
}

/** Every POST /v2/messages it received, whatever it answered (0 = hung up on). */
export interface ReceivedRequest {
  body: MessageRequestBody;
  authorization: string | undefined;
  contentType: string | undefined;
  behaviour: Behaviour;
  status: number;
  at: number;
}

/** An attachment of an inbound MMS, as the fake's caller describes it. */
export interface FakeInboundMedia {
  url: string;
  contentType: string;
  size: number;
  sha256: string;
}

/** Telnyx's default keywords (its Advanced Opt-In/Out page), and the help words a profile may answer. */
export type TelnyxKeyword = "opt-out" | "opt-in" | "help";
const TELNYX_KEYWORDS: Record<string, TelnyxKeyword> = {
  STOP: "opt-out",
  STOPALL: "opt-out",
  "STOP ALL": "opt-out",
  UNSUBSCRIBE: "opt-out",
  CANCEL: "opt-out",
  END: "opt-out",
  QUIT: "opt-out",
  START: "opt-in",
  UNSTOP: "opt-in",
  HELP: "help",
  INFO: "help",
};

/** A message the profile sent by itself, answering a keyword. */
export interface AutoResponse {
  from: string;
  to: string;
  text: string;
}

export interface FakeTelnyxOptions {
  /** The profile's Advanced Opt-In/Out auto-responses; none (Telnyx's default) when unset. */
  autoResponses?: Partial<Record<TelnyxKeyword, string>>;
  /** Send message.sent, then message.finalized (delivered), for every accepted message. */
  autoReceipts?: boolean;
  /** Delay before message.sent; message.finalized follows after twice as long. Default 50 ms. */
  receiptDelayMs?: number;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const error = (status: number, code: string, title: string, detail?: string): Answer => ({
  status,
  body: { errors: [{ code, title, ...(detail ? { detail } : {}) }] },
});

/**
 * What Telnyx's send schema says of a message's content: `text` is "a non-empty string", required
 * for an SMS; `media_urls` is required for an MMS. Null when the body keeps to it.
 */
function contentProblem(body: MessageRequestBody): string | null {
  if ("text" in body && (typeof body.text !== "string" || body.text === ""))
    return "The 'text' parameter must be a non-empty string.";
  if (!("text" in body) && !body.media_urls?.length)
    return "A message needs 'text' (SMS) or 'media_urls' (MMS).";
  return null;
}

/** The fake's one messaging profile, and the Telnyx organization owning it. */
const PROFILE_ID = "4001767e-ce0f-4cae-9d5f-0d5e636e7809";
const ORGANIZATION_ID = "b448f9cc-a842-4784-98e9-03c1a5872950";

/**
 * How Telnyx splits a text: GSM-7 (160 characters, 153 a part when split) when it has nothing else
 * (approximated here by printable ASCII), else UCS-2 (70 UTF-16 units, 67 a part).
 */
function partsOf(text: string): { encoding: string; parts: number } {
  const gsm = /^[\x20-\x7E\n\r]*$/.test(text);
  const [single, part] = gsm ? [160, 153] : [70, 67];
  return {
    encoding: gsm ? "GSM-7" : "UCS-2",
    parts: text.length <= single ? 1 : Math.ceil(text.length / part),
  };
}

export class FakeTelnyx {
  /** Accepted message requests, in order. */
  readonly sent: SentRequest[] = [];
  /** Every message request, in order, including those answered with an error or never answered. */
  readonly requests: ReceivedRequest[] = [];
  /** Per recipient number; default "accept". */
  readonly behaviour = new Map<string, Behaviour>();
  /**
   * Per recipient: headers sent with every answer to their message requests, such as Retry-After or
   * Telnyx's rate limit headers (x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset).
   */
  readonly answerHeaders = new Map<string, Record<string, string>>();
  /** Recipients with a block rule (they texted an opt-out keyword): refused with 40300, whatever behaviour says. */
  readonly blockRules = new Set<string>();
  /** The `parts` an acceptance reports, per recipient number; default 1. */
  readonly partsReported = new Map<string, number>();
  /**
   * What GET /v2/messages/{id} says of each message it took: "queued" at first, then what its
   * automatic receipts say; a test sets it to make Telnyx know more than its webhooks told.
   */
  readonly statuses = new Map<string, string>();
  /** The ids GET /v2/messages/{id} was asked for, in order. */
  readonly lookups: string[] = [];
  /** While set, GET /v2/messages/{id} answers this HTTP status (an error of Telnyx's). */
  lookupFailure: number | null = null;
  /** What the profile answered to keywords by itself (autoResponses), in order. */
  readonly autoResponded: AutoResponse[] = [];
  /** The public key as Telnyx's portal shows it: base64 of the raw 32-byte Ed25519 key. */
  readonly publicKeyBase64: string;
  private readonly privateKey: KeyObject;
  private server: Server | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** While set, message requests wait for it before they are answered (see hold). */
  private held: Promise<void> | null = null;
  /** Recipients whose message requests wait before they are answered, and on what (see holdRecipient). */
  private readonly heldRecipients = new Map<string, { arrived: () => void; answer: Promise<void> }>();
  url = "";
  port = 0;

  constructor(private readonly options: FakeTelnyxOptions = {}) {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: "jwk" }) as { x: string };
    this.publicKeyBase64 = Buffer.from(jwk.x, "base64url").toString("base64");
  }

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req).then(
        ({ status, body, headers }) => {
          if (status === 0) return; // hang: never answer (the socket is closed by stop())
          res.writeHead(status, { "content-type": "application/json", ...headers });
          res.end(JSON.stringify(body));
        },
        () => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify(error(500, "10007", "Unexpected error").body));
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this.url;
  }

  /**
   * Holds the answers to message requests (received or still to come) until the returned function
   * is called: a test can then act while the caller waits for Telnyx's answer.
   */
  hold(): () => void {
    let release!: () => void;
    this.held = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.held = null;
      release();
    };
  }

  /**
   * Holds the answers to message requests to `to` alone until `release` is called; the others are
   * answered as usual. `arrived` resolves once such a request has come in (and is being held).
   */
  holdRecipient(to: string): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const hasArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const answer = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.heldRecipients.set(to, { arrived, answer });
    return {
      arrived: hasArrived,
      release: () => {
        this.heldRecipients.delete(to);
        release();
      },
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage): Promise<Answer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    if (req.method === "GET" && req.url === "/__sent") return { status: 200, body: this.sent };
    if (req.method === "GET" && req.url === "/__requests") return { status: 200, body: this.requests };
    if (req.method === "POST" && req.url === "/__behaviour") {
      const { to, behaviour } = JSON.parse(raw) as { to: string; behaviour: string };
      if (!BEHAVIOURS.has(behaviour)) return error(422, "10015", "Unknown behaviour");
      this.behaviour.set(to, behaviour as Behaviour);
      return { status: 200, body: { to, behaviour } };
    }
    if (req.method === "POST" && req.url === "/__finalized") {
      // A message.finalized with the given status for a message it took, sent to its webhook_url
      // (scripts/make-upgrade-fixture.mjs: a failure receipt after an acceptance, which refunds).
      const { id, status } = JSON.parse(raw) as { id: string; status: string };
      const taken = this.sent.find((s) => s.id === id);
      if (!taken?.body.webhook_url) return error(404, "10005", "Resource not found");
      this.statuses.set(id, status);
      await this.deliverWithRetry(
        [taken.body.webhook_url],
        this.webhook("message.finalized", id, taken.body, status),
      );
      return { status: 200, body: { id, status } };
    }
    const retrieve = req.method === "GET" ? /^\/v2\/messages\/([^/?]+)$/.exec(req.url ?? "") : null;
    if (retrieve) return this.retrieve(decodeURIComponent(retrieve[1]!), req.headers.authorization);
    if (req.method !== "POST" || req.url !== "/v2/messages") return error(404, "10005", "Resource not found");
    if (this.held) await this.held;
    let body: MessageRequestBody | null = null;
    try {
      body = JSON.parse(raw) as MessageRequestBody;
    } catch {
      // answered 400 below
    }
    const heldRecipient = body ? this.heldRecipients.get(body.to) : undefined;
    if (heldRecipient) {
      heldRecipient.arrived();
      await heldRecipient.answer;
    }
    const behaviour =
      (body && (this.blockRules.has(body.to) ? "stop-blocked" : this.behaviour.get(body.to))) ?? "accept";
    const answer = !req.headers.authorization?.startsWith("Bearer ")
      ? error(401, "10009", "Authentication failed", "The required authentication headers were missing.")
      : body === null
        ? error(400, "10015", "Bad Request", "The request body is not valid JSON.")
        : contentProblem(body)
          ? error(422, "10015", "Bad Request", contentProblem(body)!)
          : {
              ...this.answer(behaviour, body, req.headers.authorization),
              headers: this.answerHeaders.get(body.to),
            };
    this.requests.push({
      body: body ?? ({} as MessageRequestBody),
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      behaviour,
      status: answer.status,
      at: Date.now(),
    });
    return answer;
  }

  private answer(behaviour: Behaviour, body: MessageRequestBody, authorization: string | undefined): Answer {
    switch (behaviour) {
      case "hang":
        return { status: 0, body: null };
      case "401":
        // Telnyx's answer to a key it does not accept (revoked, rotated).
        return error(401, "10009", "Authentication failed", "The API key is not valid.");
      case "403":
        // A key Telnyx knows that may not do this (its account may not send from this number).
        return error(
          403,
          "10010",
          "Authorization failed",
          "You do not have permission to perform the requested action on the specified resource or resources.",
        );
      case "insufficient-funds":
        return error(
          402,
          "20100",
          "Insufficient Funds",
          "You do not have enough funds to perform this action.",
        );
      case "408":
        return error(408, "10008", "Request timeout", "The request was not received in time.");
      case "429":
        return error(429, "10011", "Too many requests", "Rate limit exceeded. Try again later.");
      case "500":
        return error(500, "10007", "Unexpected error", "An unexpected error occurred.");
      case "502":
        // A gateway in front of Telnyx: not Telnyx's error format, nothing said about the message.
        return { status: 502, body: { message: "Bad Gateway" } };
      case "422":
        return error(422, "40310", "Invalid 'to' address", "The 'to' address is not a valid phone number.");
      case "stop-blocked":
        return error(
          409,
          "40300",
          "Blocked due to STOP message",
          `Messages cannot be sent from '${body.from}' to '${body.to}' due to an existing block rule.`,
        );
      case "garbage":
        return { status: 200, body: { data: { record_type: "message" } } };
      case "accept":
      case "201":
      case "accept-hang":
      case "accept-null":
        break;
    }
    const id = randomUUID();
    this.sent.push({ id, body, authorization, at: Date.now() });
    this.statuses.set(id, "queued");
    if (this.options.autoReceipts && body.webhook_url) {
      const urls = [body.webhook_url, ...(body.webhook_failover_url ? [body.webhook_failover_url] : [])];
      const delay = this.options.receiptDelayMs ?? 50;
      this.later(delay, () => {
        this.statuses.set(id, "sent");
        return this.deliverWithRetry(urls, this.webhook("message.sent", id, body, "sent"));
      });
      this.later(delay * 2, () => {
        this.statuses.set(id, "delivered");
        return this.deliverWithRetry(urls, this.webhook("message.finalized", id, body, "delivered"));
      });
    }
    // Taken (and its receipts on their way), but the answer never comes back.
    if (behaviour === "accept-hang") return { status: 0, body: null };
    if (behaviour === "accept-null") return { status: 200, body: null };
    return { status: behaviour === "201" ? 201 : 200, body: { data: this.messageData(id, body) } };
  }

  /** A message it took as Telnyx describes it (POST's answer, GET /v2/messages/{id}). */
  private messageData(id: string, body: MessageRequestBody) {
    const status = this.statuses.get(id) ?? "queued";
    const final = ["delivered", "delivery_failed", "delivery_unconfirmed", "sending_failed", "expired"];
    return {
      record_type: "message",
      direction: "outbound",
      id,
      type: body.media_urls?.length ? "MMS" : "SMS",
      messaging_profile_id: PROFILE_ID,
      organization_id: ORGANIZATION_ID,
      from: { phone_number: body.from, carrier: "Telnyx", line_type: "Wireless" },
      to: [{ phone_number: body.to, status, carrier: "", line_type: "" }],
      cc: [],
      text: body.text ?? null,
      subject: null,
      media: (body.media_urls ?? []).map((url) => ({
        url,
        content_type: null,
        sha256: null,
        size: null,
      })),
      webhook_url: body.webhook_url ?? null,
      webhook_failover_url: body.webhook_failover_url ?? null,
      ...partsOf(body.text ?? ""),
      ...(this.partsReported.has(body.to) ? { parts: this.partsReported.get(body.to) } : {}),
      cost: null,
      tags: [],
      received_at: new Date().toISOString(),
      sent_at: null,
      completed_at: final.includes(status) ? new Date().toISOString() : null,
      valid_until: new Date(Date.now() + 4 * 3600_000).toISOString(),
      errors: [],
    };
  }

  /** GET /v2/messages/{id}: the message as it is now; 404 for an id it never gave. */
  private retrieve(id: string, authorization: string | undefined): Answer {
    this.lookups.push(id);
    if (!authorization?.startsWith("Bearer ")) return error(401, "10009", "Authentication failed");
    if (this.lookupFailure !== null) return error(this.lookupFailure, "10007", "Unexpected error");
    const request = this.sent.find((r) => r.id === id);
    if (!request) return error(404, "10005", "Resource not found");
    return { status: 200, body: { data: this.messageData(id, request.body) } };
  }

  /** A message.sent / message.finalized envelope as Telnyx sends it, about the message `id`. */
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
          direction: "outbound",
          type: "SMS",
          messaging_profile_id: PROFILE_ID,
          organization_id: ORGANIZATION_ID,
          from: { phone_number: message.from, carrier: "Telnyx", line_type: "Wireless" },
          to: [{ phone_number: message.to, status, carrier: "T-MOBILE USA, INC.", line_type: "Wireless" }],
          cc: [],
          text: message.text ?? "",
          media: [],
          ...partsOf(message.text ?? ""),
          // Telnyx gives amounts as decimal strings.
          cost: { amount: "0.0040", currency: "USD" },
          tags: [],
          sent_at: new Date().toISOString(),
          completed_at: eventType === "message.finalized" ? new Date().toISOString() : null,
          valid_until: null,
          errors: [],
          ...extra,
        },
      },
      // deliverWithRetry sets both for each attempt.
      meta: { attempt: 1, delivered_to: "" },
    };
  }

  /**
   * A message.received envelope: `from` texted our number `to`. Media are described as Telnyx's
   * InboundMessagePayload does: url, content_type, size and hash_sha256. The profile's keyword
   * handling runs first, as at Telnyx, where the block rule exists before the webhook goes out.
   */
  inbound(message: { from: string; to: string; text: string; media?: FakeInboundMedia[]; id?: string }) {
    this.applyKeyword(message);
    return {
      data: {
        event_type: "message.received",
        id: randomUUID(),
        occurred_at: new Date().toISOString(),
        record_type: "event",
        payload: {
          id: message.id ?? randomUUID(),
          record_type: "message",
          direction: "inbound",
          type: message.media?.length ? "MMS" : "SMS",
          from: { phone_number: message.from, carrier: "", line_type: "Wireless" },
          to: [{ phone_number: message.to, status: "webhook_delivered" }],
          text: message.text,
          media: (message.media ?? []).map((m) => ({
            url: m.url,
            content_type: m.contentType,
            size: m.size,
            hash_sha256: m.sha256,
          })),
          received_at: new Date().toISOString(),
          errors: [],
        },
      },
      meta: { attempt: 1, delivered_to: "" },
    };
  }

  /** Telnyx's default keyword handling: block rules, and the profile's auto-response if it has one. */
  private applyKeyword(message: { from: string; to: string; text: string }): void {
    const keyword = TELNYX_KEYWORDS[message.text.trim().replace(/\s+/g, " ").toUpperCase()];
    if (!keyword) return;
    if (keyword === "opt-out") this.blockRules.add(message.from);
    if (keyword === "opt-in") this.blockRules.delete(message.from);
    const text = this.options.autoResponses?.[keyword];
    if (text) this.autoResponded.push({ from: message.to, to: message.from, text });
  }

  /** Signs a raw body the way Telnyx does; `timestamp` in unix seconds. */
  signedHeaders(rawBody: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
    const signature = sign(null, Buffer.from(`${timestamp}|${rawBody}`), this.privateKey).toString("base64");
    return {
      "content-type": "application/json",
      "telnyx-signature-ed25519": signature,
      "telnyx-timestamp": String(timestamp),
    };
  }

  /** POSTs a signed webhook once; resolves to the HTTP status (0 when the receiver is unreachable). */
  async deliver(url: string, webhook: unknown): Promise<number> {
    const raw = JSON.stringify(webhook);
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: this.signedHeaders(raw),
        body: raw,
        signal: AbortSignal.timeout(5000),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /**
   * POSTs a signed webhook (signed afresh each time) until one answers 200: as Telnyx does, three
   * attempts at the message's webhook_url, then three at its webhook_failover_url if it has one.
   * Telnyx then gives up; the fake goes round again, every 250 ms for 60 s, so that a test that
   * restarts the server (crash.test.ts) still gets the receipts owed meanwhile.
   */
  async deliverWithRetry(urls: string[], webhook: object): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (let attempt = 0; Date.now() < deadline && !this.stopped; attempt++) {
      const url = urls[Math.floor(attempt / 3) % urls.length]!;
      const status = await this.deliver(url, {
        ...webhook,
        meta: { attempt: attempt + 1, delivered_to: url },
      });
      // Telnyx asks for a 200: anything else is a failed attempt.
      if (status === 200) return;
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

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const fake = new FakeTelnyx({
    autoReceipts: !process.argv.includes("--no-auto-receipts"),
    receiptDelayMs: Number(arg("--receipt-delay-ms") ?? 50),
  });
  await fake.start(Number(arg("--port") ?? 0));
  process.stdout.write(
    `${JSON.stringify({ url: fake.url, port: fake.port, publicKey: fake.publicKeyBase64 })}\n`,
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void fake.stop().then(() => process.exit(0));
    });
  }
}
