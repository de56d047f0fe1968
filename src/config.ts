import { isIP } from "node:net";
import { describeDatabaseUrl } from "./database-url.js";
import { MICROS_PER_USD, parseUsd } from "./domain/money.js";
import { parseQuietWindow, type QuietWindow } from "./domain/quiet-hours.js";
import type { VariableName } from "./environment.js";
import { MAX_RECEIPT_LOOKUP_AFTER_MINUTES, RECEIPT_LOOKUP_AFTER_MS } from "./messaging/receipt-lookup.js";

// Every setting comes from the environment; these are its names and defaults (see README). Each is
// read through setting(), whose VariableName keeps the names to those environment.ts lists.

export interface MessagingConfig {
  /** Quiet hours in the recipient's local time (LEADTRAIL_QUIET_HOURS, default 21:00-08:00; off = none). */
  quietHours: QuietWindow | null;
  retryBaseSeconds: number;
  retryMaxAttempts: number;
  /**
   * How long a message may wait while the provider refuses our account or settings (a key, funds,
   * permission) before it fails (LEADTRAIL_OPERATOR_WAIT_HOURS); such refusals spend no retries.
   */
  operatorWaitHours: number;
  /** How long a message may stay Sending with no provider outcome before it ends ProviderOutcomeUnknown. */
  reconcileSeconds: number;
  startingCreditMicros: number;
  provider: "simulator" | "telnyx";
  /** Who answers STOP/START/HELP (LEADTRAIL_KEYWORD_REPLIES; see keywordReplies). */
  keywordReplies: KeywordReplies;
  telnyx: { apiKey: string | undefined; publicKey: string | undefined; apiBaseUrl: string };
  /** Where providers reach our webhooks (LEADTRAIL_PUBLIC_URL). */
  publicUrl: string;
  /**
   * Where Telnyx turns when webhooks to publicUrl keep failing (LEADTRAIL_FAILOVER_PUBLIC_URL): another
   * way in to a leadtrail on the same database. Null when unset.
   */
  failoverPublicUrl: string | null;
  /** How often the warmup scheduler looks for due warmup messages (LEADTRAIL_WARMUP_TICK_SECONDS). */
  warmupTickSeconds: number;
  /** How long after a send the simulator delivers its receipt (LEADTRAIL_SIMULATOR_RECEIPT_SECONDS). */
  simulatorReceiptSeconds: number;
  /** A worker's provider calls in flight, in claim batches (LEADTRAIL_WORKER_IN_FLIGHT_BATCHES; worker.ts). */
  workerInFlightBatches: number;
  /**
   * How long a message stays Sent without a final receipt before Telnyx is asked for it, and the
   * first of the doubling waits between asks (LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES; receipt-lookup.ts).
   */
  receiptLookupAfterMs: number;
}

export interface Config {
  databaseUrl: string | undefined;
  sqlitePath: string;
  host: string;
  port: number;
  rateLimitPerMinute: number;
  /** Failed authentications per client address per 60 s before its requests get 429s (0: no limit). */
  authFailuresPerMinute: number;
  /** Which proxies' X-Forwarded-For names the client (LEADTRAIL_TRUST_PROXY; Fastify's trustProxy). */
  trustProxy: TrustProxy;
  logLevel: string;
  /** How long `serve` lets unfinished requests run after SIGTERM before it cuts their connections. */
  shutdownGraceMs: number;
  messaging: MessagingConfig;
}

/**
 * Who answers an opt-out, opt-in or help keyword: leadtrail (it queues the confirmation from the
 * number the person wrote to) or the provider (leadtrail records the keyword and sends nothing).
 */
export type KeywordReplies = "leadtrail" | "provider";

/**
 * LEADTRAIL_KEYWORD_REPLIES. Telnyx handles the standard keywords itself on every messaging
 * profile: its block rule, made before the STOP reaches us, refuses our confirmation (40300), and
 * its Advanced Opt-In/Out auto-responses would make ours a second one. So with Telnyx the provider
 * answers by default; the simulator answers nothing, so there leadtrail does.
 */
function keywordReplies(env: NodeJS.ProcessEnv, provider: MessagingConfig["provider"]): KeywordReplies {
  const raw = setting("LEADTRAIL_KEYWORD_REPLIES", env) ?? (provider === "telnyx" ? "provider" : "leadtrail");
  if (raw !== "leadtrail" && raw !== "provider") {
    throw new Error(`LEADTRAIL_KEYWORD_REPLIES must be 'leadtrail' or 'provider', got '${raw}'`);
  }
  return raw;
}

/**
 * false (the socket's peer is the client), true (any peer may name the client: only behind a proxy
 * that sets X-Forwarded-For itself), or the proxies' addresses/CIDRs, comma-separated. Fastify's hop
 * counts are left out: it trusts no peer with one.
 */
export type TrustProxy = boolean | string;

function trustProxy(env: NodeJS.ProcessEnv): TrustProxy {
  const raw = setting("LEADTRAIL_TRUST_PROXY", env);
  if (raw === undefined || raw === "false") return false;
  if (raw === "true") return true;
  if (raw.split(",").every((entry) => isProxyAddress(entry.trim()))) return raw;
  throw new Error(
    `LEADTRAIL_TRUST_PROXY must be true, false, or proxy addresses/CIDRs (or loopback, linklocal, uniquelocal) separated by commas, got '${raw}'`,
  );
}

/** An entry Fastify's proxy-addr takes: an IP, an IP/prefix, or one of its named ranges. */
function isProxyAddress(entry: string): boolean {
  if (["loopback", "linklocal", "uniquelocal"].includes(entry)) return true;
  const [address = "", prefix, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A setting's value; a blank one counts as unset. */
function setting(name: VariableName, env: NodeJS.ProcessEnv): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? undefined : raw;
}

/** Decimal digits only: Number() would also take "0x10", "1e3" and " " (0). */
function integer(
  name: VariableName,
  fallback: number,
  env: NodeJS.ProcessEnv,
  min: number,
  max: number,
): number {
  const raw = setting(name, env);
  if (raw === undefined) return fallback;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}, got '${env[name]}'`);
  return n;
}

/** Bounded above too: a timer of more than 24.8 days fires at once in Node, and dates end. */
function decimal(name: VariableName, fallback: number, env: NodeJS.ProcessEnv, max: number, min = 0): number {
  const raw = setting(name, env);
  if (raw === undefined) return fallback;
  const n = /^\d{1,16}(\.\d{1,16})?$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name} must be a number from ${min} to ${max}, got '${env[name]}'`);
  return n;
}

/** A USD amount in exact micro-dollars, as the CLI's --credit takes it. */
function usd(name: VariableName, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = setting(name, env);
  if (raw === undefined) return fallback;
  const micros = parseUsd(raw);
  if (micros === null) {
    throw new Error(
      `${name} must be an amount in USD from 0 to 1000000000 with at most 6 decimals, got '${env[name]}'`,
    );
  }
  return micros;
}

/**
 * An absolute http(s) URL, without a trailing slash, to which leadtrail appends paths: so no query or
 * fragment (the path would land inside them), and no user or password (fetch refuses such URLs, and
 * the start-up line shows these URLs). The scheme is spelled out: the URL parser takes "https:host".
 */
function httpUrl(name: VariableName, raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:\/\/[^/]/i.test(raw) || (url.protocol !== "http:" && url.protocol !== "https:")) {
    // Not echoed when it may hold a password (user:secret@host, with no scheme).
    throw new Error(
      `${name} must be an http:// or https:// URL, got ${raw.includes("@") ? "a value with an '@'" : `'${raw}'`}`,
    );
  }
  // The raw text too: the parser drops an empty query ("…/?"), fragment ("…#") and user ("https://@host").
  if (url.username !== "" || url.password !== "" || /[?#]|^[^/]*\/\/[^/]*@/.test(raw)) {
    throw new Error(
      `${name} must be an http:// or https:// URL without a user, password, query or fragment, got '${url.host}${url.pathname}…'`,
    );
  }
  return raw.replace(/\/$/, "");
}

const optionalHttpUrl = (name: VariableName, raw: string | undefined): string | null =>
  raw === undefined ? null : httpUrl(name, raw);

function named<T>(name: VariableName, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new Error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const DAY_SECONDS = 86_400;
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function loadMessagingConfig(env: NodeJS.ProcessEnv = process.env, port = 3000): MessagingConfig {
  const provider = setting("LEADTRAIL_PROVIDER", env) ?? "simulator";
  if (provider !== "simulator" && provider !== "telnyx") {
    throw new Error(`LEADTRAIL_PROVIDER must be 'simulator' or 'telnyx', got '${provider}'`);
  }
  return {
    // Blank means the default, as for every other variable: only an explicit "off" lifts quiet hours.
    quietHours: named("LEADTRAIL_QUIET_HOURS", () =>
      parseQuietWindow(setting("LEADTRAIL_QUIET_HOURS", env) ?? "21:00-08:00"),
    ),
    retryBaseSeconds: decimal("LEADTRAIL_RETRY_BASE_SECONDS", 30, env, DAY_SECONDS),
    retryMaxAttempts: integer("LEADTRAIL_RETRY_MAX_ATTEMPTS", 5, env, 0, 100),
    // A day by default: an empty balance or a rotated key is fixed within office hours, and a day
    // later the messages (a lead's follow-up) are rather stale. Up to 30 days; 0 fails at once.
    operatorWaitHours: decimal("LEADTRAIL_OPERATOR_WAIT_HOURS", 24, env, 30 * 24),
    // At least a second: a message's send call gets half of it (sendCallTimeoutMs), and with 0 every
    // call would be cut off at once and every claimed message taken as unknown.
    reconcileSeconds: decimal("LEADTRAIL_RECONCILE_SECONDS", 300, env, 7 * DAY_SECONDS, 1),
    // A billion dollars keeps micro-dollars exact (below 2^53).
    startingCreditMicros: usd("LEADTRAIL_STARTING_CREDIT", 10 * MICROS_PER_USD, env),
    provider,
    keywordReplies: keywordReplies(env, provider),
    telnyx: {
      apiKey: telnyxApiKey(env),
      publicKey: setting("TELNYX_PUBLIC_KEY", env),
      apiBaseUrl: httpUrl(
        "TELNYX_API_BASE_URL",
        setting("TELNYX_API_BASE_URL", env) ?? "https://api.telnyx.com/v2",
      ),
    },
    publicUrl: httpUrl(
      "LEADTRAIL_PUBLIC_URL",
      setting("LEADTRAIL_PUBLIC_URL", env) ?? `http://127.0.0.1:${port}`,
    ),
    failoverPublicUrl: optionalHttpUrl(
      "LEADTRAIL_FAILOVER_PUBLIC_URL",
      setting("LEADTRAIL_FAILOVER_PUBLIC_URL", env),
    ),
    warmupTickSeconds: decimal("LEADTRAIL_WARMUP_TICK_SECONDS", 60, env, DAY_SECONDS),
    simulatorReceiptSeconds: decimal("LEADTRAIL_SIMULATOR_RECEIPT_SECONDS", 0.02, env, DAY_SECONDS),
    // At least two: with one, a round claims only when no call is in flight, so one slow call would
    // hold every due message again. A hundred batches (10,000 calls) is far past any provider's pace.
    workerInFlightBatches: integer("LEADTRAIL_WORKER_IN_FLIGHT_BATCHES", 4, env, 2, 100),
    // Whole minutes from 1 to 6 h: a message is asked at 1, 2, 4, 8, 16 and 32 times this after it
    // was handed over, so 6 h puts the last ask at 8 days, within the 10 days Telnyx keeps a message.
    receiptLookupAfterMs:
      integer(
        "LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES",
        RECEIPT_LOOKUP_AFTER_MS / 60_000,
        env,
        1,
        MAX_RECEIPT_LOOKUP_AFTER_MINUTES,
      ) * 60_000,
  };
}

/** A set DATABASE_URL must name PostgreSQL: anything else would quietly fall back to SQLite. */
function databaseUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = setting("DATABASE_URL", env);
  if (raw === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//i.test(raw)) {
    throw new Error(
      `DATABASE_URL must be a postgres:// or postgresql:// URL (unset it to use SQLite at LEADTRAIL_DB), got ${describeDatabaseUrl(raw)}`,
    );
  }
  return raw;
}

/** An IP address or a host name: not a URL, not host:port, not [IPv6] (listen() takes none of them). */
function host(env: NodeJS.ProcessEnv): string {
  const raw = setting("HOST", env);
  if (raw === undefined) return "127.0.0.1";
  const label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  if (isIP(raw) !== 0 || (raw.length <= 253 && new RegExp(`^${label}(?:\\.${label})*\\.?$`).test(raw)))
    return raw;
  throw new Error(
    `HOST must be an IP address or a host name (no scheme, port or brackets: 0.0.0.0, ::, localhost), got '${raw}'`,
  );
}

/** Sent as a header: a space or control character inside would fail every call. Never echoed. */
function telnyxApiKey(env: NodeJS.ProcessEnv): string | undefined {
  const raw = setting("TELNYX_API_KEY", env);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (raw !== undefined && /[\s\x00-\x1f\x7f]/.test(raw)) {
    throw new Error("TELNYX_API_KEY must not contain spaces or control characters (its value is not shown)");
  }
  return raw;
}

function logLevel(env: NodeJS.ProcessEnv): string {
  const level = setting("LOG_LEVEL", env) ?? "info";
  if (!LOG_LEVELS.includes(level)) {
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got '${level}'`);
  }
  return level;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // PORT=0 asks the OS for a free port.
  const port = integer("PORT", 3000, env, 0, 65_535);
  return {
    databaseUrl: databaseUrl(env),
    sqlitePath: setting("LEADTRAIL_DB", env) ?? "./data/leadtrail.db",
    host: host(env),
    port,
    rateLimitPerMinute: integer("LEADTRAIL_RATE_LIMIT_PER_MINUTE", 300, env, 1, 1_000_000_000),
    authFailuresPerMinute: integer("LEADTRAIL_AUTH_FAILURES_PER_MINUTE", 60, env, 0, 1_000_000_000),
    trustProxy: trustProxy(env),
    logLevel: logLevel(env),
    shutdownGraceMs: Math.round(decimal("LEADTRAIL_SHUTDOWN_GRACE_SECONDS", 10, env, 3_600) * 1000),
    messaging: loadMessagingConfig(env, port),
  };
}
