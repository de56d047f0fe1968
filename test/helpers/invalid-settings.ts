import type { VariableName } from "../../src/environment.js";

/**
 * For every variable leadtrail reads, values a start-up must refuse with a message naming it (`with`:
 * the other settings under which the value matters), or why any value goes. A Record over every
 * VariableName: a variable added to environment.ts without an entry here does not compile.
 */
export const INVALID_SETTINGS: Record<
  VariableName,
  { refused: string[]; with?: Record<string, string>; commands?: string[][] } | { anyValue: string }
> = {
  LEADTRAIL_DB: { anyValue: "a file path: one that cannot be opened is named when it is opened" },
  DATABASE_URL: { refused: ["mysql://root@db/leads", "notaurl", "sqlite:///tmp/x.db"] },
  HOST: { refused: ["http://0.0.0.0", "0.0.0.0:3000", "[::1]", "bad host"] },
  PORT: { refused: ["70000", "abc", "-1", "1.5", "0x10", "1e3"] },
  LEADTRAIL_RATE_LIMIT_PER_MINUTE: { refused: ["abc", "-1", "1.5", "0"] },
  LEADTRAIL_AUTH_FAILURES_PER_MINUTE: { refused: ["abc", "-1", "1.5"] },
  LEADTRAIL_TRUST_PROXY: { refused: ["yes", "TRUE", "1", "no", "10.0.0.1,", "10.0.0.0/33"] },
  LOG_LEVEL: { refused: ["loud", "INFO", "1"] },
  LEADTRAIL_SHUTDOWN_GRACE_SECONDS: { refused: ["abc", "-1", "3601", "Infinity"] },
  LEADTRAIL_PROVIDER: { refused: ["twilio", "Telnyx", "yes"] },
  LEADTRAIL_KEYWORD_REPLIES: { refused: ["telnyx", "yes", "off"] },
  LEADTRAIL_SIMULATOR_RECEIPT_SECONDS: { refused: ["abc", "-1", "86401"] },
  LEADTRAIL_QUIET_HOURS: { refused: ["9pm-8am", "21:00-24:30", "yes", "00:00-24:00"] },
  LEADTRAIL_RETRY_BASE_SECONDS: { refused: ["abc", "-1", "1e3", ".", "86401"] },
  LEADTRAIL_RETRY_MAX_ATTEMPTS: { refused: ["abc", "-1", "1.5", "101", "+5"] },
  LEADTRAIL_OPERATOR_WAIT_HOURS: { refused: ["abc", "-1", "721", "a day"] },
  LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES: { refused: ["abc", "0", "361", "7.5", "15m"] },
  LEADTRAIL_WORKER_IN_FLIGHT_BATCHES: { refused: ["abc", "1", "4.5", "101"] },
  LEADTRAIL_RECONCILE_SECONDS: { refused: ["abc", "0", "-1", "0.5"] },
  LEADTRAIL_STARTING_CREDIT: { refused: ["abc", "-5", "$10", "0.0000001", "1e3"] },
  LEADTRAIL_WARMUP_TICK_SECONDS: { refused: ["abc", "-1", "86401"] },
  LEADTRAIL_PUBLIC_URL: {
    refused: [
      "leads.example.com",
      "https:leads.example.com",
      "http:/leads.example.com",
      "ftp://leads.example.com",
      "https://leads.example.com/?a=1",
      "https://leads.example.com/#x",
      "https://user:secret@leads.example.com",
      "https://leads.example.com/?",
      "https://leads.example.com#",
      "https://@leads.example.com",
    ],
  },
  LEADTRAIL_FAILOVER_PUBLIC_URL: { refused: ["leads-b.example.com", "https://leads-b.example.com/?a=1"] },
  TELNYX_API_KEY: { refused: ["KEY 123", "KEY\t123"] },
  // Read by the Telnyx provider only, so checked by the commands that start one.
  TELNYX_PUBLIC_KEY: {
    refused: ["garbage", "00".repeat(32)],
    with: { LEADTRAIL_PROVIDER: "telnyx", TELNYX_API_KEY: "KEYtest" },
    commands: [["serve"], ["worker"]],
  },
  TELNYX_API_BASE_URL: {
    refused: ["api.telnyx.com/v2", "https:api.telnyx.com/v2", "https://user:secret@api.telnyx.com/v2"],
  },
};
