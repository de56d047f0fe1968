import type { Kysely } from "kysely";
import { zonesForNumber } from "../domain/number-geo.js";
import { nextAllowedTime, type QuietWindow } from "../domain/quiet-hours.js";
import { warmupDay, warmupDayStart, warmupMessageDue } from "../domain/warmup.js";
import { transactKnowingCommit } from "../store/commit-outcome.js";
import type { Database, EventRow, PhoneNumberRow } from "../store/schema.js";
import { suppressedAmong } from "../store/suppressions-repo.js";
import { SYSTEM_AUTHOR_ID } from "../store/user-directory.js";
import type { Prices } from "./billing.js";
import { queueOutbound } from "./send.js";

/**
 * One round of the warmup scheduler: every enabled number flagged for warmup whose next message is
 * due sends one to another number of its organization, which answers it. Both are Warmup events
 * (isWarmup, trafficType Warmup), never billed. The counters move with a guarded update, so two
 * processes ticking together still queue one exchange, and a number changed since it was read
 * sends none. Returns the events queued.
 *
 * An exchange starts only while both numbers are outside quiet hours (`quietHours`, read in each
 * number's zones): any number can be registered as an organization's own, so a partner may be a
 * person. A slot that falls in quiet hours is skipped, and not made up once they end: the compliance
 * gate lets warmup through rather than defer it, which would bunch a night's slots into the morning.
 */
export async function runWarmupTick(
  db: Kysely<Database>,
  prices: (organizationId: string) => Promise<Prices>,
  quietHours: QuietWindow | null,
  now: number = Date.now(),
): Promise<EventRow[]> {
  const warming = await db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("warmup_enabled", "=", 1)
    .where("enabled", "=", 1)
    .where("sms_enabled", "=", 1)
    .execute();
  const queued: EventRow[] = [];
  for (const number of warming) {
    const exchange = await warmupExchange(db, number, prices, quietHours, now);
    queued.push(...exchange);
  }
  return queued;
}

/** Whether both numbers of an exchange (each receives a message of it) are outside quiet hours now. */
function bothAwake(
  a: PhoneNumberRow,
  b: PhoneNumberRow,
  quietHours: QuietWindow | null,
  now: number,
): boolean {
  const zones = [...new Set([...zonesForNumber(a.number), ...zonesForNumber(b.number)])];
  return nextAllowedTime(now, zones, quietHours) === now;
}

/**
 * The partner whose turn it is (the partners in rotation by the number's exchanges so far), or the
 * next one in the rotation outside quiet hours when it is in them; none when every one is, or the
 * number itself is.
 */
function awakePartner(
  number: PhoneNumberRow,
  partners: PhoneNumberRow[],
  quietHours: QuietWindow | null,
  now: number,
): PhoneNumberRow | undefined {
  for (let i = 0; i < partners.length; i++) {
    const partner = partners[(number.warmup_total_sent + i) % partners.length]!;
    if (bothAwake(number, partner, quietHours, now)) return partner;
  }
  return undefined;
}

async function warmupExchange(
  db: Kysely<Database>,
  number: PhoneNumberRow,
  prices: (organizationId: string) => Promise<Prices>,
  quietHours: QuietWindow | null,
  now: number,
): Promise<EventRow[]> {
  const startedAt = number.warmup_started_at ?? now;
  const today = warmupDayStart(startedAt, now);
  const sentToday = number.warmup_day_start === today ? number.warmup_sent_today : 0;
  const day = warmupDay(startedAt, now);
  if (!warmupMessageDue(sentToday, number.warmup_last_sent_at, today, day, now)) return [];
  const candidates = await db
    .selectFrom("phone_numbers")
    .selectAll()
    .where("organization_id", "=", number.organization_id)
    .where("id", "!=", number.id)
    .where("enabled", "=", 1)
    .where("sms_enabled", "=", 1)
    .orderBy("id")
    .execute();
  // A number that opted out is no partner (any number can be registered: it may be a person's).
  const optedOut = await suppressedAmong(
    db,
    number.organization_id,
    "sms",
    candidates.map((c) => c.number),
  );
  const partners = candidates.filter((c) => !optedOut.has(c.number));
  const partner = awakePartner(number, partners, quietHours, now);
  if (!partner) return [];
  const orgPrices = await prices(number.organization_id);
  return transactKnowingCommit(db, async (trx) => {
    const claimed = await trx
      .updateTable("phone_numbers")
      .set({
        warmup_started_at: startedAt,
        warmup_day_start: today,
        warmup_sent_today: sentToday + 1,
        warmup_last_sent_at: now,
        warmup_total_sent: number.warmup_total_sent + 1,
      })
      .where("organization_id", "=", number.organization_id)
      .where("id", "=", number.id)
      .where("warmup_total_sent", "=", number.warmup_total_sent)
      // The ramp as read: one paused and resumed meanwhile (a number disabled, then enabled again)
      // keeps the start its resume moved, rather than the one read before.
      .where((eb) =>
        number.warmup_started_at === null
          ? eb("warmup_started_at", "is", null)
          : eb("warmup_started_at", "=", number.warmup_started_at),
      )
      // Still warming as read: warmup turned off, the number disabled or renumbered meanwhile (a
      // PUT that committed after the read) sends nothing and leaves the ended ramp ended.
      .where("warmup_enabled", "=", 1)
      .where("enabled", "=", 1)
      .where("sms_enabled", "=", 1)
      .where("number", "=", number.number)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) === 0) return [];
    const message = (from: PhoneNumberRow, to: PhoneNumberRow, text: string) =>
      queueOutbound(
        trx,
        {
          organizationId: number.organization_id,
          createdBy: SYSTEM_AUTHOR_ID,
          conversation: null,
          to: to.number,
          from,
          // null, which the seed allows (enum | null): no selection rule chose these numbers. The
          // warmup pairs the number being warmed with a partner by design; none of the eight
          // reasons (ManualOverride least of all: nobody overrode anything) would be true.
          selectionReason: null,
          wasManuallyOverridden: false,
          text,
          mediaUrls: [],
          campaignId: null,
          sourceId: null,
          trafficType: "Warmup",
          scheduledFor: null,
          idempotencyKey: null,
          outboundSource: "warmup",
          prices: orgPrices,
          isWarmup: true,
          summary: `Warmup: ${text}`,
        },
        now,
      );
    const n = number.warmup_total_sent + 1;
    return [
      await message(number, partner, `Checking in (${n}). Have a good day!`),
      await message(partner, number, `Thanks, you too (${n}).`),
    ];
  });
}
