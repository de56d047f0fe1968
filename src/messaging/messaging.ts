import type { Kysely } from "kysely";
import type { MessagingConfig } from "../config.js";
import { RecentSenderChoices } from "../services/recent-senders.js";
import { BatchQueue } from "../store/batch-queue.js";
import type { Engine } from "../store/database.js";
import { GroupCommit, plainTransact, type Transact } from "../store/group-commit.js";
import type { Database, EventRow } from "../store/schema.js";
import type { Prices } from "./billing.js";
import { handleInbound, type InboundOutcome } from "./inbound.js";
import type { InboundMessage, Provider, ProviderEvents, Receipt } from "./provider.js";
import { isOptOutReceipt } from "./provider-opt-out.js";
import { type LookupRound, lookUpReceipts, RECEIPT_LOOKUP_INTERVAL_MS } from "./receipt-lookup.js";
import { applyReceiptIn, applyReceiptsIn, retryReceipt } from "./receipts.js";
import { type QueuedSend, queueOutboundMany } from "./send.js";
import { unsettledSends } from "./unsettled-sends.js";
import { runWarmupTick } from "./warmup.js";
import { Worker } from "./worker.js";

/**
 * The messaging engine of one process: where provider receipts and inbound messages land, and
 * (when started) the worker that sends. `leadtrail serve` starts one in-process; `leadtrail worker`
 * runs one alone.
 */
export class Messaging implements ProviderEvents {
  private worker: Worker | null = null;
  private warmupTimer: NodeJS.Timeout | null = null;
  private receiptLookupTimer: NodeJS.Timeout | null = null;
  /** The receipt lookup's round under way (stop waits for it). */
  private lookingUp: Promise<unknown> = Promise.resolve();
  /** The look-up of receipts an earlier process owed (see Provider.owedReceipts), until done. */
  private resuming: Promise<void> = Promise.resolve();
  provider: Provider | null = null;
  /** Writes of this process that arrive together share one transaction (store/group-commit.ts). */
  readonly transact: Transact;
  /** A transaction of its own, for the writes that must not share one (see applyReceipt). */
  private readonly alone: Transact;
  /**
   * How new outbound messages (POST /sms/send) are written: those that arrive together in one batch
   * (queueOutboundMany). On PostgreSQL they have a group commit of their own, so they do not wait in
   * line behind outcomes and receipts: a group runs its units' statements one round trip after
   * another. The two touch disjoint rows (new events, conversations and senders' last use vs.
   * existing events, wallets, ledger and health), so they cannot deadlock. SQLite has one writer
   * and one connection anyway: there, one shared group means fewer commits.
   */
  private readonly sends: BatchQueue<QueuedSend, EventRow>;

  constructor(
    readonly db: Kysely<Database>,
    readonly engine: Engine,
    readonly config: MessagingConfig,
  ) {
    this.transact = new GroupCommit(db).transact;
    this.alone = plainTransact(db);
    this.sends = new BatchQueue(
      engine === "postgresql" ? new GroupCommit(db).transact : this.transact,
      queueOutboundMany,
    );
  }

  async prices(organizationId: string): Promise<Prices> {
    const org = await this.db
      .selectFrom("organizations")
      .select(["price_segment_micros", "price_mms_micros"])
      .where("id", "=", organizationId)
      .executeTakeFirst();
    return { segmentMicros: org?.price_segment_micros ?? 7900, mmsMicros: org?.price_mms_micros ?? 20000 };
  }

  /** The senders this process chose for new messages (a burst spreads over the pool). */
  readonly recentSenders = new RecentSenderChoices();

  /** Writes a new outbound message (see `sends`). */
  readonly queueSend = (send: QueuedSend): Promise<EventRow> => this.sends.submit(send);

  /** Receipts that arrive together are applied together (see applyReceiptsIn). */
  private readonly receipts = new BatchQueue((work) => this.transact(work), applyReceiptsIn);

  async receipt(receipt: Receipt): Promise<void> {
    await this.applyReceipt(receipt);
  }

  async inbound(message: InboundMessage): Promise<void> {
    const outcome = await this.handleInbound(message);
    if (outcome?.reply) this.poke();
  }

  handleInbound(message: InboundMessage): Promise<InboundOutcome | undefined> {
    return handleInbound(this.db, message, (org) => this.prices(org), this.config.keywordReplies);
  }

  applyReceipt(receipt: Receipt): Promise<EventRow | undefined> {
    // A refusal because the recipient opted out locks their leads before its message: alone, not
    // after a group's other receipts and outcomes have locked theirs (provider-opt-out.ts).
    if (isOptOutReceipt(receipt)) {
      return retryReceipt(receipt, () => this.alone((trx) => applyReceiptIn(trx, receipt)));
    }
    return retryReceipt(receipt, () => this.receipts.submit(receipt));
  }

  /** Starts sending through `provider` (omit to only accept receipts and inbound messages). */
  startWorker(provider: Provider, options: { pollMs?: number; batchSize?: number } = {}): Worker {
    this.provider = provider;
    this.worker = new Worker(this.db, {
      engine: this.engine,
      config: this.config,
      provider,
      transact: this.transact,
      ...options,
    });
    this.worker.start();
    const owed = provider.owedReceipts;
    if (owed) {
      this.resuming = unsettledSends(this.db, owed.providerIdPrefix)
        .then((messages) => owed.resume(messages))
        .catch((error) => console.error("leadtrail: resuming the provider's receipts:", error));
    }
    if (provider.lookUp) {
      this.receiptLookupTimer = setInterval(() => {
        this.lookingUp = this.lookUpReceipts().catch((error) =>
          console.error("leadtrail: looking up receipts:", error),
        );
      }, RECEIPT_LOOKUP_INTERVAL_MS);
      this.receiptLookupTimer.unref();
    }
    if (this.config.warmupTickSeconds > 0) {
      this.warmupTimer = setInterval(() => {
        this.warmupTick().catch((error) => console.error("leadtrail warmup:", error));
      }, this.config.warmupTickSeconds * 1000);
      this.warmupTimer.unref();
    }
    return this.worker;
  }

  /** Queues the warmup messages that are due (see messaging/warmup.ts). */
  async warmupTick(now: number = Date.now()): Promise<EventRow[]> {
    const queued = await runWarmupTick(this.db, (org) => this.prices(org), this.config.quietHours, now);
    if (queued.length > 0) this.poke();
    return queued;
  }

  /** Asks the provider for the messages left Sent without a final receipt (receipt-lookup.ts). */
  lookUpReceipts(now: number = Date.now()): Promise<LookupRound> {
    if (!this.provider) return Promise.resolve({ asked: 0, settled: 0 });
    return lookUpReceipts(
      this.db,
      this.engine,
      this.provider,
      (r) => this.applyReceipt(r),
      now,
      this.config.receiptLookupAfterMs,
    );
  }

  /** Wakes the local worker after new work was queued. */
  poke(): void {
    this.worker?.poke();
  }

  /** Stops the worker (see Worker.stop: its calls in flight are waited for `graceMs` at most). */
  async stop(graceMs?: number): Promise<void> {
    if (this.warmupTimer) clearInterval(this.warmupTimer);
    if (this.receiptLookupTimer) clearInterval(this.receiptLookupTimer);
    await this.lookingUp;
    await this.worker?.stop(graceMs);
    await this.resuming;
    await this.provider?.close();
  }
}
