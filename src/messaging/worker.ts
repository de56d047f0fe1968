import { hostname } from "node:os";
import type { Kysely, Transaction } from "kysely";
import type { MessagingConfig } from "../config.js";
import { MAX_RETRY_DELAY_MS, retryDelayMs } from "../domain/backoff.js";
import {
  isAcceptedByProvider,
  isReconciledUnknown,
  OUTCOME_UNKNOWN,
  refusedAtTheCall,
  sentAtNoLaterThanOutcome,
} from "../domain/message-status.js";
import { zonesForNumber } from "../domain/number-geo.js";
import { plural } from "../domain/plain-text.js";
import { nextAllowedTime } from "../domain/quiet-hours.js";
import {
  gaveUpReason,
  OUTCOME_UNKNOWN_REASON,
  operatorGaveUpReason,
  operatorWaitReason,
  rejectedReason,
  retryingReason,
  unknownOutcomeReason,
} from "../domain/status-reason.js";
import { senderNeedsTenDlc, tenDlcCampaignOf } from "../domain/ten-dlc.js";
import { BatchQueue } from "../store/batch-queue.js";
import { transactKnowingCommit } from "../store/commit-outcome.js";
import type { Engine } from "../store/database.js";
import { isDatabaseUnavailable, isTransientConflict } from "../store/errors.js";
import { plainTransact, type Transact } from "../store/group-commit.js";
import {
  addConversationToRestick,
  type ConversationsToRestick,
  restickConversations,
} from "../store/leads-repo.js";
import { recordOutcome } from "../store/phone-numbers-repo.js";
import type { Database, EventRow, PhoneNumberRow } from "../store/schema.js";
import { type BatchItem, indexesByOrganization, transitionBatch } from "./batch-transitions.js";
import { billAccepted, billAcceptedMany, isBillableTraffic } from "./billing.js";
import { canceledChanges } from "./cancel.js";
import { type GateFacts, readGateFacts, skipsQuietHours } from "./gate-facts.js";
import { operatorDeferral, operatorGiveUp } from "./operator-hold.js";
import type { Provider, SendResult } from "./provider.js";
import {
  type Breaker,
  closeBreakers,
  openBreakers,
  recordOperatorRefusal,
  refusalScope,
  scopesOf,
  takeProbe,
} from "./provider-breaker.js";
import {
  isOptOutAnswer,
  lockLeadsAtRecipient,
  optedInSinceHandedOver,
  suppressOptedOutRecipient,
} from "./provider-opt-out.js";
import { mediaUrlsOf } from "./send.js";
import { lockEvent, lockEvents, logIgnored, transition } from "./transitions.js";

type Db = Kysely<Database> | Transaction<Database>;

type AcceptedResult = Extract<SendResult, { kind: "accepted" }>;

/** What the provider said about one message. */
interface Outcome {
  organizationId: string;
  id: string;
  /** The message's recipient, whose leads a refusal because they opted out records it on. */
  to: string;
  result: SendResult;
}

/** A claimed message that passed the compliance gate, with the sender it goes out from. */
interface Passed {
  row: EventRow;
  sender: PhoneNumberRow;
}

// The outbound pipeline. A worker claims due events (next_attempt_at <= now) in one transaction —
// FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent workers take disjoint batches; the single
// writer on SQLite — runs the compliance gate in that same transaction and moves the survivors to
// Sending with a reconcile deadline. Only then, outside any transaction, does it call the
// provider, and it records the outcome in a new one.
//
// Crash safety: a message is handed to the provider only while Sending, and Sending is never
// re-sent: if the process dies during the call, the deadline passes and the reconcile step ends the
// message Failed / ProviderOutcomeUnknown unless a receipt (which names the event) moved it first.
//
// The loop does not wait for a round's provider calls before the next round: one call that hangs
// (up to its timeout, provider.ts) must not hold every other due message, nor the reconcile. The
// calls in flight are bounded (LEADTRAIL_WORKER_IN_FLIGHT_BATCHES claim batches), and a round claims
// only when a whole batch fits: a claimed message's reconcile deadline runs from the claim, so it is
// handed over at once. It does
// wait for the answers already in to be written, as rounds did: claims back to back would contend
// with those writes for the same rows (the wallet, the sender's) and slow both down.

export interface WorkerOptions {
  engine: Engine;
  config: MessagingConfig;
  provider: Provider;
  batchSize?: number;
  /** Idle poll interval. */
  pollMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * How outcomes are committed (Messaging passes its group commit); a transaction each by default.
   * A refusal because the recipient opted out always takes one of its own (provider-opt-out.ts).
   */
  transact?: Transact;
}

/** A claim's size unless the worker is told otherwise. */
const DEFAULT_BATCH_SIZE = 100;

/** A round's work: how many messages it claimed, and its provider calls (each records its outcome). */
interface Round {
  claimed: number;
  deliveries: Promise<void>[];
}

/** The longest a worker waits between rounds while they keep failing (a database down). */
const MAX_FAILURE_PAUSE_MS = 5_000;

/** The wait after the n-th failure in a row: doubling from 200 ms, up to MAX_FAILURE_PAUSE_MS. */
function failurePauseMs(failures: number): number {
  return Math.min(MAX_FAILURE_PAUSE_MS, 100 * 2 ** Math.min(failures, 10));
}

/** Failures are logged the first time and then at powers of two, so a long outage does not flood. */
function isPowerOfTwo(n: number): boolean {
  return (n & (n - 1)) === 0;
}

/**
 * What the gate decided for the claimed messages it did not pass, written for the whole claim at
 * once (see writeGateOutcomes): a campaign queued in the evening defers every message of its
 * batches, and an empty wallet or a sender turned off blocks them all.
 */
interface GateOutcomes {
  /** Quiet-hours deferrals: each keeps its own time. */
  deferred: BatchItem[];
  /** Blocks: each keeps its own compliance action, reason and billing status. */
  blocked: BatchItem[];
  /** Sending past the reconcile deadline, ended Failed / ProviderOutcomeUnknown. */
  reconciled: BatchItem[];
  /** Warmup messages claimed in the recipient's quiet hours: canceled (see missedWarmupSlot). */
  missedWarmup: BatchItem[];
  /** Claimed in a status the worker has nothing to do with: taken off the due index. */
  undue: EventRow[];
  /**
   * Held back by an open provider breaker (provider-breaker.ts) for the first time: each with its
   * log entry, saying why it waits.
   */
  operatorDeferred: BatchItem[];
  /**
   * Held back again, already waiting for that operator problem: only their next attempt moves, with
   * no log entry, so a long outage adds nothing to their logs for each probe interval.
   */
  operatorWaiting: { row: EventRow; until: number }[];
  /** Waited for an operator problem past LEADTRAIL_OPERATOR_WAIT_HOURS: Failed without a call. */
  operatorFailed: BatchItem[];
  /** The conversations of blocked messages (their sticky sender is restored). */
  blockedIn: ConversationsToRestick;
}

/** Why a warmup message claimed in its recipient's quiet hours is canceled (cancelReason). */
const MISSED_WARMUP_SLOT =
  "Warmup slot missed: quiet hours at the recipient by the time it was claimed; a missed slot is not made up";

/**
 * A warmup message claimed while its recipient is in quiet hours (queued in the day, claimed late:
 * the worker was down overnight) is canceled, not sent in the night nor deferred: warmup's scheduler
 * skips a slot that falls in quiet hours rather than bunch it into a morning burst (warmup.ts).
 */
function missedWarmupSlot(row: EventRow, now: number): BatchItem {
  return {
    event: row,
    changes: canceledChanges(now, MISSED_WARMUP_SLOT),
    log: { stage: "compliance", message: `Canceled: ${MISSED_WARMUP_SLOT.toLowerCase()}.` },
  };
}

function noGateOutcomes(): GateOutcomes {
  return {
    deferred: [],
    blocked: [],
    reconciled: [],
    missedWarmup: [],
    undue: [],
    operatorDeferred: [],
    operatorWaiting: [],
    operatorFailed: [],
    blockedIn: new Map(),
  };
}

/**
 * Writes the gate's outcomes, a few statements for the claim rather than two a message. The blocks
 * are written before the conversations' sticky senders are restored, which reads them (a Blocked
 * message never reached the person), and the conversations are locked after every message.
 */
async function writeGateOutcomes(trx: Transaction<Database>, outcomes: GateOutcomes, now: number) {
  await transitionBatch(trx, {
    perEvent: { scheduled_for: "bigint", next_attempt_at: "bigint", status_reason: "text" },
    items: outcomes.deferred,
    at: now,
  });
  await transitionBatch(trx, {
    perEvent: { compliance_action: "text", status_reason: "text", billing_status: "text" },
    items: outcomes.blocked,
    at: now,
  });
  await transitionBatch(trx, { perEvent: { billing_status: "text" }, items: outcomes.reconciled, at: now });
  await transitionBatch(trx, { perEvent: {}, items: outcomes.missedWarmup, at: now });
  const operatorColumns = { error_code: "text", error_message: "text", status_reason: "text" } as const;
  await transitionBatch(trx, {
    // A message quiet hours held overnight still waits since its first refusal: not every item's start.
    perEvent: { ...operatorColumns, next_attempt_at: "bigint", operator_wait_since: "bigint" },
    items: outcomes.operatorDeferred,
    at: now,
  });
  await transitionBatch(trx, { perEvent: operatorColumns, items: outcomes.operatorFailed, at: now });
  await moveWaiting(trx, outcomes.operatorWaiting);
  for (const [organizationId, indexes] of indexesByOrganization(
    outcomes.undue,
    (row) => row.organization_id,
  )) {
    await trx
      .updateTable("events")
      .set({ next_attempt_at: null })
      .where("organization_id", "=", organizationId)
      .where(
        "id",
        "in",
        indexes.map((i) => outcomes.undue[i]!.id),
      )
      .execute();
  }
  await restickConversations(trx, outcomes.blockedIn);
}

/** Moves the next attempt of messages already waiting for an operator problem: no log entry. */
async function moveWaiting(trx: Transaction<Database>, waiting: { row: EventRow; until: number }[]) {
  const groups = new Map<string, { organizationId: string; until: number; ids: string[] }>();
  for (const { row, until } of waiting) {
    const key = `${row.organization_id}\u0000${until}`;
    const group = groups.get(key) ?? { organizationId: row.organization_id, until, ids: [] };
    group.ids.push(row.id);
    groups.set(key, group);
  }
  for (const { organizationId, until, ids } of groups.values()) {
    await trx
      .updateTable("events")
      .set({ next_attempt_at: until })
      .where("organization_id", "=", organizationId)
      .where("id", "in", ids)
      .execute();
  }
}

/** What a refusal because the recipient opted out adds to the message's log. */
function optOutNote(suppressed: boolean): string {
  return suppressed
    ? " The recipient opted out there: suppressed."
    : " The recipient opted out there, but opted back in since it was handed over: not suppressed.";
}

export class Worker {
  private running = false;
  /**
   * Set by stop(), not merely "not running": a round run on its own (runOnce, without start) still
   * writes a failed outcome again; once stopped, it is left to receipts and the reconcile.
   */
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Provider calls under way, each until its outcome is recorded (or failed to be); never rejects. */
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Messages this worker handed over as a provider breaker's probe, with the breakers' scopes: the
   * process that claims a message records its answer, so an acceptance closes them from here.
   */
  private readonly probes = new Map<string, string[]>();
  /** Calls the provider has answered whose outcome is being written. */
  private recording = 0;
  /** Set while the loop waits (see waitWhile): called as a call ends or an outcome is written. */
  private progressed: (() => void) | null = null;
  /** Outcomes of the loop's calls that could not be recorded, in a row: logged sparingly. */
  private unrecorded = 0;
  readonly id = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: WorkerOptions,
  ) {
    this.transact = options.transact ?? plainTransact(db);
    this.refusals = plainTransact(db);
  }

  private readonly transact: Transact;
  /** A refusal because the recipient opted out: its own transaction (provider-opt-out.ts says why). */
  private readonly refusals: Transact;
  private readonly outcomes = new BatchQueue<Outcome, boolean>(
    (work) => this.transact(work),
    (trx, outcomes) => this.recordResults(trx, outcomes),
  );

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Lets an idle worker look for work at once (after a send on the same process). */
  poke(): void {
    this.wake?.();
  }

  /**
   * Ends the loop, then waits for the provider calls in flight and the recording of their outcomes,
   * for `graceMs` at most (the shutdown grace the operator set): a call still unanswered then is
   * left as a crash leaves it, its message Sending for its receipts or the reconcile, never resent.
   */
  async stop(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.running = false;
    this.stopping = true;
    this.poke();
    // A loop waiting for a call to end (waitWhile) sees at once that it is to stop.
    this.progressed?.();
    await this.loop;
    const drained = (async () => {
      while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    })();
    if (!Number.isFinite(graceMs)) return drained;
    let timer: NodeJS.Timeout | undefined;
    const graceEnds = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, graceMs));
    });
    await Promise.race([drained, graceEnds]);
    clearTimeout(timer);
  }

  private get batchSize(): number {
    return this.options.batchSize ?? DEFAULT_BATCH_SIZE;
  }

  private async run(): Promise<void> {
    // A provider that hangs (an outage) holds this many messages in Sending at most, rather than every
    // due one; each call that times out leaves its message to the reconcile (ProviderOutcomeUnknown).
    // The operator weighs that against the calls needed to keep pace with the provider's latency.
    const maxInFlight = this.options.config.workerInFlightBatches * this.batchSize;
    let failures = 0;
    while (this.running) {
      // Answers already in are written first (see the top of this file). Near the bound, calls must
      // end before more messages are claimed, which could not be sent yet: until a whole batch fits,
      // since a round for each call that ends would be a transaction each.
      await this.waitWhile(() => this.recording > 0 || this.inFlight.size > maxInFlight - this.batchSize);
      if (!this.running) break;
      let worked = 0;
      try {
        const round = await this.round();
        for (const delivery of round.deliveries)
          delivery.then(
            () => this.recorded(),
            (e) => this.unrecordedOutcome(e),
          );
        worked = round.claimed;
        if (failures > 0) console.error(`leadtrail worker: working again after ${failures} failed rounds`);
        failures = 0;
      } catch (error) {
        failures++;
        // A database that is down fails every round: say so on the first failure and then at powers
        // of two, and wait longer each time (up to MAX_FAILURE_PAUSE_MS) instead of spinning.
        if (isPowerOfTwo(failures)) console.error(`leadtrail worker (failed round ${failures}):`, error);
      }
      if (worked === 0 && this.running) {
        const pause = failures === 0 ? (this.options.pollMs ?? 100) : failurePauseMs(failures);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pause);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  /** Waits, while the worker runs, until `blocked` no longer holds (checked as calls progress). */
  private async waitWhile(blocked: () => boolean): Promise<void> {
    while (this.running && blocked()) {
      await new Promise<void>((resolve) => {
        this.progressed = resolve;
      });
      this.progressed = null;
    }
  }

  private recorded(): void {
    this.unrecorded = 0;
  }

  /** An outcome the loop's call could not record (deliver says when): the reconcile settles it. */
  private unrecordedOutcome(error: unknown): void {
    this.unrecorded++;
    if (isPowerOfTwo(this.unrecorded)) {
      console.error(`leadtrail worker: an outcome was not recorded (${this.unrecorded} in a row):`, error);
    }
  }

  /**
   * One round, on its own: claim due work, send what passed the gate, and return (the rows handled)
   * once every outcome is recorded. The loop does not wait so (see run).
   */
  async runOnce(): Promise<number> {
    const { claimed, deliveries } = await this.round();
    await Promise.all(deliveries);
    return claimed;
  }

  /**
   * Claims a batch of due messages, gates them and moves those that passed to Sending, then
   * begins their provider calls (tracked in inFlight) and answers without waiting for them.
   */
  private async round(): Promise<Round> {
    const now = this.now();
    // Idle polling costs one index probe, not a transaction.
    if (!(await this.anyDue(now))) return { claimed: 0, deliveries: [] };
    // A claim whose COMMIT's answer is lost is looked up: committed, its messages are Sending and are
    // handed over now, rather than left for the reconcile to fail as ProviderOutcomeUnknown.
    const { claimed, toSend } = await transactKnowingCommit(this.db, async (trx) => {
      const claimed = await this.claim(trx, now);
      const facts = await readGateFacts(trx, claimed, now);
      // The gate's time is taken once it has read what it decides on: reading may wait for another
      // worker's batch (the spend lock), and a release committed meanwhile is seen, so a Sending
      // stamped at the claim's start would precede the release it depends on in the log.
      const gatedAt = Math.max(now, this.now());
      const passed: Passed[] = [];
      const outcomes = noGateOutcomes();
      for (const row of claimed) {
        const pass = this.gate(row, facts, gatedAt, outcomes);
        if (pass) passed.push(pass);
      }
      const sendable = await this.holdBack(trx, passed, gatedAt, outcomes);
      await writeGateOutcomes(trx, outcomes, gatedAt);
      return { claimed: claimed.length, toSend: await this.moveToSending(trx, sendable, gatedAt) };
    });
    return { claimed, deliveries: toSend.map((row) => this.track(this.deliver(row))) };
  }

  /** Keeps a provider call in inFlight until it settles; answers the call itself. */
  private track(delivery: Promise<void>): Promise<void> {
    const ended = () => {
      this.inFlight.delete(settled);
      this.progressed?.();
    };
    const settled: Promise<void> = delivery.then(ended, ended);
    this.inFlight.add(settled);
    return delivery;
  }

  private async anyDue(now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom("events")
      .select("next_attempt_at")
      .where("next_attempt_at", "<=", now)
      // The order keeps PostgreSQL on the events_due index: without it a generic plan may pick a
      // sequential scan that "stops at the first match", which reads every row when none is due.
      .orderBy("next_attempt_at")
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Locks the due rows this worker will handle, oldest due first. On PostgreSQL, rows another worker
   * holds are skipped, so workers never wait on each other nor take the same message.
   */
  private async claim(trx: Transaction<Database>, now: number): Promise<EventRow[]> {
    let query = trx
      .selectFrom("events")
      .selectAll()
      .where("next_attempt_at", "<=", now)
      .orderBy("next_attempt_at")
      .limit(this.batchSize);
    if (this.options.engine === "postgresql") query = query.forUpdate().skipLocked();
    return query.execute();
  }

  /**
   * The compliance gate, in the claim transaction: suppression, quiet hours, 10DLC, wallet. Returns
   * the message with its sender when it may be sent, or null when it was blocked, deferred or
   * reconciled: those go to `outcomes`, written for the whole claim at once (writeGateOutcomes).
   */
  private gate(row: EventRow, facts: GateFacts, now: number, outcomes: GateOutcomes): Passed | null {
    if (row.status === "Sending") {
      // The reconcile deadline passed with no outcome: we cannot know whether the provider sent it,
      // so it is never resent blindly.
      outcomes.reconciled.push({
        event: row,
        changes: {
          status: "Failed",
          failed_at: now,
          error_code: OUTCOME_UNKNOWN,
          error_message: "No provider outcome before the reconcile deadline.",
          status_reason: OUTCOME_UNKNOWN_REASON,
          next_attempt_at: null,
          billing_status: row.billing_status ?? "NotBilled",
        },
        log: { stage: "reconcile", message: "No outcome from the provider in time; not resent." },
      });
      return null;
    }
    if (row.status !== "Queued" && row.status !== "Scheduled") {
      outcomes.undue.push(row);
      return null;
    }
    const deferred = outcomes.deferred;
    const block = (
      changes: Pick<EventRow, "status_reason"> &
        Partial<Pick<EventRow, "compliance_action" | "billing_status">>,
      message: string,
    ) => {
      addConversationToRestick(outcomes.blockedIn, row);
      outcomes.blocked.push({
        event: row,
        changes: {
          status: "Blocked",
          blocked_at: now,
          next_attempt_at: null,
          next_retry_at: null,
          // A block that names no compliance action (the wallet's) leaves the message's as it was.
          compliance_action: changes.compliance_action ?? row.compliance_action,
          billing_status: changes.billing_status ?? "NotBilled",
          status_reason: changes.status_reason,
        },
        log: { stage: "compliance", message },
      });
      return null;
    };

    const to = row.to_phone_number!;

    if (facts.suppressed.has(row.id)) {
      return block(
        { compliance_action: "Suppressed", status_reason: "Recipient opted out or is suppressed." },
        "Blocked: the recipient is suppressed.",
      );
    }
    if (facts.recipientChanged.has(row.id)) {
      return block(
        {
          compliance_action: "RecipientChanged",
          status_reason: "The lead's phone number changed or was removed after this message was queued.",
        },
        "Blocked: the recipient is no longer the lead's phone number.",
      );
    }
    const quietHours = this.options.config.quietHours;
    if (row.traffic_type === "Warmup" && nextAllowedTime(now, zonesForNumber(to), quietHours) !== now) {
      outcomes.missedWarmup.push(missedWarmupSlot(row, now));
      return null;
    }
    const zones = facts.zones.get(row.id) ?? [];
    const allowedAt = skipsQuietHours(row) ? now : nextAllowedTime(now, zones, quietHours);
    if (allowedAt === null) {
      return block(
        {
          compliance_action: "QuietHours",
          status_reason:
            "No time of day is outside quiet hours in every time zone the recipient may be in; set the lead's contact.timeZoneId.",
        },
        "Blocked: the recipient's possible time zones leave no hour outside quiet hours.",
      );
    }
    if (allowedAt > now) {
      deferred.push({
        event: row,
        changes: {
          status: "Scheduled",
          scheduled_for: allowedAt,
          scheduled_reason: "QuietHours",
          next_attempt_at: allowedAt,
          // A retry deferred into the morning: the retry time and reason no longer hold.
          next_retry_at: null,
          status_reason: `Quiet hours at the recipient until ${new Date(allowedAt).toISOString()}.`,
        },
        log: {
          stage: "compliance",
          message: `Deferred to ${new Date(allowedAt).toISOString()}: quiet hours at the recipient.`,
        },
      });
      return null;
    }
    const sender = row.from_phone_number_id ? facts.senders.get(row.from_phone_number_id) : undefined;
    // Selection refuses a number that is disabled or has SMS turned off; either may change while a
    // message waits in the queue. A keyword's answer (an opt-out's confirmation above all) still goes
    // from the number the person wrote to, disabled or SMS off: the carriers require it, the
    // provider still holds the number, and the confirmation is the last message they get. Only a
    // deleted number cannot answer.
    const answersKeyword = row.traffic_type === "SystemInternal";
    if (!sender || (!answersKeyword && (sender.enabled !== 1 || sender.sms_enabled !== 1))) {
      return block(
        {
          compliance_action: "SenderUnavailable",
          status_reason: "The sender number was removed or disabled, or its SMS was turned off.",
        },
        "Blocked: the sender number is no longer available.",
      );
    }
    // A toll-free sender goes under toll-free verification, not 10DLC (domain/ten-dlc.ts).
    if (senderNeedsTenDlc(sender.number, to) && !sender.ten_dlc_campaign_id) {
      return block(
        {
          compliance_action: "MissingTenDlcCampaign",
          // What to set, so that the timeline tells the user how to send (not only why not).
          status_reason:
            "The sender number has no 10DLC campaign, which a US or Canadian recipient needs: set its routing.tenDlcCampaignId (PUT /phone-numbers/{id}).",
        },
        "Blocked: US/Canada recipient and a sender without a 10DLC campaign.",
      );
    }
    if (isBillableTraffic(row.traffic_type) && !row.is_warmup) {
      const spendable = facts.balances.get(row.organization_id) ?? 0;
      const price = row.price_micros ?? 0;
      if (spendable < price) {
        return block(
          {
            billing_status: "InsufficientFunds",
            status_reason: "The wallet balance is below the message price.",
          },
          "Blocked: insufficient funds.",
        );
      }
      // Spent as far as the rest of this batch is concerned (it is billed once the provider takes it).
      facts.balances.set(row.organization_id, spendable - price);
    }
    return { row, sender };
  }

  /**
   * Holds back the messages that passed the gate while a provider breaker of theirs is open
   * (provider-breaker.ts): they wait for its next probe without a call, but for the one taken as
   * the probe; or fail, without a call, once they waited LEADTRAIL_OPERATOR_WAIT_HOURS. Answers the
   * messages to send. One read of a table of a few rows when no breaker is open.
   */
  private async holdBack(
    trx: Transaction<Database>,
    passed: Passed[],
    now: number,
    outcomes: GateOutcomes,
  ): Promise<Passed[]> {
    if (passed.length === 0) return passed;
    const breakers = await openBreakers(trx);
    if (breakers.size === 0) return passed;
    const waitMs = this.options.config.operatorWaitHours * 3_600_000;
    // The due probes this claim won, taken first and in scope order: two claims never wait for each
    // other's breaker rows in opposite orders (a deadlock on PostgreSQL). A breaker taken by this
    // claim or another has its next probe an interval on, which the rest of the claim waits for.
    const under = new Set(passed.flatMap(({ sender }) => scopesOf(sender.number)));
    const probes = new Set<string>();
    for (const breaker of [...breakers.values()].sort((a, b) => (a.scope < b.scope ? -1 : 1))) {
      if (breaker.probe_at > now || !under.has(breaker.scope)) continue;
      if (await takeProbe(trx, breaker, now)) probes.add(breaker.scope);
      breaker.probe_at = now + breaker.interval_ms;
    }
    const sendable: Passed[] = [];
    for (const pass of passed) {
      const { row, sender } = pass;
      const open = scopesOf(sender.number)
        .map((scope) => breakers.get(scope))
        .filter((b): b is Breaker => b !== undefined);
      if (open.length === 0) {
        sendable.push(pass);
        continue;
      }
      const shown = open[0]!;
      const since = row.operator_wait_since ?? now;
      if (now - since >= waitMs) {
        addConversationToRestick(outcomes.blockedIn, row);
        outcomes.operatorFailed.push(operatorGiveUp(row, shown, this.options.config.operatorWaitHours, now));
        continue;
      }
      // A probe of every breaker it is under, each taken once: the rest of the claim waits for the next.
      if (open.every((b) => probes.has(b.scope))) {
        for (const b of open) probes.delete(b.scope);
        this.probes.set(
          row.id,
          open.map((b) => b.scope),
        );
        sendable.push(pass);
        continue;
      }
      // Never past its own deadline, when it is to fail rather than wait on.
      const until = Math.min(Math.max(...open.map((b) => b.probe_at)), since + waitMs);
      if (row.operator_wait_since !== null && row.status === "Queued") {
        outcomes.operatorWaiting.push({ row, until });
        continue;
      }
      outcomes.operatorDeferred.push(operatorDeferral(row, shown, since, until, since + waitMs));
    }
    return sendable;
  }

  /**
   * Moves the messages that passed the gate to Sending, all in one batch, with the reconcile
   * deadline after which an unanswered send is never retried blindly. Answers the moved rows.
   */
  private moveToSending(trx: Transaction<Database>, passed: Passed[], now: number): Promise<EventRow[]> {
    const log = { stage: "sending", message: `Passed compliance; handing to ${this.options.provider.name}.` };
    const reconcileAt = now + Math.round(this.options.config.reconcileSeconds * 1000);
    return transitionBatch(trx, {
      perEvent: { ten_dlc_campaign_id: "text", from_phone_number: "text" },
      items: passed.map(({ row, sender }) => ({
        event: row,
        changes: {
          status: "Sending",
          sending_started_at: now,
          ten_dlc_campaign_id: tenDlcCampaignOf(sender),
          from_phone_number: sender.number,
          next_attempt_at: reconcileAt,
          next_retry_at: null,
          // Why it waited (a retry, quiet hours) no longer holds once it is being sent.
          status_reason: null,
        },
        log,
      })),
      at: now,
    });
  }

  /** Calls the provider for one claimed message and records what it said. */
  private async deliver(row: EventRow): Promise<void> {
    let result: SendResult;
    try {
      result = await this.options.provider.send({
        organizationId: row.organization_id,
        eventId: row.id,
        from: row.from_phone_number!,
        to: row.to_phone_number!,
        text: row.body ?? "",
        mediaUrls: mediaUrlsOf(row),
      });
    } catch (error) {
      result = {
        kind: "transient",
        errorCode: "ProviderError",
        errorMessage: error instanceof Error ? error.message : String(error),
      };
    }
    const outcome: Outcome = {
      organizationId: row.organization_id,
      id: row.id,
      to: row.to_phone_number!,
      result,
    };
    const record = isOptOutAnswer(result)
      ? () => this.refusals(async (trx) => (await this.recordResults(trx, [outcome]))[0]!)
      : () => this.outcomes.submit(outcome);
    this.recording++;
    try {
      await this.recordWithRetries(row, record);
    } finally {
      this.probes.delete(row.id);
      this.recording--;
      this.progressed?.();
    }
  }

  /** Writes a provider's answer down, again after a failure the database may get over (see below). */
  private async recordWithRetries(row: EventRow, record: () => Promise<boolean>): Promise<void> {
    let failures = 0;
    for (let attempt = 0; attempt < 5; ) {
      let done: boolean;
      try {
        done = await record();
      } catch (error) {
        // The provider's answer is known; only writing it down failed (a dropped connection, a
        // database restarting or locked). Dropped, it would leave the message Sending for the
        // reconcile to end ProviderOutcomeUnknown, and a transient error, which proves nothing went
        // out, would never be retried. So it is written again, after waits that grow as the round
        // loop's do, until it is or the worker stops (then receipts and the reconcile settle it, as
        // after a crash). An error the database would give again (a bug) is not waited out: it would
        // hold the worker's round, and every other message, for ever.
        failures++;
        if (this.stopping || !(isDatabaseUnavailable(error) || isTransientConflict(error))) throw error;
        if (isPowerOfTwo(failures)) {
          console.error(`leadtrail worker: recording the outcome of ${row.id} failed (${failures}):`, error);
        }
        await new Promise((resolve) => setTimeout(resolve, failurePauseMs(failures)));
        continue;
      }
      if (done) return;
      attempt++;
    }
  }

  /**
   * Records the outcomes of provider calls that returned together. The common case, a message still
   * Sending that the provider accepted, is done for all of them at once (one lock, one ledger insert,
   * one wallet debit, one update, one log insert per organization); everything else one by one.
   * Answers, per outcome, false when another writer moved the message first (the caller retries).
   */
  private async recordResults(trx: Transaction<Database>, outcomes: Outcome[]): Promise<boolean[]> {
    const done: boolean[] = [];
    const accepted = indexesByOrganization(outcomes, (o) =>
      outcomes.length > 1 && o.result.kind === "accepted" ? o.organizationId : null,
    );
    const now = this.now();
    for (const [organizationId, indexes] of accepted) {
      const events = await lockEvents(
        trx,
        organizationId,
        indexes.map((i) => outcomes[i]!.id),
      );
      const sending = new Map(events.filter((e) => e.status === "Sending").map((e) => [e.id, e]));
      const batch = indexes.filter((i) => sending.has(outcomes[i]!.id));
      if (batch.length === 0) continue;
      const billing = await billAcceptedMany(trx, organizationId, [...sending.values()], now);
      const moved = await transitionBatch(trx, {
        perEvent: {
          provider_message_id: "text",
          telnyx_id: "text",
          sent_at: "bigint",
          billing_status: "text",
          billable_micros: "bigint",
        },
        items: batch.map((i) => {
          const event = sending.get(outcomes[i]!.id)!;
          const result = outcomes[i]!.result as AcceptedResult;
          return {
            event,
            changes: {
              ...this.acceptedChanges(event, result, now),
              // Every item sets both (an event billed already keeps its values).
              billing_status: event.billing_status,
              billable_micros: event.billable_micros,
              ...billing.get(event.id),
            },
            log: this.acceptedLog(event, result),
          };
        }),
        at: now,
      });
      const movedIds = new Set(moved.map((e) => e.id));
      for (const i of batch) done[i] = movedIds.has(outcomes[i]!.id);
    }
    const refusedIn: ConversationsToRestick = new Map();
    for (const [i, o] of outcomes.entries()) {
      done[i] ??= await this.recordResult(trx, o, refusedIn);
    }
    // Once every message is locked, as a claim restores the conversations it blocked in (round).
    await restickConversations(trx, refusedIn);
    // A probe the provider took: the operator problem is fixed; the messages waiting for it go now.
    for (const o of outcomes) {
      const scopes = o.result.kind === "accepted" ? this.probes.get(o.id) : undefined;
      if (scopes) await closeBreakers(trx, scopes, now);
    }
    return done;
  }

  /** What an accepted send changes on a message that was Sending (billing aside). */
  private acceptedChanges(event: EventRow, result: AcceptedResult, now: number): Partial<EventRow> {
    return {
      provider_message_id: event.provider_message_id ?? result.providerMessageId,
      telnyx_id: event.telnyx_id ?? result.telnyxId ?? null,
      provider: this.options.provider.name,
      status: "Sent",
      sent_at: event.sent_at ?? now,
      next_attempt_at: null,
      error_code: null,
      error_message: null,
      // A retry's or a reconcile's reason no longer applies.
      status_reason: null,
      failed_at: null,
    };
  }

  /**
   * The log entry of an accepted send. When the provider splits an SMS into another number of parts
   * than we counted, it says so: the message stays billed as counted (the price the wallet check
   * held and the sender saw), and the operator can see the provider's count to reconcile.
   */
  private acceptedLog(event: EventRow, result: AcceptedResult) {
    const accepted = `Accepted by ${this.options.provider.name} as ${result.providerMessageId}.`;
    const counted = event.segments ?? 1;
    const differs = result.parts !== undefined && event.activity_type !== "Mms" && result.parts !== counted;
    return {
      stage: "provider",
      message: differs
        ? `${accepted} It reports ${plural(result.parts!, "part")}; billed as the ${plural(counted, "segment")} counted when queued.`
        : accepted,
    };
  }

  private async recordResult(
    trx: Transaction<Database>,
    outcome: Outcome,
    /** Gets the conversation of a message refused at the call (its sticky sender is restored). */
    refusedIn: ConversationsToRestick,
  ): Promise<boolean> {
    const { organizationId, id, result } = outcome;
    const optedOut = isOptOutAnswer(result);
    // Before the message, in the order a lead's update locks them (provider-opt-out.ts).
    const leads = optedOut ? await lockLeadsAtRecipient(trx, organizationId, outcome.to) : [];
    const event = await lockEvent(trx, { organizationId, id });
    if (!event) return true;
    const now = this.now();
    if (result.kind === "accepted") {
      const ids = {
        provider_message_id: event.provider_message_id ?? result.providerMessageId,
        telnyx_id: event.telnyx_id ?? result.telnyxId ?? null,
        provider: this.options.provider.name,
      };
      // Any other Failed came from a failure receipt that overtook this answer: it stands.
      if (event.status === "Sending" || isReconciledUnknown(event)) {
        const changes = {
          ...this.acceptedChanges(event, result, now),
          ...(await billAccepted(trx, event, now)),
        };
        return (await transition(trx, event, changes, this.acceptedLog(event, result), now)) !== undefined;
      }
      // A receipt got here first (e.g. delivered before the send call returned): fill in, never move
      // back. The send happened before that outcome, whatever our clock says now.
      const fill: Partial<EventRow> = {
        ...ids,
        sent_at:
          event.sent_at ??
          (isAcceptedByProvider(event.status ?? "") ? sentAtNoLaterThanOutcome(now, event) : null),
      };
      await trx
        .updateTable("events")
        .set(fill)
        .where("organization_id", "=", organizationId)
        .where("id", "=", id)
        .execute();
      const log = this.acceptedLog(event, result);
      await logIgnored(
        trx,
        event,
        "Sent",
        { ...log, message: `${log.message} Ignored: the message is already ${event.status}.` },
        now,
      );
      return true;
    }
    // A message the reconcile gave up on was never known to have failed: an answer that the provider
    // did not take it (retry) or refused it is news, as an acceptance is above. One that says
    // nothing leaves it as it is.
    const answersReconciled = result.kind !== "unknown" && isReconciledUnknown(event);
    if (event.status !== "Sending" && !answersReconciled) return true;
    if (result.kind === "unknown") {
      return (
        (await transition(
          trx,
          event,
          {
            error_code: result.errorCode,
            error_message: result.errorMessage,
            status_reason: unknownOutcomeReason(result.errorCode, result.errorMessage),
          },
          {
            stage: "provider",
            message: `No clear answer from the provider (${result.errorCode}); not resent, as it may have gone out: left Sending for its receipts or the reconcile deadline.`,
          },
          now,
        )) !== undefined
      );
    }
    const operator = result.kind === "transient" ? result.operatorAction : undefined;
    const waitHours = this.options.config.operatorWaitHours;
    if (result.kind === "transient" && operator !== undefined) {
      // The deployment's problem, not this message's: it spends no retry; it waits, while the
      // breaker keeps the others of its scope from the provider, until it is fixed or it waited
      // LEADTRAIL_OPERATOR_WAIT_HOURS (then it fails below).
      const breaker = await recordOperatorRefusal(
        trx,
        refusalScope(result.operatorScope, event.from_phone_number),
        { errorCode: result.errorCode, errorMessage: result.errorMessage, action: operator },
        this.probes.has(id),
        now,
      );
      const since = event.operator_wait_since ?? now;
      if (now - since < waitHours * 3_600_000) {
        const next = Math.min(Math.max(now, breaker.probe_at), since + waitHours * 3_600_000);
        return (
          (await transition(
            trx,
            event,
            {
              status: "Queued",
              failed_at: null,
              operator_wait_since: since,
              next_retry_at: next,
              next_attempt_at: next,
              error_code: result.errorCode,
              error_message: result.errorMessage,
              status_reason: operatorWaitReason(
                result.errorCode,
                result.errorMessage,
                operator,
                since + waitHours * 3_600_000,
              ),
            },
            {
              stage: "retry",
              message: `Provider refused our account or settings (${result.errorCode}): ${operator} Waiting, no retry spent; only a probe goes until it is fixed, next at ${new Date(next).toISOString()}.`,
            },
            now,
          )) !== undefined
        );
      }
    }
    const attempts = event.retry_count + 1;
    if (
      result.kind === "transient" &&
      operator === undefined &&
      attempts <= this.options.config.retryMaxAttempts
    ) {
      // Never sooner than the provider asked: a retry it would refuse again spends an attempt for nothing.
      const askedMs = Math.min(result.retryAfterMs ?? 0, MAX_RETRY_DELAY_MS);
      const nextRetryAt =
        now + Math.max(retryDelayMs(attempts, this.options.config.retryBaseSeconds), askedMs);
      return (
        (await transition(
          trx,
          event,
          {
            status: "Queued",
            // Set when a reconcile gave up on it before this answer came.
            failed_at: null,
            retry_count: attempts,
            next_retry_at: nextRetryAt,
            next_attempt_at: nextRetryAt,
            error_code: result.errorCode,
            error_message: result.errorMessage,
            status_reason: retryingReason(
              result.errorCode,
              result.errorMessage,
              attempts,
              this.options.config.retryMaxAttempts,
            ),
          },
          {
            stage: "retry",
            message: `Transient provider error ${result.errorCode}; retry ${attempts} at ${new Date(nextRetryAt).toISOString()}.`,
          },
          now,
        )) !== undefined
      );
    }
    // Not when they opted back in since it was handed over (provider-opt-out.ts): START is their last word.
    const suppresses = optedOut && !(await optedInSinceHandedOver(trx, event));
    const updated = await transition(
      trx,
      event,
      {
        status: "Failed",
        failed_at: now,
        error_code: result.errorCode,
        error_message: result.errorMessage,
        status_reason:
          operator !== undefined
            ? operatorGaveUpReason(result.errorCode, result.errorMessage, operator, waitHours)
            : result.kind === "transient"
              ? gaveUpReason(result.errorCode, result.errorMessage, event.retry_count)
              : rejectedReason(result.errorCode, result.errorMessage),
        next_attempt_at: null,
        next_retry_at: null,
        billing_status: "NotBilled",
        ...(result.kind === "transient" ? { retry_count: event.retry_count } : {}),
      },
      {
        stage: "provider",
        message:
          operator !== undefined
            ? `Gave up: the provider refused our account or settings (${result.errorCode}) for ${waitHours} h.`
            : result.kind === "transient"
              ? `Gave up after ${event.retry_count} retries: ${result.errorCode}.`
              : `Rejected by the provider: ${result.errorCode}.${optedOut ? optOutNote(suppresses) : ""}`,
      },
      now,
    );
    // In this transaction, so the refusal is never recorded without the suppression (provider-opt-out.ts).
    if (updated && suppresses) {
      await suppressOptedOutRecipient(
        trx,
        updated,
        leads,
        {
          provider: this.options.provider.name,
          errorCode: result.errorCode,
          errorMessage: result.errorMessage,
        },
        now,
      );
    }
    // The person received nothing: they still know the number the conversation wrote from before.
    if (updated && refusedAtTheCall(updated)) addConversationToRestick(refusedIn, updated);
    // A recipient who opted out at the provider is no fault of the sender, nor is our account's
    // problem: neither is counted against it.
    if (updated && event.from_phone_number_id && !optedOut && operator === undefined)
      await recordOutcome(trx, organizationId, event.from_phone_number_id, "failed", now);
    return updated !== undefined;
  }
}

export type { Db };
