// Every setting comes from the environment; these are its names and defaults (see README).

export interface Config {
  databaseUrl: string | undefined;
  sqlitePath: string;
  host: string;
  port: number;
  rateLimitPerMinute: number;
  logLevel: string;
}

function integer(name: string, fallback: number, env: NodeJS.ProcessEnv, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name} must be an integer of at least ${min}, got '${raw}'`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    sqlitePath: env.LEADTRAIL_DB || "./data/leadtrail.db",
    host: env.HOST || "127.0.0.1",
    // PORT=0 asks the OS for a free port.
    port: integer("PORT", 3000, env, 0),
    rateLimitPerMinute: integer("LEADTRAIL_RATE_LIMIT_PER_MINUTE", 300, env, 1),
    logLevel: env.LOG_LEVEL || "info",
  };
}
