import { randomUUID } from "node:crypto";
import type {
  OutboundMessage,
  Provider,
  ProviderEvents,
  Receipt,
  SendResult,
  UnsettledMessage,
} from "../provider.js";

// A provider that needs no network: it decides by the recipient's last four digits (README), and
// sends its receipts back through the same path a real provider's webhooks take.
//   0400 undeliverable · 0500 two transient errors, then delivered · 0600 permanent failure
//   0700 delivered receipt before the sent confirmation · 0800 delivered receipt twice
//   0900 a failure receipt before the send confirmation (accepted, then it could not send it)
//   anything else: delivered shortly after sending
// Its receipts wait in memory. A process killed (or a machine restarted) before it delivered them
// would leave those messages Sent for good, so a new worker is given the simulator's Sent messages
// and delivers their final receipt again (owedReceipts). Several workers on one PostgreSQL each do,
// which can deliver a receipt twice: receipts are idempotent, as a real provider's retries need.

const ID_PREFIX = "sim_";

type ReceiptKind = Receipt["kind"];
type ReceiptDetail = { errorCode?: string; errorMessage?: string };

/** The receipt that settles an accepted message of this scenario (the last one it sends). */
function finalReceipt(scenario: string): [ReceiptKind, ReceiptDetail] {
  return scenario === "0400" ? ["undeliverable", { errorCode: "30003" }] : ["delivered", {}];
}

export class SimulatorProvider implements Provider {
  readonly name = "simulator" as const;
  private readonly attempts = new Map<string, number>();
  /** Receipts not delivered yet, by their timer. */
  private readonly pending = new Map<NodeJS.Timeout, () => Promise<void>>();
  /** Receipts whose delivery has started and is not applied yet. */
  private readonly delivering = new Set<Promise<void>>();

  constructor(
    private readonly events: ProviderEvents,
    private readonly receiptDelayMs = 20,
  ) {}

  readonly owedReceipts = {
    providerIdPrefix: ID_PREFIX,
    resume: (messages: UnsettledMessage[]): void => {
      for (const message of messages) {
        const [kind, detail] = finalReceipt(message.to.slice(-4));
        const receipt = receiptOf(message, message.providerMessageId);
        this.later(() => this.events.receipt(receipt(kind, detail)));
      }
    },
  };

  async send(message: OutboundMessage): Promise<SendResult> {
    const scenario = message.to.slice(-4);
    const providerMessageId = `${ID_PREFIX}${randomUUID()}`;
    const receipt = receiptOf(message, providerMessageId);
    switch (scenario) {
      case "0500": {
        const attempt = (this.attempts.get(message.eventId) ?? 0) + 1;
        this.attempts.set(message.eventId, attempt);
        if (attempt <= 2)
          return { kind: "transient", errorCode: "503", errorMessage: "Simulated provider outage." };
        this.attempts.delete(message.eventId);
        this.later(() => this.events.receipt(receipt("delivered")));
        return { kind: "accepted", providerMessageId };
      }
      case "0600":
        // Telnyx's "not routable" (a landline): a refusal for good that says nothing of consent, as
        // its 40300 (the recipient opted out, which suppresses them) would.
        return { kind: "permanent", errorCode: "40001", errorMessage: "Simulated permanent rejection." };
      case "0400": {
        const [kind, detail] = finalReceipt(scenario);
        this.later(() => this.events.receipt(receipt(kind, detail)));
        return { kind: "accepted", providerMessageId };
      }
      case "0700":
        // The delivery receipt overtakes the send confirmation.
        await this.events.receipt(receipt("delivered"));
        this.later(() => this.events.receipt(receipt("sent")));
        return { kind: "accepted", providerMessageId };
      case "0900":
        // Its failure receipt overtakes the send confirmation: the failure stands.
        await this.events.receipt(
          receipt("failed", { errorCode: "40001", errorMessage: "Simulated sending failure." }),
        );
        return { kind: "accepted", providerMessageId };
      case "0800":
        this.later(async () => {
          await this.events.receipt(receipt("delivered"));
          await this.events.receipt(receipt("delivered"));
        });
        return { kind: "accepted", providerMessageId };
      default:
        this.later(() => this.events.receipt(receipt("delivered")));
        return { kind: "accepted", providerMessageId };
    }
  }

  private later(work: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      this.deliver(work);
    }, this.receiptDelayMs);
    this.pending.set(timer, work);
  }

  /** Runs a receipt's delivery, remembered until it has been applied. */
  private deliver(work: () => Promise<void>): Promise<void> {
    const delivery = work()
      .catch((error) => console.error("simulator receipt:", error))
      .finally(() => this.delivering.delete(delivery));
    this.delivering.add(delivery);
    return delivery;
  }

  /**
   * Delivers the receipts still owed at once, and waits for those already on their way to be
   * applied, as a real provider would deliver them after we stop: dropping them would leave those
   * messages Sent for good (the reconcile only settles Sending). The pipeline closes its provider
   * before its database.
   */
  async close(): Promise<void> {
    const pending = [...this.pending];
    this.pending.clear();
    for (const [timer, work] of pending) {
      clearTimeout(timer);
      this.deliver(work);
    }
    while (this.delivering.size > 0) await Promise.all([...this.delivering]);
  }
}

/** Builds the receipts of one message, stamped when built. */
function receiptOf(message: { organizationId: string; eventId: string }, providerMessageId: string) {
  return (kind: ReceiptKind, detail: ReceiptDetail = {}): Receipt => ({
    eventId: message.eventId,
    organizationId: message.organizationId,
    providerMessageId,
    kind,
    occurredAt: Date.now(),
    ...detail,
  });
}
