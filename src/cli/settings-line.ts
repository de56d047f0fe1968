import type { Config } from "../config.js";
import { describeDatabaseUrl } from "../database-url.js";
import type { QuietWindow } from "../domain/quiet-hours.js";

/**
 * The settings serve and worker run with, in one line at start-up, so that an operator sees what the
 * environment amounted to (a default taken, a value read). Never a secret: the Telnyx API key is
 * only said to be set, and DATABASE_URL is shown without its password or query (describeDatabaseUrl);
 * the other URLs cannot hold a user or password (config.ts refuses them).
 */
export function settingsLine(config: Config): string {
  const m = config.messaging;
  const database = config.databaseUrl
    ? `postgresql ${describeDatabaseUrl(config.databaseUrl)}`
    : `sqlite ${config.sqlitePath}`;
  const provider =
    m.provider === "telnyx"
      ? `telnyx (API ${m.telnyx.apiBaseUrl}, API key ${m.telnyx.apiKey ? "set" : "not set"}${m.failoverPublicUrl ? `, failover URL ${m.failoverPublicUrl}` : ""})`
      : `simulator (receipts after ${m.simulatorReceiptSeconds} s)`;
  return [
    `leadtrail settings: database ${database}`,
    `provider ${provider}`,
    `keyword replies ${m.keywordReplies}`,
    `public URL ${m.publicUrl}`,
    `quiet hours ${quietHours(m.quietHours)}`,
    `retries ${m.retryMaxAttempts} from ${m.retryBaseSeconds} s`,
    `reconcile after ${m.reconcileSeconds} s`,
    `warmup tick ${m.warmupTickSeconds} s`,
    `in flight ${m.workerInFlightBatches} batches`,
    `starting credit ${m.startingCreditMicros / 1_000_000} USD`,
    `rate limit ${config.rateLimitPerMinute}/min`,
    `auth failures ${config.authFailuresPerMinute}/min`,
    `trust proxy ${String(config.trustProxy)}`,
    `log level ${config.logLevel}`,
    `shutdown grace ${config.shutdownGraceMs / 1000} s`,
  ].join(", ");
}

function quietHours(window: QuietWindow | null): string {
  if (window === null) return "off";
  const hhmm = (minutes: number) =>
    `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
  return `${hhmm(window.start)}-${hhmm(window.end)}`;
}
