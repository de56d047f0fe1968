import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig, loadMessagingConfig } from "../src/config.js";
import { MAX_RETRY_DELAY_MS, retryDelayMs } from "../src/domain/backoff.js";
import { VARIABLE_NAMES } from "../src/environment.js";
import { checkProviderSettings } from "../src/messaging/providers/index.js";
import { INVALID_SETTINGS } from "./helpers/invalid-settings.js";

test("quiet hours: unset or empty is the default window, only 'off' lifts them", () => {
  const defaultWindow = { start: 21 * 60, end: 8 * 60 };
  assert.deepEqual(loadMessagingConfig({}).quietHours, defaultWindow);
  assert.deepEqual(loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "" }).quietHours, defaultWindow);
  assert.equal(loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "off" }).quietHours, null);
  assert.deepEqual(loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "22:30-07:00" }).quietHours, {
    start: 22 * 60 + 30,
    end: 7 * 60,
  });
});

test("LEADTRAIL_OPERATOR_WAIT_HOURS: a day unless set; decimals and 0 (fail at once) taken", () => {
  assert.equal(loadMessagingConfig({}).operatorWaitHours, 24);
  assert.equal(loadMessagingConfig({ LEADTRAIL_OPERATOR_WAIT_HOURS: "1.5" }).operatorWaitHours, 1.5);
  assert.equal(loadMessagingConfig({ LEADTRAIL_OPERATOR_WAIT_HOURS: "0" }).operatorWaitHours, 0);
});

test("a blank setting (empty, spaces, a stray newline) counts as unset for every variable, not as a value", () => {
  const defaults = loadConfig({});
  // Quiet hours above all: a blank value must not lift them (only 'off' does).
  assert.deepEqual(loadMessagingConfig({ LEADTRAIL_QUIET_HOURS: "  " }).quietHours, {
    start: 21 * 60,
    end: 8 * 60,
  });
  for (const name of VARIABLE_NAMES) {
    // Empty too: docker-compose and shells set `VAR=` as readily as they leave it out.
    for (const blank of ["", " ", "\n", " \t "]) {
      assert.deepEqual(loadConfig({ [name]: blank }), defaults, `${name}=${JSON.stringify(blank)}`);
    }
  }
  // Values are read without the spaces around them (a key pasted with its newline).
  assert.equal(loadConfig({ LEADTRAIL_PROVIDER: " telnyx\n" }).messaging.provider, "telnyx");
  assert.equal(loadConfig({ TELNYX_API_KEY: "KEY123\n" }).messaging.telnyx.apiKey, "KEY123");
});

test("every setting the README lists is checked: a bad value is refused with a message naming it", () => {
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: "70000" }, /^PORT must be an integer from 0 to 65535, got '70000'$/],
    [{ PORT: "http" }, /^PORT must be an integer/],
    [
      { DATABASE_URL: "mysql://root:secret@db/leads" },
      /^DATABASE_URL must be a postgres:\/\/.*, got mysql:\/\/root@db\/leads$/,
    ],
    [
      { DATABASE_URL: "mysql://root@db/leads?password=secret" },
      /^DATABASE_URL must be a postgres:\/\/.*, got mysql:\/\/root@db\/leads$/,
    ],
    [{ DATABASE_URL: "notaurl" }, /^DATABASE_URL must be/],
    [
      { LOG_LEVEL: "loud" },
      /^LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got 'loud'$/,
    ],
    [{ LEADTRAIL_QUIET_HOURS: "9pm-8am" }, /^LEADTRAIL_QUIET_HOURS: quiet hours must look like/],
    [{ LEADTRAIL_QUIET_HOURS: "21:00-24:30" }, /^LEADTRAIL_QUIET_HOURS: quiet hours out of range/],
    [
      { LEADTRAIL_QUIET_HOURS: "00:00-24:00" },
      /^LEADTRAIL_QUIET_HOURS: quiet hours cannot cover the whole day/,
    ],
    [
      { LEADTRAIL_RETRY_BASE_SECONDS: "1e308" },
      /^LEADTRAIL_RETRY_BASE_SECONDS must be a number from 0 to 86400/,
    ],
    [
      { LEADTRAIL_RETRY_MAX_ATTEMPTS: "1000" },
      /^LEADTRAIL_RETRY_MAX_ATTEMPTS must be an integer from 0 to 100/,
    ],
    [
      { LEADTRAIL_OPERATOR_WAIT_HOURS: "721" },
      /^LEADTRAIL_OPERATOR_WAIT_HOURS must be a number from 0 to 720, got '721'$/,
    ],
    [{ LEADTRAIL_OPERATOR_WAIT_HOURS: "a day" }, /^LEADTRAIL_OPERATOR_WAIT_HOURS must be a number/],
    [{ LEADTRAIL_RECONCILE_SECONDS: "-1" }, /^LEADTRAIL_RECONCILE_SECONDS must be a number from 1/],
    // No time for a send call at all (it gets half the deadline).
    [
      { LEADTRAIL_RECONCILE_SECONDS: "0" },
      /^LEADTRAIL_RECONCILE_SECONDS must be a number from 1 to 604800, got '0'$/,
    ],
    [{ LEADTRAIL_RECONCILE_SECONDS: "0.5" }, /^LEADTRAIL_RECONCILE_SECONDS must be a number from 1/],
    [
      { LEADTRAIL_WARMUP_TICK_SECONDS: "3000000" },
      /^LEADTRAIL_WARMUP_TICK_SECONDS must be a number from 0 to 86400/,
    ],
    [
      { LEADTRAIL_SIMULATOR_RECEIPT_SECONDS: "-1" },
      /^LEADTRAIL_SIMULATOR_RECEIPT_SECONDS must be a number from 0 to 86400/,
    ],
    [
      { LEADTRAIL_STARTING_CREDIT: "1e20" },
      /^LEADTRAIL_STARTING_CREDIT must be an amount in USD from 0 to 1000000000 with at most 6 decimals/,
    ],
    // The same amounts as `org create --credit`: not rounded to nothing, not in another notation.
    [{ LEADTRAIL_STARTING_CREDIT: "0.0000001" }, /^LEADTRAIL_STARTING_CREDIT must be an amount in USD/],
    [{ LEADTRAIL_STARTING_CREDIT: "1000000000.01" }, /^LEADTRAIL_STARTING_CREDIT must be an amount in USD/],
    // Decimal digits only: Number() reads these as 16, 1000 and 0 (a random port).
    [{ PORT: "0x10" }, /^PORT must be an integer from 0 to 65535, got '0x10'$/],
    [{ PORT: "1e3" }, /^PORT must be an integer/],
    [{ LEADTRAIL_RECONCILE_SECONDS: "0x10" }, /^LEADTRAIL_RECONCILE_SECONDS must be a number/],
    [{ LEADTRAIL_SHUTDOWN_GRACE_SECONDS: "forever" }, /^LEADTRAIL_SHUTDOWN_GRACE_SECONDS must be a number/],
    [
      { TELNYX_API_BASE_URL: "notaurl" },
      /^TELNYX_API_BASE_URL must be an http:\/\/ or https:\/\/ URL, got 'notaurl'$/,
    ],
    [
      { LEADTRAIL_PUBLIC_URL: "ftp://example.com" },
      /^LEADTRAIL_PUBLIC_URL must be an http:\/\/ or https:\/\/ URL/,
    ],
    [
      { LEADTRAIL_FAILOVER_PUBLIC_URL: "leads-b.example.com" },
      /^LEADTRAIL_FAILOVER_PUBLIC_URL must be an http:\/\/ or https:\/\/ URL, got 'leads-b.example.com'$/,
    ],
    [{ LEADTRAIL_RATE_LIMIT_PER_MINUTE: "0" }, /^LEADTRAIL_RATE_LIMIT_PER_MINUTE must be an integer from 1/],
    // One batch would let a single slow call hold every due message (worker.ts).
    [
      { LEADTRAIL_WORKER_IN_FLIGHT_BATCHES: "1" },
      /^LEADTRAIL_WORKER_IN_FLIGHT_BATCHES must be an integer from 2 to 100, got '1'$/,
    ],
    [
      { LEADTRAIL_WORKER_IN_FLIGHT_BATCHES: "1000" },
      /^LEADTRAIL_WORKER_IN_FLIGHT_BATCHES must be an integer/,
    ],
    [{ LEADTRAIL_WORKER_IN_FLIGHT_BATCHES: "4.5" }, /^LEADTRAIL_WORKER_IN_FLIGHT_BATCHES must be an integer/],
    // Whole minutes from 1 to 360 (the sixth ask then comes 8 days after the send, within Telnyx's 10).
    [
      { LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: "0" },
      /^LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES must be an integer from 1 to 360, got '0'$/,
    ],
    [
      { LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: "361" },
      /^LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES must be an integer from 1 to 360/,
    ],
    [
      { LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: "7.5" },
      /^LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES must be an integer/,
    ],
    [
      { LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: "15m" },
      /^LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES must be an integer/,
    ],
    [
      { LEADTRAIL_KEYWORD_REPLIES: "telnyx" },
      /^LEADTRAIL_KEYWORD_REPLIES must be 'leadtrail' or 'provider', got 'telnyx'$/,
    ],
  ];
  for (const [env, message] of refused) {
    assert.throws(() => loadConfig(env), { message }, JSON.stringify(env));
  }
});

test("every variable: each invalid value is refused at start-up with a message naming it, never defaulted", () => {
  // What serve and worker check before they open the database.
  const startUp = (env: Record<string, string>) => checkProviderSettings(loadConfig(env).messaging);
  for (const name of VARIABLE_NAMES) {
    const entry = INVALID_SETTINGS[name];
    if ("anyValue" in entry) continue;
    for (const value of entry.refused) {
      const env = { ...entry.with, [name]: value };
      assert.throws(
        () => startUp(env),
        (error: Error) => {
          assert.match(error.message, new RegExp(`^${name}\\b`));
          // A password in a URL is never echoed.
          assert.doesNotMatch(error.message, /secret/);
          return true;
        },
        `${name}=${JSON.stringify(value)} was accepted`,
      );
    }
  }
});

test("accepted settings: a PostgreSQL URL in any case of its scheme, URLs without their trailing slash", () => {
  assert.equal(loadConfig({}).databaseUrl, undefined);
  assert.equal(loadConfig({ DATABASE_URL: " " }).databaseUrl, undefined);
  assert.equal(loadConfig({ DATABASE_URL: "Postgres://u@h/db" }).databaseUrl, "Postgres://u@h/db");
  const config = loadConfig({
    PORT: "8080",
    LEADTRAIL_PUBLIC_URL: "https://leads.example.com/",
    TELNYX_API_BASE_URL: "http://127.0.0.1:9000/v2",
    LEADTRAIL_SHUTDOWN_GRACE_SECONDS: "2.5",
  });
  assert.equal(config.messaging.publicUrl, "https://leads.example.com");
  assert.equal(config.messaging.failoverPublicUrl, null);
  assert.equal(
    loadMessagingConfig({ LEADTRAIL_FAILOVER_PUBLIC_URL: "https://leads-b.example.com/" }).failoverPublicUrl,
    "https://leads-b.example.com",
  );
  assert.equal(loadMessagingConfig({ LEADTRAIL_FAILOVER_PUBLIC_URL: " " }).failoverPublicUrl, null);
  assert.equal(config.messaging.telnyx.apiBaseUrl, "http://127.0.0.1:9000/v2");
  assert.equal(config.shutdownGraceMs, 2_500);
  assert.equal(loadConfig({}).messaging.publicUrl, "http://127.0.0.1:3000");
  // A blank number setting is unset (PORT=" " is the default port, not port 0, a random one).
  assert.equal(loadConfig({ PORT: " " }).port, 3000);
  assert.equal(loadConfig({ LEADTRAIL_STARTING_CREDIT: "1000000000" }).messaging.startingCreditMicros, 1e15);
  assert.equal(loadConfig({ LEADTRAIL_STARTING_CREDIT: "0.000001" }).messaging.startingCreditMicros, 1);
  assert.equal(loadConfig({}).messaging.workerInFlightBatches, 4);
  assert.equal(loadConfig({ LEADTRAIL_WORKER_IN_FLIGHT_BATCHES: "2" }).messaging.workerInFlightBatches, 2);
  assert.equal(loadConfig({}).messaging.receiptLookupAfterMs, 15 * 60_000);
  assert.equal(
    loadConfig({ LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: " " }).messaging.receiptLookupAfterMs,
    15 * 60_000,
  );
  assert.equal(
    loadConfig({ LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: "60" }).messaging.receiptLookupAfterMs,
    3_600_000,
  );
});

test("keyword replies: leadtrail's with the simulator, the provider's with Telnyx, unless set", () => {
  const replies = (env: Record<string, string>) => loadMessagingConfig(env).keywordReplies;
  assert.equal(replies({}), "leadtrail");
  assert.equal(replies({ LEADTRAIL_PROVIDER: "telnyx" }), "provider");
  assert.equal(replies({ LEADTRAIL_PROVIDER: "telnyx", LEADTRAIL_KEYWORD_REPLIES: " " }), "provider");
  assert.equal(
    replies({ LEADTRAIL_PROVIDER: "telnyx", LEADTRAIL_KEYWORD_REPLIES: "leadtrail" }),
    "leadtrail",
  );
  assert.equal(replies({ LEADTRAIL_KEYWORD_REPLIES: "provider\n" }), "provider");
});

test("retry backoff doubles per attempt within its jitter, and stops growing at a day", () => {
  assert.equal(
    retryDelayMs(1, 30, () => 0),
    15_000,
  );
  assert.equal(
    retryDelayMs(1, 30, () => 1),
    30_000,
  );
  assert.equal(
    retryDelayMs(3, 30, () => 1),
    120_000,
  );
  // The largest settings the configuration allows stay a valid date away.
  assert.equal(
    retryDelayMs(100, 86_400, () => 1),
    MAX_RETRY_DELAY_MS,
  );
  assert.ok(Number.isFinite(new Date(Date.now() + retryDelayMs(100, 86_400)).getTime()));
});
