// The environment variables leadtrail reads, each with the line `leadtrail --help` prints for it.
// config.ts reads only these names (its helpers take a VariableName), README's Configuration table
// documents each (test/environment.test.ts checks both), and a LEADTRAIL_… variable not among them
// is warned about at start-up (unknown-variables.ts).

export const VARIABLES = {
  LEADTRAIL_DB: "SQLite file (default ./data/leadtrail.db), used when DATABASE_URL is not set",
  DATABASE_URL: "postgres://… to run on PostgreSQL instead",
  HOST: "address serve listens on (default 127.0.0.1; 0.0.0.0 for all)",
  PORT: "port serve listens on (default 3000; 0 lets the system pick)",
  LEADTRAIL_RATE_LIMIT_PER_MINUTE: "requests per organization per minute (default 300)",
  LEADTRAIL_AUTH_FAILURES_PER_MINUTE:
    "failed authentications per client address per minute (default 60; 0: no limit)",
  LEADTRAIL_TRUST_PROXY: "true, false (default), or proxy addresses/CIDRs whose X-Forwarded-For is believed",
  LOG_LEVEL: "request log level: fatal, error, warn, info (default), debug, trace or silent",
  LEADTRAIL_SHUTDOWN_GRACE_SECONDS: "how long a stopping serve/worker waits for work under way (default 10)",
  LEADTRAIL_PROVIDER: "simulator (default) or telnyx",
  LEADTRAIL_KEYWORD_REPLIES: "who answers STOP/START/HELP: leadtrail or provider (default: by provider)",
  LEADTRAIL_SIMULATOR_RECEIPT_SECONDS: "the simulator's receipt delay (default 0.02)",
  LEADTRAIL_QUIET_HOURS: "no sending in the recipient's local window (default 21:00-08:00; off: none)",
  LEADTRAIL_RETRY_BASE_SECONDS: "base of the retry backoff (default 30)",
  LEADTRAIL_RETRY_MAX_ATTEMPTS: "retries after a transient provider error (default 5)",
  LEADTRAIL_OPERATOR_WAIT_HOURS:
    "hours a message waits for a Telnyx account/settings problem to be fixed before it fails (default 24)",
  LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES:
    "minutes a Telnyx message may stay Sent before it is looked up (default 15)",
  LEADTRAIL_WORKER_IN_FLIGHT_BATCHES: "claim batches a worker may have with the provider at once (default 4)",
  LEADTRAIL_RECONCILE_SECONDS: "how long a message may stay Sending without an outcome (default 300)",
  LEADTRAIL_STARTING_CREDIT: "wallet credit in USD of a new organization (default 10)",
  LEADTRAIL_WARMUP_TICK_SECONDS: "how often the warmup scheduler runs (default 60; 0: not here)",
  LEADTRAIL_PUBLIC_URL: "base URL providers send webhooks to (default http://127.0.0.1:$PORT)",
  LEADTRAIL_FAILOVER_PUBLIC_URL: "a second base URL for Telnyx's failover webhooks (default none)",
  TELNYX_API_KEY: "Telnyx API key (needed with LEADTRAIL_PROVIDER=telnyx)",
  TELNYX_PUBLIC_KEY: "Telnyx webhook public key, base64 (needed with LEADTRAIL_PROVIDER=telnyx)",
  TELNYX_API_BASE_URL: "Telnyx API base (default https://api.telnyx.com/v2)",
} as const;

export type VariableName = keyof typeof VARIABLES;

export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[];

/** The environment's part of `--help`: every variable with its line. */
export function environmentHelp(): string {
  const width = Math.max(...VARIABLE_NAMES.map((name) => name.length)) + 2;
  return [
    "",
    "Environment (README.md, Configuration, says more; a blank value counts as unset):",
    ...VARIABLE_NAMES.map((name) => `  ${name.padEnd(width)}${VARIABLES[name]}`),
  ].join("\n");
}
