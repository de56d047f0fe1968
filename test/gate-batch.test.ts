import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { insertEvent } from "../src/store/events-repo.js";
import type { EventRow, PhoneNumberRow } from "../src/store/schema.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import {
  addLead,
  addSenderNumber,
  addSuppression,
  clockedWorker,
  outboundSmsRow,
} from "./helpers/messaging.js";

// The gate's blocks and reconciles are written for the whole claim at once, like its quiet-hours
// deferrals (quiet-hours-deferral.test.ts): an empty wallet or a sender turned off blocks every
// message of a batch. Each message keeps its own status, reason and log entry, and the
// conversation's sticky sender is restored from what was written.

/** The next 18:00 UTC: daytime in Chicago (12:00 or 13:00), the recipients' zone (area code 312). */
function dayInTheUs(): number {
  const at = new Date();
  at.setUTCHours(18, 0, 0, 0);
  return at.getTime() > Date.now() ? at.getTime() : at.getTime() + 86_400_000;
}

const SUPPRESSED = "+13125550120";

forEachEngine("gate outcomes in one batch", (engine) => {
  let api: TestApi;
  let sender: PhoneNumberRow;
  let noCampaign: PhoneNumberRow;
  before(async () => {
    api = await startTestApi(engine); // no worker of its own: only the one below claims
    sender = await addSenderNumber(api);
    noCampaign = await addSenderNumber(api, {
      id: "pn_01HZZZZZZZZZZZZZZZZZZZNOCMP",
      number: "+14155550101",
      ten_dlc_campaign_id: null,
      is_default: 0,
    });
    await addSuppression(api, "sup_01HZZZZZZZZZZZZZZZZZZZZZZ1", SUPPRESSED);
  });
  after(() => api.close());

  test("a claim's blocks and reconciles take as many statements for twelve messages as for four, each with its own outcome", async () => {
    const day = dayInTheUs();
    const { worker, reset, statements } = clockedWorker(api, engine, () => day);
    const { conversationId } = await addLead(api, "+13125550129", { timeZoneId: "America/Chicago" });
    const queued = (from: PhoneNumberRow, to: string, fields: Partial<EventRow> = {}) =>
      insertEvent(
        api.db.store.db,
        outboundSmsRow(
          api.org,
          {
            status: "Queued",
            traffic_type: "RealLead",
            conversation_id: conversationId,
            from_phone_number_id: from.id,
            from_phone_number: from.number,
            to_phone_number: to,
            body: "Your quote is ready.",
            price_micros: 7900,
            segments: 1,
            queued_at: Date.now() - 10_000,
            next_attempt_at: Date.now() - 1,
            ...fields,
          },
          Date.now() - 10_000,
        ),
      );
    let round = 0;
    /** Claims `count` messages of each kind in one round and checks what each became. */
    const gateRound = async (count: number) => {
      round++;
      const kinds: { id: string; expect: (e: Record<string, unknown>) => void; log: [string, string] }[] = [];
      for (let i = 0; i < count; i++) {
        const reconciled = await queued(sender, "+13125550123", {
          status: "Sending",
          sending_started_at: Date.now() - 9_000,
        });
        kinds.push({
          id: reconciled.id,
          expect: (e) => {
            assert.equal(e.status, "Failed");
            assert.equal(e.errorCode, "ProviderOutcomeUnknown");
            assert.equal(e.failedAt, new Date(day).toISOString());
            assert.equal(e.billingStatus, "NotBilled");
          },
          log: ["Failed", "No outcome from the provider in time; not resent."],
        });
        const suppressed = await queued(sender, SUPPRESSED);
        kinds.push({
          id: suppressed.id,
          expect: (e) => {
            assert.equal(e.status, "Blocked");
            assert.equal(e.complianceAction, "Suppressed");
            assert.equal(e.statusReason, "Recipient opted out or is suppressed.");
            assert.equal(e.billingStatus, "NotBilled");
          },
          log: ["Blocked", "Blocked: the recipient is suppressed."],
        });
        const uncampaigned = await queued(noCampaign, "+13125550121");
        kinds.push({
          id: uncampaigned.id,
          expect: (e) => {
            assert.equal(e.status, "Blocked");
            assert.equal(e.complianceAction, "MissingTenDlcCampaign");
            assert.match(String(e.statusReason), /^The sender number has no 10DLC campaign/);
            assert.equal(e.billingStatus, "NotBilled");
          },
          log: ["Blocked", "Blocked: US/Canada recipient and a sender without a 10DLC campaign."],
        });
        const unaffordable = await queued(sender, "+13125550122", { price_micros: 1_000_000_000_000 });
        kinds.push({
          id: unaffordable.id,
          expect: (e) => {
            assert.equal(e.status, "Blocked");
            assert.equal(e.complianceAction, null);
            assert.equal(e.statusReason, "The wallet balance is below the message price.");
            assert.equal(e.billingStatus, "InsufficientFunds");
          },
          log: ["Blocked", "Blocked: insufficient funds."],
        });
      }
      // The sticky sender is the number of a blocked message: it goes back to the reconciled ones'.
      await api.db.store.db
        .updateTable("conversations")
        .set({ last_phone_number_id: noCampaign.id })
        .where("id", "=", conversationId)
        .execute();
      reset();
      assert.equal(await worker.runOnce(), 4 * count, `round ${round}`);
      const used = statements();
      for (const { id, expect, log } of kinds) {
        const event = (await api.call("GET", `/events/${id}`)).json();
        expect(event);
        if (event.status === "Blocked") assert.equal(event.blockedAt, new Date(day).toISOString());
        const detail = (await api.call("GET", `/events/detail/${id}`)).json();
        const last = detail.transitions.at(-1) as { toStatus: string; message: string };
        assert.deepEqual([last.toStatus, last.message], log);
        assert.equal(detail.transitions.length, 2);
      }
      const conversation = await api.db.store.db
        .selectFrom("conversations")
        .select("last_phone_number_id")
        .where("id", "=", conversationId)
        .executeTakeFirstOrThrow();
      assert.equal(conversation.last_phone_number_id, sender.id);
      return used;
    };
    assert.equal(await gateRound(3), await gateRound(1));
  });
});
