import { sql, type Transaction } from "kysely";
import type { Database, ProviderBreakersTable } from "../store/schema.js";

// A breaker per scope of an operator problem (a refusal of our account or settings: the API key,
// the funds, a permission; providers/telnyx-refusals.ts). While one is open the worker hands no
// message of its scope to the provider: they wait (deferred, without a call) until its probe time,
// when one of them is sent to see whether the problem was fixed. A refused probe doubles the wait
// (30 s, 1 min… up to 10 min); an accepted one closes the breaker and releases every waiting message.
//
// Scopes: "account" — the key and the base URL are the deployment's (one TELNYX_API_KEY for every
// organization) and the funds are the Telnyx account's, so a 401, 402 or 404 stops every
// organization; "sender:+1…" — a permission refusal (403) may concern one number's messaging
// profile only, so it stops that number's messages (another number probes for itself).
//
// The state is in the database, not in a process: with several workers on PostgreSQL every one of
// them stops calling as soon as one saw the refusal, and a probe is taken by a conditional UPDATE,
// which only one claim can win, so the provider sees one probe per interval whatever the workers.

export const FIRST_PROBE_MS = 30_000;
export const MAX_PROBE_MS = 600_000;

export type Breaker = ProviderBreakersTable;

/** The interval after a refused probe (least() is PostgreSQL's, min() SQLite's: CASE is both's). */
const doubled = sql<number>`case when interval_ms * 2 > ${sql.lit(MAX_PROBE_MS)} then ${sql.lit(MAX_PROBE_MS)} else interval_ms * 2 end`;

/** The scopes a message from `fromNumber` is under. */
export function scopesOf(fromNumber: string): string[] {
  return ["account", `sender:${fromNumber}`];
}

/** The scope a refusal concerns. */
export function refusalScope(scope: "account" | "sender" | undefined, fromNumber: string | null): string {
  return scope === "sender" && fromNumber ? `sender:${fromNumber}` : "account";
}

/** Every open breaker (a handful at most: one a scope), by scope. */
export async function openBreakers(trx: Transaction<Database>): Promise<Map<string, Breaker>> {
  const rows = await trx.selectFrom("provider_breakers").selectAll().execute();
  return new Map(
    rows.map((r) => [r.scope, { ...r, probe_at: Number(r.probe_at), interval_ms: Number(r.interval_ms) }]),
  );
}

/**
 * Takes `breaker`'s probe if it is due and no other claim took it: its next probe moves one interval
 * on. Answers whether this claim may send its probe.
 */
export async function takeProbe(trx: Transaction<Database>, breaker: Breaker, now: number): Promise<boolean> {
  const taken = await trx
    .updateTable("provider_breakers")
    .set({ probe_at: now + breaker.interval_ms })
    .where("scope", "=", breaker.scope)
    .where("probe_at", "<=", now)
    .executeTakeFirst();
  return Number(taken.numUpdatedRows) > 0;
}

/**
 * Records an operator refusal in `scope`: opens its breaker (first probe in FIRST_PROBE_MS), or,
 * for a refused probe, doubles its interval. A refusal of a message handed over before (one of a
 * batch already in flight when the breaker opened) leaves it as it is. Answers the breaker.
 */
export async function recordOperatorRefusal(
  trx: Transaction<Database>,
  scope: string,
  refusal: { errorCode: string; errorMessage: string; action: string },
  probe: boolean,
  now: number,
): Promise<Breaker> {
  const opened: Breaker = {
    scope,
    opened_at: now,
    probe_at: now + FIRST_PROBE_MS,
    interval_ms: FIRST_PROBE_MS,
    error_code: refusal.errorCode,
    error_message: refusal.errorMessage,
    action: refusal.action,
  };
  await trx
    .insertInto("provider_breakers")
    .values(opened)
    .onConflict((oc) => oc.column("scope").doNothing())
    .execute();
  if (probe) {
    await trx
      .updateTable("provider_breakers")
      .set({
        interval_ms: sql`${doubled}`,
        probe_at: sql`cast(${now} as bigint) + ${doubled}`,
        error_code: refusal.errorCode,
        error_message: refusal.errorMessage,
        action: refusal.action,
      })
      .where("scope", "=", scope)
      .execute();
  }
  const row = await trx
    .selectFrom("provider_breakers")
    .selectAll()
    .where("scope", "=", scope)
    .executeTakeFirstOrThrow();
  return { ...row, probe_at: Number(row.probe_at), interval_ms: Number(row.interval_ms) };
}

/**
 * A probe went through: closes the breakers of `scopes` and makes every message waiting for an
 * operator problem due now, rather than at the probe time it was deferred to.
 */
export async function closeBreakers(
  trx: Transaction<Database>,
  scopes: string[],
  now: number,
): Promise<void> {
  const closed = await trx.deleteFrom("provider_breakers").where("scope", "in", scopes).executeTakeFirst();
  if (Number(closed.numDeletedRows) === 0) return;
  // Spelled as the partial index events_operator_wait (migration 0019) is.
  await trx
    .updateTable("events")
    .set({ next_attempt_at: now })
    .where("operator_wait_since", "is not", null)
    .where("next_attempt_at", ">", now)
    .where("status", "=", "Queued")
    .execute();
}
