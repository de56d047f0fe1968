import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { localMinutes } from "../src/domain/quiet-hours.js";
import { createWallet } from "../src/store/billing-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import {
  addLead,
  addSenderNumber,
  addSuppression,
  type EventJson,
  isFinal,
  startSimulator,
  until,
  waitForEvent,
} from "./helpers/messaging.js";

/** A fixed-offset zone where the local hour is now within [from, to]. */
function zoneWithLocalHour(from: number, to: number): string {
  const hour = new Date().getUTCHours();
  for (let offset = -11; offset <= 12; offset++) {
    const local = (hour + offset + 24) % 24;
    if (local >= from && local <= to)
      return offset === 0 ? "Etc/GMT" : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
  }
  throw new Error("unreachable");
}
/** Inside 21:00-08:00 quiet hours, far from either edge. */
const zoneInTheNight = () => zoneWithLocalHour(2, 5);
/** Outside quiet hours, far from either edge. */
const DAYTIME = zoneWithLocalHour(11, 15);

forEachEngine("SMS compliance gate", (engine) => {
  let api: TestApi;
  let main: { id: string; number: string };
  before(async () => {
    api = await startTestApi(engine, {
      env: { LEADTRAIL_QUIET_HOURS: "21:00-08:00", LEADTRAIL_RETRY_BASE_SECONDS: "0.01" },
    });
    main = await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    startSimulator(api);
  });
  after(() => api.close());

  const sendTo = async (
    phone: string,
    contact: Record<string, unknown> = {},
    body: Record<string, unknown> = {},
  ) => {
    const { conversationId } = await addLead(api, phone, contact);
    const res = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Checking in about your quote.",
      ...body,
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json();
  };

  test("a suppressed recipient is Blocked with complianceAction Suppressed, not billed", async () => {
    await addSuppression(api, "sup_01HZZZZZZZZZZZZZZZZZZZZZZ1", "+13125550120");
    const sms = await sendTo("+13125550120", { timeZoneId: DAYTIME });
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Blocked");
    assert.ok(done.blockedAt);
    assert.equal(done.complianceAction, "Suppressed");
    assert.equal(done.billingStatus, "NotBilled");
    assert.equal(done.sendingStartedAt, null);
    const smsView = (await api.call("GET", `/events/sms/${sms.id}`)).json();
    assert.equal(smsView.status, "blocked_compliance");
  });

  test("a lead the client recorded as opted out of SMS (metadata.smsOptedOut) is Blocked Suppressed", async () => {
    const lead = await api.call("POST", "/leads", {
      contact: { firstName: "Pat", phone: { number: "+13125550130" }, timeZoneId: DAYTIME },
      metadata: { smsOptedOut: true, smsOptOutAt: "2026-10-01T12:00:00Z" },
    });
    assert.equal(lead.statusCode, 201, lead.body);
    assert.equal(lead.json().metadata.smsOptedOut, true);
    const conversationId = (await api.call("POST", `/conversations/lead/${lead.json().id}`, {})).json()
      .items[0].id;
    const send = async () => {
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Checking in." });
      assert.equal(res.statusCode, 201, res.body);
      return waitForEvent(api, res.json().id, isFinal);
    };
    const blocked = await send();
    assert.equal(blocked.status, "Blocked", JSON.stringify(blocked));
    assert.equal(blocked.complianceAction, "Suppressed");
    assert.equal(blocked.billingStatus, "NotBilled");
    assert.equal(blocked.sendingStartedAt, null);
    assert.ok(blocked.statusReason);
    // Once the client records the lead as opted in again, messages go.
    const put = await api.call("PUT", `/leads/${lead.json().id}`, {
      contact: { firstName: "Pat", phone: { number: "+13125550130" }, timeZoneId: DAYTIME },
      metadata: { smsOptedOut: false },
    });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal((await send()).status, "Delivered");
  });

  test("a lead recorded as opted out blocks messages to its phone under another lead (a repeat delivery of the person)", async () => {
    const phone = "+13125550131";
    const optedOut = await api.call("POST", "/leads", {
      contact: { firstName: "Pat", phone: { number: phone }, timeZoneId: DAYTIME },
      metadata: { smsOptedOut: true },
    });
    assert.equal(optedOut.statusCode, 201, optedOut.body);
    const repeat = await api.call("POST", "/leads", {
      contact: {
        firstName: "Pat (repeat delivery)",
        phone: { number: "(312) 555-0131" },
        timeZoneId: DAYTIME,
      },
    });
    assert.equal(repeat.statusCode, 201, repeat.body);
    const conversationId = (await api.call("POST", `/conversations/lead/${repeat.json().id}`, {})).json()
      .items[0].id;
    const res = await api.call("POST", "/sms/send", { conversationId, text: "Checking in." });
    assert.equal(res.statusCode, 201, res.body);
    const done = await waitForEvent(api, res.json().id, isFinal);
    assert.equal(done.status, "Blocked", JSON.stringify(done));
    assert.equal(done.complianceAction, "Suppressed");
  });

  test("quiet hours at the recipient (lead time zone): Scheduled for the next allowed minute", async () => {
    const zone = zoneInTheNight();
    const sms = await sendTo("+13125550121", { timeZoneId: zone });
    const scheduled = await waitForEvent(api, sms.id, (e) => e.status === "Scheduled");
    assert.equal(scheduled.scheduledReason, "QuietHours");
    const at = Date.parse(String(scheduled.scheduledFor));
    assert.ok(at > Date.now() && at - Date.now() < 24 * 3600_000);
    assert.equal(localMinutes(at, zone), 8 * 60, "08:00 local");
    assert.equal(new Date(at).getUTCSeconds(), 0);
    assert.equal(scheduled.statusReason, `Quiet hours at the recipient until ${new Date(at).toISOString()}.`);
    // A retry that comes due in quiet hours is deferred the same way: its retry time and reason go.
    const now = Date.now();
    await api.db.store.db
      .updateTable("events")
      .set({
        status: "Queued",
        next_attempt_at: now,
        next_retry_at: now,
        status_reason: "Retrying (1 of 5).",
      })
      .where("id", "=", sms.id)
      .execute();
    const deferred = await waitForEvent(api, sms.id, (e) => e.status === "Scheduled");
    assert.equal(deferred.nextRetryAt, null);
    assert.equal(deferred.statusReason, scheduled.statusReason);
    // Still cancelable while it waits.
    assert.equal((await api.call("POST", `/sms/${sms.id}/cancel`, {})).statusCode, 200);
  });

  test("a keyword's answer in the night at the recipient goes at once: it answers the person who just wrote", async () => {
    const zone = zoneInTheNight();
    const { conversationId } = await addLead(api, "+13125550148", { timeZoneId: zone });
    const inbound = async (text: string) => {
      const res = await api.call("POST", "/simulator/inbound", {
        from: "+13125550148",
        to: main.number,
        text,
      });
      assert.equal(res.statusCode, 201, res.body);
    };
    const answers = async () =>
      (
        await api.call("POST", `/events/conversations/${conversationId}`, {
          filters: [{ field: "direction", value: "outbound" }],
        })
      ).json().items as EventJson[];
    for (const [keyword, count] of [
      ["HELP", 1],
      ["STOP", 2],
    ] as const) {
      await inbound(keyword);
      const answer = await until(`the answer to ${keyword}`, async () => {
        const items = await answers();
        return items.length === count ? items[0] : undefined;
      });
      const done = await waitForEvent(api, answer.id, isFinal);
      assert.equal(done.status, "Delivered", `${keyword}: ${done.status} ${done.statusReason}`);
      assert.equal(done.scheduledFor, null, keyword);
    }
  });

  test("a US recipient and a sender with no 10DLC campaign: Blocked MissingTenDlcCampaign", async () => {
    const bare = await addSenderNumber(api, {
      number: "+14155550199",
      ten_dlc_campaign_id: null,
      is_default: 0,
    });
    const sms = await sendTo(
      "+13125550122",
      { timeZoneId: DAYTIME },
      { fromPhoneNumberId: bare.id, wasManuallyOverridden: true },
    );
    assert.equal(sms.selectionReason, "ManualOverride");
    assert.equal(sms.wasManuallyOverridden, true);
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Blocked");
    assert.equal(done.complianceAction, "MissingTenDlcCampaign");
    // The reason says what to set, so that the user is not left stuck at their first message.
    assert.match(
      String(done.statusReason),
      /set its routing\.tenDlcCampaignId \(PUT \/phone-numbers\/\{id\}\)/,
    );
    assert.equal((await api.call("GET", `/events/sms/${sms.id}`)).json().status, "blocked_missing_campaign");
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ enabled: 0 })
      .where("id", "=", bare.id)
      .execute();
  });

  test("a recipient in a US territory (Puerto Rico, USVI, Guam) needs a 10DLC campaign too; the Dominican Republic does not", async () => {
    const bare = await addSenderNumber(api, {
      number: "+14155550197",
      ten_dlc_campaign_id: null,
      is_default: 0,
    });
    const cases = [
      ["+17875550131", "America/Puerto_Rico", "Blocked"],
      ["+13405550132", "America/St_Thomas", "Blocked"],
      ["+16715550133", "Pacific/Guam", "Blocked"],
      ["+18095550134", "America/Santo_Domingo", "Delivered"],
    ] as const;
    for (const [phone, zone, expected] of cases) {
      const sms = await sendTo(
        phone,
        // Daytime wherever the zone is: only the 10DLC rule is under test.
        { timeZoneId: DAYTIME },
        { fromPhoneNumberId: bare.id, wasManuallyOverridden: true },
      );
      const done = await waitForEvent(api, sms.id, isFinal);
      assert.equal(done.status, expected, `${phone} (${zone}): ${JSON.stringify(done)}`);
      if (expected === "Blocked") assert.equal(done.complianceAction, "MissingTenDlcCampaign");
    }
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ enabled: 0 })
      .where("id", "=", bare.id)
      .execute();
  });

  test("automatic selection passes over a number without a 10DLC campaign for US recipients; a manual choice does not", async () => {
    const bare = await addSenderNumber(api, {
      number: "+15125550198",
      ten_dlc_campaign_id: null,
      is_default: 0,
    });
    // HealthyPool would take the never-used number; it cannot send to Boston, the main number can.
    const boston = await sendTo("+16175550125", { timeZoneId: DAYTIME });
    assert.equal(boston.fromPhoneNumberId, main.id);
    assert.equal(boston.selectionReason, "HealthyPool");
    assert.equal((await waitForEvent(api, boston.id, isFinal)).status, "Delivered");

    // One manual send from it (blocked), then the conversation's next automatic send.
    const { conversationId } = await addLead(api, "+13125550124", { timeZoneId: DAYTIME });
    const send = async (body: Record<string, unknown>) => {
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Checking in.", ...body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json();
    };
    const manual = await send({ fromPhoneNumberId: bare.id, wasManuallyOverridden: true });
    assert.equal(manual.selectionReason, "ManualOverride");
    const blocked = await waitForEvent(api, manual.id, isFinal);
    assert.equal(blocked.complianceAction, "MissingTenDlcCampaign");
    const next = await send({});
    assert.equal(next.fromPhoneNumberId, main.id, "not stuck to the number that cannot send");
    assert.notEqual(next.selectionReason, "StickyConversation");
    assert.equal((await waitForEvent(api, next.id, isFinal)).status, "Delivered");
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ enabled: 0 })
      .where("id", "=", bare.id)
      .execute();
  });

  test("the sticky sender follows what the person received: a canceled or blocked message does not move it", async () => {
    const other = await addSenderNumber(api, { number: "+15125550197", is_default: 0 });
    const bare = await addSenderNumber(api, {
      number: "+15125550196",
      ten_dlc_campaign_id: null,
      is_default: 0,
    });
    const { conversationId } = await addLead(api, "+13125550126", { timeZoneId: DAYTIME });
    const send = async (body: Record<string, unknown>) => {
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Checking in.", ...body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json();
    };
    const first = await send({ fromPhoneNumberId: main.id, wasManuallyOverridden: true });
    assert.equal((await waitForEvent(api, first.id, isFinal)).status, "Delivered");

    // Scheduled from another number by hand, then canceled: it never went out.
    const later = new Date(Date.now() + 86_400_000).toISOString();
    const scheduled = await send({
      fromPhoneNumberId: other.id,
      wasManuallyOverridden: true,
      scheduledFor: later,
    });
    assert.equal((await api.call("POST", `/sms/${scheduled.id}/cancel`, {})).statusCode, 200);
    const afterCancel = await send({});
    assert.deepEqual(
      [afterCancel.fromPhoneNumberId, afterCancel.selectionReason],
      [main.id, "StickyConversation"],
    );
    assert.equal((await waitForEvent(api, afterCancel.id, isFinal)).status, "Delivered");

    // Sent by hand from a number the gate blocks (no 10DLC campaign for a US recipient).
    const blocked = await send({ fromPhoneNumberId: bare.id, wasManuallyOverridden: true });
    assert.equal((await waitForEvent(api, blocked.id, isFinal)).status, "Blocked");
    const afterBlock = await send({});
    assert.deepEqual(
      [afterBlock.fromPhoneNumberId, afterBlock.selectionReason],
      [main.id, "StickyConversation"],
    );
    assert.equal((await waitForEvent(api, afterBlock.id, isFinal)).status, "Delivered");

    // A conversation whose only message was canceled sticks to no number.
    const alone = await addLead(api, "+13125550127", { timeZoneId: DAYTIME });
    const only = await api.call("POST", "/sms/send", {
      conversationId: alone.conversationId,
      text: "Checking in.",
      fromPhoneNumberId: other.id,
      wasManuallyOverridden: true,
      scheduledFor: later,
    });
    assert.equal((await api.call("POST", `/sms/${only.json().id}/cancel`, {})).statusCode, 200);
    const conversations = (await api.call("POST", `/conversations/lead/${alone.leadId}`, {})).json();
    assert.equal(conversations.items[0].activeOutboundPhoneNumberId, null);
    for (const n of [other, bare]) {
      await api.db.store.db.updateTable("phone_numbers").set({ enabled: 0 }).where("id", "=", n.id).execute();
    }
  });

  test("a toll-free sender without a 10DLC campaign sends to US and Canadian recipients; a local one is still Blocked", async () => {
    const tollFree = await addSenderNumber(api, {
      number: "+18885550150",
      name: "Toll-free line",
      ten_dlc_campaign_id: null,
      is_default: 0,
    });
    const bare = await addSenderNumber(api, {
      number: "+14155550196",
      ten_dlc_campaign_id: null,
      is_default: 0,
    });
    const from = (sender: { id: string }) => ({ fromPhoneNumberId: sender.id, wasManuallyOverridden: true });
    for (const phone of ["+13125550140", "+16045550141"]) {
      const sms = await sendTo(phone, { timeZoneId: DAYTIME }, from(tollFree));
      assert.equal(sms.fromPhoneNumberId, tollFree.id);
      const done = await waitForEvent(api, sms.id, isFinal);
      assert.equal(done.status, "Delivered", `${phone}: ${JSON.stringify(done)}`);
      assert.equal(done.complianceAction, null);
      assert.ok(done.sentAt);
      // It went under toll-free verification, not a 10DLC campaign.
      assert.equal(done.tenDlcCampaignId, null);
    }
    // A 10DLC campaign id set on a toll-free number does not apply to it: the message names none.
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ ten_dlc_campaign_id: "CAMP-TF" })
      .where("id", "=", tollFree.id)
      .execute();
    const tagged = await sendTo("+13125550142", { timeZoneId: DAYTIME }, from(tollFree));
    const taggedDone = await waitForEvent(api, tagged.id, isFinal);
    assert.equal(taggedDone.status, "Delivered");
    assert.equal(taggedDone.tenDlcCampaignId, null);

    const local = await sendTo("+13125550143", { timeZoneId: DAYTIME }, from(bare));
    const blocked = await waitForEvent(api, local.id, isFinal);
    assert.equal(blocked.status, "Blocked");
    assert.equal(blocked.complianceAction, "MissingTenDlcCampaign");
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ enabled: 0 })
      .where("id", "in", [tollFree.id, bare.id])
      .execute();
  });

  test("a delivered message carries its sender's tenDlcCampaignId", async () => {
    const sms = await sendTo(
      "+13125550123",
      { timeZoneId: DAYTIME },
      { fromPhoneNumberId: main.id, wasManuallyOverridden: true },
    );
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Delivered");
    assert.equal(done.tenDlcCampaignId, "CAMP123");
  });

  test("a wallet below the price: Blocked with billingStatus InsufficientFunds", async () => {
    await api.db.store.db
      .updateTable("wallets")
      .set({ balance_micros: 100 })
      .where("organization_id", "=", api.org.organizationId)
      .execute();
    const sms = await sendTo("+13125550124", { timeZoneId: DAYTIME });
    const done = await waitForEvent(api, sms.id, isFinal);
    assert.equal(done.status, "Blocked");
    assert.equal(done.billingStatus, "InsufficientFunds");
    assert.equal((await api.call("GET", `/events/sms/${sms.id}`)).json().status, "blocked_billing");
    await api.db.store.db
      .updateTable("wallets")
      .set({ balance_micros: 10_000_000 })
      .where("organization_id", "=", api.org.organizationId)
      .execute();
  });

  test("a message to a lead whose phone changed or was removed before it went out is Blocked RecipientChanged", async () => {
    for (const [phone, newPhone] of [
      ["+13125550125", { number: "+13125550126" }],
      ["+13125550127", null],
    ] as const) {
      const { leadId, conversationId } = await addLead(api, phone, { timeZoneId: DAYTIME });
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        text: "See you at 3pm.",
        scheduledFor: new Date(Date.now() + 1500).toISOString(),
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().status, "scheduled");
      const put = await api.call("PUT", `/leads/${leadId}`, {
        contact: { firstName: "Pat", phone: newPhone, timeZoneId: DAYTIME },
      });
      assert.equal(put.statusCode, 200, put.body);
      const done = await waitForEvent(api, res.json().id, isFinal);
      assert.equal(done.status, "Blocked", JSON.stringify(done));
      assert.equal(done.complianceAction, "RecipientChanged");
      assert.equal(done.toPhoneNumber, phone);
      assert.equal(done.billingStatus, "NotBilled");
      assert.equal(done.sendingStartedAt, null);
    }
  });

  test("a message whose sender number had SMS turned off before it went out is Blocked SenderUnavailable", async () => {
    const sender = await addSenderNumber(api, { number: "+14155550109", name: "Second line", is_default: 0 });
    const { conversationId } = await addLead(api, "+13125550129", { timeZoneId: DAYTIME });
    const res = await api.call("POST", "/sms/send", {
      conversationId,
      text: "See you at 4pm.",
      fromPhoneNumberId: sender.id,
      wasManuallyOverridden: true,
      scheduledFor: new Date(Date.now() + 1500).toISOString(),
    });
    assert.equal(res.statusCode, 201, res.body);
    const put = await api.call("PUT", `/phone-numbers/${sender.id}`, {
      number: sender.number,
      name: sender.name,
      enabled: true,
      routing: { smsEnabled: false, tenDlcCampaignId: "CAMP123" },
    });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(put.json().routing.smsEnabled, false);
    const done = await waitForEvent(api, res.json().id, isFinal);
    assert.equal(done.status, "Blocked", JSON.stringify(done));
    assert.equal(done.complianceAction, "SenderUnavailable");
    assert.equal(done.billingStatus, "NotBilled");
    assert.equal(done.sendingStartedAt, null);
  });

  test("sending in the conversation of a lead whose phone was removed is a 409, and queues nothing", async () => {
    const { leadId, conversationId } = await addLead(api, "+13125550128", { timeZoneId: DAYTIME });
    const put = await api.call("PUT", `/leads/${leadId}`, { contact: { firstName: "Pat" } });
    assert.equal(put.statusCode, 200, put.body);
    const conversation = (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    assert.equal(conversation.leadPhoneNumber, null);
    // Found by the number its messages went to (README: the filter matches the thread's number).
    const byNumber = await api.call("POST", "/conversations/my", {
      filters: [{ field: "leadPhoneNumber", value: "+13125550128" }],
    });
    assert.deepEqual(
      byNumber.json().items.map((c: { id: string }) => c.id),
      [conversationId],
    );
    const res = await api.call("POST", "/sms/send", { conversationId, text: "Hello?" });
    assert.equal(res.statusCode, 409, res.body);
    assert.match(res.json().type, /lead-without-phone$/);
    const thread = await api.call("POST", `/events/conversations/${conversationId}`, {
      filters: [{ field: "activityType", value: "Sms" }],
    });
    assert.equal(thread.json().items.length, 0);
    // With a number again, it sends there.
    await api.call("PUT", `/leads/${leadId}`, {
      contact: { firstName: "Pat", phone: { number: "+13125550129" }, timeZoneId: DAYTIME },
    });
    const again = await api.call("POST", "/sms/send", { conversationId, text: "Hello?" });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().toPhoneNumber, "+13125550129");
  });
});
