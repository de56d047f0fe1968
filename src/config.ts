// Every setting comes from the environment; these are its names and defaults (see README).

export interface Config {
  databaseUrl: string | undefined;
  sqlitePath: string;
  host: string;
  port: number;
  rateLimitPerMinute: number;
  logLevel: string;
}

function positiveInt(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    sqlitePath: env.LEADTRAIL_DB || "./data/leadtrail.db",
    host: env.HOST || "127.0.0.1",
    port: positiveInt("PORT", 3000, env),
    rateLimitPerMinute: positiveInt("LEADTRAIL_RATE_LIMIT_PER_MINUTE", 300, env),
    logLevel: env.LOG_LEVEL || "info",
  };
}
