import { type Kysely, sql } from "kysely";
import type { Engine } from "../store/database.js";
import { runTransaction } from "../store/group-commit.js";
import type { Database } from "../store/schema.js";
import type { LookedUpMessage, Provider, Receipt } from "./provider.js";

// The receipt lookup. Telnyx tries a message's webhook_url three times, then its failover URL, then
// gives up: after an outage of our public URL a message it took would stay Sent for ever. So a
// message still Sent a while after it was handed over (RECEIPT_LOOKUP_AFTER_MS, or
// LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES) is asked for (GET /v2/messages/{id}), a few at a time, each
// at most MAX_RECEIPT_LOOKUPS times with doubling waits; a final answer is applied as the webhook
// receipt would have been (Messaging.applyReceipt), so a webhook that comes after changes nothing. A
// message whose send call never answered has no Telnyx id to ask with: it is left to its receipts
// and the reconcile, as before.

/** How long a message stays Sent without a final receipt before Telnyx is asked, by default (migration 0018). */
export const RECEIPT_LOOKUP_AFTER_MS = 15 * 60_000;
/** The longest that may be set: the last of 6 asks then comes 8 days after the send (config.ts). */
export const MAX_RECEIPT_LOOKUP_AFTER_MINUTES = 360;
/** How many times one message is asked at most (migration 0018's index names it too). */
export const MAX_RECEIPT_LOOKUPS = 6;
/** How many messages one round asks for at most. */
export const RECEIPT_LOOKUP_BATCH = 10;
/** How often a process with such a provider runs a round. */
export const RECEIPT_LOOKUP_INTERVAL_MS = 60_000;

/**
 * The wait after the n-th ask: the age a message is first asked at (`afterMs`), doubling; by default,
 * with 6 asks, a message is asked 15 min, 30 min, 1 h, 2 h, 4 h and 8 h after it was handed over,
 * well within Telnyx's 10 days.
 */
export function receiptLookupWaitMs(asks: number, afterMs = RECEIPT_LOOKUP_AFTER_MS): number {
  return afterMs * 2 ** Math.max(0, asks - 1);
}

/** The key of the index events_receipt_lookup, spelled as it is: when a message is due by default. */
const indexKey = sql<number>`coalesce(receipt_lookup_after, sent_at + ${sql.lit(RECEIPT_LOOKUP_AFTER_MS)})`;

/**
 * The due messages, asked for `afterMs` after their hand-over (then when their wait ends), by the
 * index's order; literals, not parameters, so the terms are the partial index's and a round reads
 * only the rows it asks for. With another age than the index's, the index is read up to where a
 * message never asked may be due (its key is sent_at + the default age) and the rows are then held to
 * the age set; they come in the index's order, which puts a message never asked by its send time.
 */
export function dueLookupsQuery(
  db: Kysely<Database>,
  now: number,
  limit: number,
  afterMs = RECEIPT_LOOKUP_AFTER_MS,
) {
  let query = db
    .selectFrom("events")
    .select(["organization_id", "id", "telnyx_id", "receipt_lookups"])
    .where("status", "=", sql.lit("Sent"))
    .where("telnyx_id", "is not", null)
    .where("receipt_lookups", "<", sql.lit(MAX_RECEIPT_LOOKUPS))
    .where(indexKey, "<=", now + Math.max(0, RECEIPT_LOOKUP_AFTER_MS - afterMs));
  if (afterMs !== RECEIPT_LOOKUP_AFTER_MS) {
    query = query.where(
      sql<number>`coalesce(receipt_lookup_after, sent_at + ${sql.lit(afterMs)})`,
      "<=",
      now,
    );
  }
  return query.orderBy(indexKey).limit(limit);
}

/**
 * Takes the due messages this round asks for, counting the ask and setting the next before it is
 * made: a process that dies mid-round has used up an ask, never repeats it at once. The count is
 * guarded, so two processes never ask for the same message in one round.
 */
async function claimDue(
  db: Kysely<Database>,
  engine: Engine,
  now: number,
  afterMs: number,
): Promise<LookedUpMessage[]> {
  return runTransaction(db, async (trx) => {
    let query = dueLookupsQuery(trx, now, RECEIPT_LOOKUP_BATCH, afterMs);
    if (engine === "postgresql") query = query.forUpdate().skipLocked();
    const claimed: LookedUpMessage[] = [];
    for (const row of await query.execute()) {
      const asks = row.receipt_lookups + 1;
      const taken = await trx
        .updateTable("events")
        .set({ receipt_lookups: asks, receipt_lookup_after: now + receiptLookupWaitMs(asks, afterMs) })
        .where("organization_id", "=", row.organization_id)
        .where("id", "=", row.id)
        .where("receipt_lookups", "=", row.receipt_lookups)
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) === 1 && row.telnyx_id) {
        claimed.push({
          organizationId: row.organization_id,
          eventId: row.id,
          providerMessageId: row.telnyx_id,
        });
      }
    }
    return claimed;
  });
}

async function askNoMore(db: Kysely<Database>, message: LookedUpMessage): Promise<void> {
  await db
    .updateTable("events")
    .set({ receipt_lookups: MAX_RECEIPT_LOOKUPS })
    .where("organization_id", "=", message.organizationId)
    .where("id", "=", message.eventId)
    .execute();
}

export interface LookupRound {
  asked: number;
  /** Final answers applied as receipts. */
  settled: number;
}

/** One round: asks the provider for the due messages and applies the final answers. */
export async function lookUpReceipts(
  db: Kysely<Database>,
  engine: Engine,
  provider: Provider,
  applyReceipt: (receipt: Receipt) => Promise<unknown>,
  now: number,
  /** How long a message stays Sent before it is asked for (LEADTRAIL_RECEIPT_LOOKUP_AFTER_MINUTES). */
  afterMs = RECEIPT_LOOKUP_AFTER_MS,
): Promise<LookupRound> {
  const lookUp = provider.lookUp?.bind(provider);
  if (!lookUp) return { asked: 0, settled: 0 };
  const messages = await claimDue(db, engine, now, afterMs);
  const answers = await Promise.all(messages.map((m) => lookUp(m)));
  let settled = 0;
  for (const [i, answer] of answers.entries()) {
    if (answer.kind !== "final") continue;
    await applyReceipt(answer.receipt);
    // A final answer that leaves it Sent (delivery_unconfirmed) is all Telnyx will ever say.
    await askNoMore(db, messages[i]!);
    settled++;
  }
  return { asked: messages.length, settled };
}
