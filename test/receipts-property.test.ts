import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { ACTIVITY_CATEGORY } from "../src/domain/event-vocabulary.js";
import type { ReceiptKind } from "../src/domain/message-status.js";
import type { Receipt } from "../src/messaging/provider.js";
import { applyReceipt, applyReceiptsIn, retryReceipt } from "../src/messaging/receipts.js";
import { BatchQueue } from "../src/store/batch-queue.js";
import { createWallet } from "../src/store/billing-repo.js";
import { insertEvent, newEventRow } from "../src/store/events-repo.js";
import { GroupCommit } from "../src/store/group-commit.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import { forEachEngine, openTestDatabase, type TestDatabase } from "./helpers/engines.js";

const KINDS: ReceiptKind[] = ["sent", "delivered", "undeliverable", "failed"];
const BASE = Date.parse("2025-06-01T12:00:00Z");
/** Each kind of receipt happened at one moment; duplicates repeat it exactly. */
const OCCURRED: Record<ReceiptKind, number> = {
  sent: BASE + 100,
  undeliverable: BASE + 900,
  failed: BASE + 800,
  delivered: BASE + 1000,
};

forEachEngine("receipts: any order and repetition ends in the same state", (engine) => {
  let tdb: TestDatabase;
  let org: { organizationId: string; userId: string };
  before(async () => {
    tdb = await openTestDatabase(engine);
    org = await createOrganization(tdb.store.db, "Receipts");
    await createWallet(tdb.store.db, org.organizationId, 1_000_000_000);
  });
  after(() => tdb.cleanup());

  const newSendingMessage = async () =>
    insertEvent(
      tdb.store.db,
      newEventRow({
        organization_id: org.organizationId,
        event_type: "SmsOutbound",
        activity_type: "Sms",
        activity_category: ACTIVITY_CATEGORY.Sms,
        description: "Outbound SMS.",
        direction: "outbound",
        status: "Sending",
        traffic_type: "RealLead",
        price_micros: 7900,
        segments: 1,
        queued_at: BASE,
        sending_started_at: BASE + 10,
        next_attempt_at: BASE + 300_000,
        created_by: org.userId,
        created_at: BASE,
      }),
    );

  const finalState = async (id: string) => {
    const row = await tdb.store.db
      .selectFrom("events")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    const ledger = await tdb.store.db
      .selectFrom("usage_ledger")
      .select(["amount_micros"])
      .where("event_id", "=", id)
      .execute();
    const {
      status,
      sent_at,
      delivered_at,
      undeliverable_at,
      failed_at,
      error_code,
      billing_status,
      billable_micros,
      next_attempt_at,
      provider_message_id,
    } = row;
    return {
      status,
      sent_at,
      delivered_at,
      undeliverable_at,
      failed_at,
      error_code,
      billing_status,
      billable_micros,
      next_attempt_at,
      provider_message_id,
      // Net: an order with a refund and a charge again ends with the same charge as one without.
      charged: ledger.reduce((total, l) => total + Number(l.amount_micros), 0),
    };
  };

  const receipt = (id: string, kind: ReceiptKind): Receipt => ({
    eventId: id,
    organizationId: org.organizationId,
    providerMessageId: "prov-1",
    kind,
    occurredAt: OCCURRED[kind],
    errorCode: kind === "undeliverable" ? "30003" : kind === "failed" ? "30008" : null,
  });

  const apply = async (id: string, kinds: ReceiptKind[]) => {
    for (const kind of kinds) await applyReceipt(tdb.store.db, receipt(id, kind));
  };

  /** All at once, as a process's receipts arrive together: batched like Messaging does. */
  const applyTogether = async (ids: string[], kinds: ReceiptKind[]) => {
    const queue = new BatchQueue(new GroupCommit(tdb.store.db).transact, applyReceiptsIn);
    await Promise.all(
      ids.flatMap((id) =>
        kinds.map((kind) => retryReceipt(receipt(id, kind), () => queue.submit(receipt(id, kind)))),
      ),
    );
  };

  test("property", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(KINDS, { minLength: 1 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        async (kinds, picks) => {
          // A random sequence over the chosen kinds with every kind at least once, repeats allowed.
          const sequence = [...kinds, ...picks.map((p) => kinds[p % kinds.length]!)];
          const shuffled = sequence
            .map((k, i) => ({ k, r: (picks[i % picks.length]! * 7919 + i * 31) % 101 }))
            .sort((a, b) => a.r - b.r)
            .map((x) => x.k);
          const inOrder = await newSendingMessage();
          await apply(
            inOrder.id,
            [...kinds].sort((a, b) => KINDS.indexOf(a) - KINDS.indexOf(b)),
          );
          const scrambled = await newSendingMessage();
          await apply(scrambled.id, shuffled);
          assert.deepEqual(
            await finalState(scrambled.id),
            await finalState(inOrder.id),
            `order ${shuffled.join(",")}`,
          );
          // Accepted messages whose receipts arrive all together (the batched path): the same end.
          const withSent = [...new Set<ReceiptKind>(["sent", ...kinds])].sort(
            (a, b) => KINDS.indexOf(a) - KINDS.indexOf(b),
          );
          const reference = await newSendingMessage();
          await apply(reference.id, withSent);
          const together = [await newSendingMessage(), await newSendingMessage()];
          for (const message of together) await apply(message.id, ["sent"]);
          await applyTogether(
            together.map((m) => m.id),
            shuffled,
          );
          for (const message of together) {
            assert.deepEqual(
              await finalState(message.id),
              await finalState(reference.id),
              `together ${shuffled.join(",")}`,
            );
          }
        },
      ),
      { numRuns: engine === "sqlite" ? 60 : 30 },
    );
  });

  test("Delivered stays Delivered; billed exactly once", async () => {
    const message = await newSendingMessage();
    await apply(message.id, ["delivered", "sent", "failed", "undeliverable", "delivered", "sent"]);
    const state = await finalState(message.id);
    assert.equal(state.status, "Delivered");
    assert.equal(state.sent_at, OCCURRED.sent);
    assert.equal(state.delivered_at, OCCURRED.delivered);
    assert.equal(state.failed_at, null);
    assert.equal(state.charged, 7900);
    const lines = await tdb.store.db
      .selectFrom("usage_ledger")
      .select("status")
      .where("event_id", "=", message.id)
      .execute();
    assert.deepEqual(lines, [{ status: "charged" }], "one charge, never refunded");
    assert.equal(state.billing_status, "Billed");
    assert.equal(state.next_attempt_at, null, "no reconcile left pending");
  });
});
