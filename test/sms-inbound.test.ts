import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { REPLIES } from "../src/messaging/inbound.js";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { Worker } from "../src/messaging/worker.js";
import { createWallet } from "../src/store/billing-repo.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import { assertEventRecord, countEvents, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import {
  addLead,
  addSenderNumber,
  isFinal,
  senderNumberRow,
  startSimulator,
  until,
  waitForEvent,
} from "./helpers/messaging.js";

forEachEngine("inbound SMS and keywords", (engine) => {
  let api: TestApi;
  const OUR = "+14155550100";
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "off" } });
    await addSenderNumber(api, { number: OUR });
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    startSimulator(api);
  });
  after(() => api.close());

  const inbound = async (from: string, text: string) => {
    const res = await api.call("POST", "/simulator/inbound", { from, to: OUR, text });
    assert.equal(res.statusCode, 201, res.body);
    const event = res.json();
    assertEventRecord(event);
    return event;
  };

  const replyTo = async (conversationId: string) => {
    const page = (
      await api.call("POST", `/events/conversations/${conversationId}`, {
        filters: [{ field: "direction", value: "outbound" }],
      })
    ).json();
    return page.items as Array<{ id: string; summary: string }>;
  };

  test("an unknown sender gets a lead and a conversation; the message is Received", async () => {
    const event = await inbound("(206) 555-0133", "Hi, is this still available?");
    assert.equal(event.status, "Received");
    assert.equal(event.direction, "inbound");
    assert.ok(event.receivedAt);
    assert.equal(event.fromPhoneNumber, "+12065550133");
    assert.equal(event.toPhoneNumber, OUR);
    assert.equal(event.summary, "Hi, is this still available?");
    const lead = (await api.call("GET", `/leads/${event.leadId}`)).json();
    assert.equal(lead.contact.phone.number, "+12065550133");
    const conversations = (await api.call("POST", `/conversations/lead/${event.leadId}`, {})).json();
    assert.equal(conversations.items[0].id, event.conversationId);
    assert.equal(conversations.items[0].lastSnippet, "Hi, is this still available?");
    assert.deepEqual(await replyTo(event.conversationId), [], "no reply to an ordinary message");
  });

  test("a known sender's reply lands on its existing conversation", async () => {
    const { leadId, conversationId } = await addLead(api, "+12065550134");
    const event = await inbound("+12065550134", "Yes please");
    assert.equal(event.leadId, leadId);
    assert.equal(event.conversationId, conversationId);
  });

  test("leads sharing a phone: a reply goes to the conversation that texted from that number, else the latest active", async () => {
    const other = await addSenderNumber(api, { number: "+14155550101", name: "Other line", is_default: 0 });
    const ours = await api.db.store.db
      .selectFrom("phone_numbers")
      .select("id")
      .where("number", "=", OUR)
      .executeTakeFirstOrThrow();
    const older = await addLead(api, "+12065550140");
    const newer = await addLead(api, "+12065550140");
    assert.notEqual(older.leadId, newer.leadId, "a repeat delivery is a lead of its own");
    // Before anything is texted, the newer lead's conversation is the latest active.
    const first = await inbound("+12065550140", "Which one of you?");
    assert.equal(first.conversationId, newer.conversationId);
    const send = async (conversationId: string, fromPhoneNumberId: string) => {
      const res = await api.call("POST", "/sms/send", {
        conversationId,
        text: "Hello",
        fromPhoneNumberId,
        wasManuallyOverridden: true,
      });
      assert.equal(res.statusCode, 201, res.body);
      await waitForEvent(api, res.json().id, isFinal);
    };
    await send(newer.conversationId, other.id);
    await send(older.conversationId, ours.id);
    // Each number's reply answers the conversation that last texted from it.
    const toOther = await api.call("POST", "/simulator/inbound", {
      from: "+12065550140",
      to: other.number,
      text: "Got it",
    });
    assert.equal(toOther.statusCode, 201, toOther.body);
    assert.equal(toOther.json().conversationId, newer.conversationId);
    assert.equal(toOther.json().leadId, newer.leadId);
    const toOur = await inbound("+12065550140", "Thanks");
    assert.equal(toOur.conversationId, older.conversationId);
    assert.equal(toOur.leadId, older.leadId);
    // A message still scheduled (it texted nobody yet) does not take the thread.
    const scheduled = await api.call("POST", "/sms/send", {
      conversationId: newer.conversationId,
      text: "Tomorrow",
      fromPhoneNumberId: ours.id,
      wasManuallyOverridden: true,
      scheduledFor: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.equal(scheduled.statusCode, 201, scheduled.body);
    assert.equal((await inbound("+12065550140", "One more")).conversationId, older.conversationId);
  });

  // The provider still holds the number and the person wrote to it: the carriers require the answer.
  for (const [i, [off, settings]] of (
    [
      ["with SMS turned off", { sms_enabled: 0 }],
      ["disabled", { enabled: 0 }],
    ] as const
  ).entries()) {
    test(`a STOP to a number ${off} still gets its confirmation, from that number`, async () => {
      const number = await addSenderNumber(api, {
        number: `+1415555010${2 + i}`,
        name: off,
        is_default: 0,
        ...settings,
      });
      const res = await api.call("POST", "/simulator/inbound", {
        from: `+1206555014${1 + i}`,
        to: number.number,
        text: "STOP",
      });
      assert.equal(res.statusCode, 201, res.body);
      const [reply] = await replyTo(res.json().conversationId);
      assert.ok(reply, "a confirmation was queued");
      const done = await waitForEvent(api, reply.id, isFinal);
      assert.equal(done.status, "Delivered", JSON.stringify(done));
      assert.equal(done.fromPhoneNumber, number.number);
    });
  }

  test("a STOP to a number since deleted is recorded in each organization that texted the person from it, unanswered", async () => {
    const FORMER = "+14155550105";
    const person = "+12065553300";
    const second = await createOrganization(api.db.store.db, "Second Org");
    // Each organization in turn holds the number, texts the person from it, and deletes it.
    const textThenDelete = async (key: string, organizationId: string) => {
      const sender = senderNumberRow(organizationId, { number: FORMER, name: "Retired line", is_default: 0 });
      await api.db.store.db.insertInto("phone_numbers").values(sender).execute();
      const lead = await api.call("POST", "/leads", { contact: { phone: { number: person } } }, key);
      assert.equal(lead.statusCode, 201, lead.body);
      const conversation = (await api.call("POST", `/conversations/lead/${lead.json().id}`, {}, key)).json()
        .items[0].id as string;
      const sent = await api.call(
        "POST",
        "/sms/send",
        {
          conversationId: conversation,
          text: "Still looking?",
          fromPhoneNumberId: sender.id,
          wasManuallyOverridden: true,
        },
        key,
      );
      assert.equal(sent.statusCode, 201, sent.body);
      await until("the message to go out", async () => {
        const e = (await api.call("GET", `/events/${sent.json().id}`, undefined, key)).json();
        return e.status === "Delivered" ? e : undefined;
      });
      const deleted = await api.call("DELETE", `/phone-numbers/${sender.id}`, undefined, key);
      assert.equal(deleted.statusCode, 204, deleted.body);
      return { key, organizationId, leadId: lead.json().id as string, conversation };
    };
    const orgs = [
      await textThenDelete(api.org.apiKey, api.org.organizationId),
      await textThenDelete(second.apiKey, second.organizationId),
    ];
    const deliver = (from: string, text: string, providerMessageId: string) =>
      api.pipeline.handleInbound({
        from,
        to: FORMER,
        text,
        media: [],
        providerMessageId,
        receivedAt: Date.now(),
      });
    const outcome = await deliver(person, "Stop", "former-number-stop");
    assert.ok(outcome, "recorded, not dropped");
    assert.equal(outcome.reply, null, "no confirmation: the number is no longer held");
    for (const { key, organizationId, leadId, conversation } of orgs) {
      const check = await api.call(
        "POST",
        "/suppressions/check",
        { organizationId, phoneNumber: person, channel: "sms" },
        key,
      );
      assert.equal(check.statusCode, 200, check.body);
      assert.equal(check.json().allowed, false);
      const lead = (await api.call("GET", `/leads/${leadId}`, undefined, key)).json();
      assert.equal(lead.metadata.smsOptedOut, true);
      assert.equal(lead.metadata.smsConsentStatus, "OptedOut");
      const thread = (await api.call("POST", `/events/conversations/${conversation}`, {}, key)).json()
        .items as Array<{ direction: string; status: string; toPhoneNumber: string }>;
      const stop = thread.find((e) => e.direction === "inbound");
      assert.equal(stop?.status, "Opted out");
      assert.equal(stop?.toPhoneNumber, FORMER);
      assert.equal(
        thread.filter((e) => e.direction === "outbound").length,
        1,
        "only the message before the STOP",
      );
    }
    // Delivered again: recorded once.
    const events = await countEvents(api);
    assert.equal(await deliver(person, "Stop", "former-number-stop"), undefined);
    assert.equal(await countEvents(api), events);
    // Nothing else to a deleted number is recorded, nor a STOP from someone it never texted.
    assert.equal(await deliver(person, "Hello?", "former-number-hello"), undefined);
    assert.equal(await deliver("+12065553301", "STOP", "former-number-stranger"), undefined);
    assert.equal(await countEvents(api), events);
    const stranger = await api.call("POST", "/suppressions/check", {
      organizationId: api.org.organizationId,
      phoneNumber: "+12065553301",
      channel: "sms",
    });
    assert.equal(stranger.json().allowed, true);
  });

  test("a STOP to a number that moved to another organization is also recorded, unanswered, in each organization that texted the person from it before", async () => {
    const MOVED = "+14155550106";
    const both = "+12065553500";
    const formerOnly = "+12065553501";
    const holderOnly = "+12065553502";
    const holder = await createOrganization(api.db.store.db, "Holder Org");
    await createWallet(api.db.store.db, holder.organizationId, 10_000_000);
    const former = { key: api.org.apiKey, organizationId: api.org.organizationId };
    const call = (key: string, method: Parameters<TestApi["call"]>[0], url: string, body?: unknown) =>
      api.call(method, url, body, key);
    const addNumber = async (organizationId: string) => {
      const row = senderNumberRow(organizationId, { number: MOVED, name: "Moved line", is_default: 0 });
      await api.db.store.db.insertInto("phone_numbers").values(row).execute();
      return row;
    };
    /** A lead at `person` in the organization, texted from `sender` unless it is null. */
    const textFrom = async (key: string, person: string, sender: { id: string } | null) => {
      const lead = await call(key, "POST", "/leads", { contact: { phone: { number: person } } });
      assert.equal(lead.statusCode, 201, lead.body);
      if (sender) {
        const conversationId = (await call(key, "POST", `/conversations/lead/${lead.json().id}`, {})).json()
          .items[0].id as string;
        const sent = await call(key, "POST", "/sms/send", {
          conversationId,
          text: "Still looking?",
          fromPhoneNumberId: sender.id,
          wasManuallyOverridden: true,
        });
        assert.equal(sent.statusCode, 201, sent.body);
        await until("the message to go out", async () => {
          const e = (await call(key, "GET", `/events/${sent.json().id}`)).json();
          return isFinal(e) ? e : undefined;
        });
      }
      return lead.json().id as string;
    };
    // The former organization texts two people from the number, then deletes it; the holder adds
    // it and texts one of them and a third person.
    const formerSender = await addNumber(former.organizationId);
    const formerLeads = {
      both: await textFrom(former.key, both, formerSender),
      formerOnly: await textFrom(former.key, formerOnly, formerSender),
      holderOnly: await textFrom(former.key, holderOnly, null),
    };
    assert.equal((await call(former.key, "DELETE", `/phone-numbers/${formerSender.id}`)).statusCode, 204);
    const holderSender = await addNumber(holder.organizationId);
    await textFrom(holder.apiKey, both, holderSender);
    await textFrom(holder.apiKey, holderOnly, holderSender);

    const stop = (from: string, providerMessageId: string) =>
      api.pipeline.handleInbound({
        from,
        to: MOVED,
        text: "STOP",
        media: [],
        providerMessageId,
        receivedAt: Date.now(),
      });
    const allowed = async (key: string, organizationId: string, phone: string) => {
      const check = await call(key, "POST", "/suppressions/check", {
        organizationId,
        phoneNumber: phone,
        channel: "sms",
      });
      assert.equal(check.statusCode, 200, check.body);
      return check.json().allowed as boolean;
    };
    const phoneOf = { both, formerOnly, holderOnly };
    /** The former organization's record of `person`'s STOP: the lead's opt-out and the timeline event. */
    const formerRecord = async (person: keyof typeof formerLeads) => {
      const leadId = formerLeads[person];
      const lead = (await call(former.key, "GET", `/leads/${leadId}`)).json();
      const conversationId = (await call(former.key, "POST", `/conversations/lead/${leadId}`, {})).json()
        .items[0].id as string;
      const thread = (await call(former.key, "POST", `/events/conversations/${conversationId}`, {})).json()
        .items as Array<{
        direction: string;
        status: string;
        toPhoneNumber: string;
        outboundPhoneNumberId: string;
      }>;
      return {
        allowed: await allowed(former.key, former.organizationId, phoneOf[person]),
        optedOut: lead.metadata.smsOptedOut as boolean | undefined,
        stops: thread.filter((e) => e.direction === "inbound"),
        outbound: thread.filter((e) => e.direction === "outbound").length,
      };
    };
    for (const person of ["both", "formerOnly"] as const) {
      const outcome = await stop(phoneOf[person], `moved-number-stop-${person}`);
      assert.ok(outcome, "recorded");
      assert.equal(outcome.event.organization_id, holder.organizationId, "the holder's record is answered");
      assert.ok(outcome.reply, "the holder confirms from the number it holds");
      assert.equal(await allowed(holder.apiKey, holder.organizationId, phoneOf[person]), false);
      const record = await formerRecord(person);
      assert.equal(record.allowed, false, `${person}: suppressed in the former organization`);
      assert.equal(record.optedOut, true);
      assert.equal(record.stops.length, 1);
      assert.equal(record.stops[0]!.status, "Opted out");
      assert.equal(record.stops[0]!.toPhoneNumber, MOVED);
      assert.equal(record.stops[0]!.outboundPhoneNumberId, formerSender.id);
      assert.equal(record.outbound, 1, "no confirmation from the former organization");
    }
    // The former organization never texted this person from the number: the STOP is the holder's only.
    assert.ok(await stop(holderOnly, "moved-number-stop-holder-only"));
    assert.equal(await allowed(holder.apiKey, holder.organizationId, holderOnly), false);
    const untouched = await formerRecord("holderOnly");
    assert.equal(untouched.allowed, true);
    assert.notEqual(untouched.optedOut, true);
    assert.equal(untouched.stops.length, 0);
  });

  for (const [i, word] of [
    "STOP",
    "stop",
    " Unsubscribe ",
    "CANCEL",
    "end",
    "QUIT",
    "StopAll",
    "Stop.",
    "REVOKE",
    "opt out",
    "Opt-Out!",
    "optout",
    // Telnyx, the provider, opts the sender out on "STOP ALL" too (its default block-rule keywords).
    "Stop all",
    // The same words in the forms phones also send: full-width letters, quotes, a trailing comma or
    // a zero-width character.
    "ＳＴＯＰ",
    '"Stop"',
    "STOP,",
    "Stop\u200b",
  ].entries()) {
    test(`'${word}' opts out: suppression, Opted out, one unbilled SystemInternal confirmation`, async () => {
      // A phone of its own per word: two words drawing the same random phone shared a conversation,
      // and the second found two confirmations on it (a flake about once in 25 runs).
      const phone = `+1206555${2000 + i}`;
      const event = await inbound(phone, word);
      assert.equal(event.status, "Opted out");
      assert.equal(event.complianceAction, "OptOut");
      const check = await api.call("POST", "/suppressions/check", {
        organizationId: api.org.organizationId,
        phoneNumber: phone,
        channel: "sms",
      });
      if (check.statusCode === 200) assert.equal(check.json().allowed, false);
      const suppressed = await api.db.store.db
        .selectFrom("suppressions")
        .selectAll()
        .where("recipient", "=", phone)
        .executeTakeFirst();
      assert.equal(suppressed?.status, "active");
      const replies = await replyTo(event.conversationId);
      assert.equal(replies.length, 1);
      const reply = await waitForEvent(api, replies[0]!.id, isFinal);
      assert.equal(
        reply.status,
        "Delivered",
        "the confirmation goes out although the recipient is now suppressed",
      );
      assert.equal(reply.trafficType, "SystemInternal");
      assert.equal(reply.billingStatus, "NotBilled");
      assert.equal(reply.billableAmount, null);
      assert.match(String(reply.summary), /unsubscribed/);
    });
  }

  test("a STOP from a person already opted out and confirmed is recorded, not confirmed again", async () => {
    const phone = "+12065553400";
    const { conversationId } = await addLead(api, phone);
    const confirmations = async () =>
      (await replyTo(conversationId)).filter((r) => r.summary === REPLIES["opt-out"]).length;
    await inbound(phone, "STOP");
    assert.equal(await confirmations(), 1);
    const again = await inbound(phone, "Stop");
    assert.equal(again.status, "Opted out", "the repeat is on the timeline");
    assert.equal(again.complianceAction, "OptOut");
    assert.equal(await confirmations(), 1, "one confirmation per opt-out");
    // After a START, a new opt-out gets its own.
    await inbound(phone, "START");
    await inbound(phone, "STOP");
    assert.equal(await confirmations(), 2);
    // An entry the person was never told of (an operator's) is confirmed at their first STOP.
    const listed = "+12065553401";
    const other = await addLead(api, listed);
    const entry = await api.call("POST", "/suppressions", {
      organizationId: api.org.organizationId,
      phoneNumber: listed,
      channel: "sms",
      reason: "Asked on a call",
    });
    assert.equal(entry.statusCode, 201, entry.body);
    await inbound(listed, "STOP");
    await inbound(listed, "STOP");
    const told = (await replyTo(other.conversationId)).filter((r) => r.summary === REPLIES["opt-out"]);
    assert.equal(told.length, 1);
  });

  test("a message to an opted-out lead is blocked; START releases and confirms", async () => {
    const { conversationId } = await addLead(api, "+12065550135");
    await inbound("+12065550135", "STOP");
    const blocked = (await api.call("POST", "/sms/send", { conversationId, text: "One more offer" })).json();
    assert.equal((await waitForEvent(api, blocked.id, isFinal)).complianceAction, "Suppressed");
    const start = await inbound("+12065550135", "start");
    assert.equal(start.status, "Received");
    assert.equal(start.complianceAction, "OptIn");
    const suppressed = await api.db.store.db
      .selectFrom("suppressions")
      .selectAll()
      .where("recipient", "=", "+12065550135")
      .executeTakeFirst();
    assert.equal(suppressed?.status, "released");
    const ok = (await api.call("POST", "/sms/send", { conversationId, text: "Welcome back" })).json();
    assert.equal((await waitForEvent(api, ok.id, isFinal)).status, "Delivered");
  });

  test("START from a recipient still blocked on every channel is recorded, but not answered 'resubscribed'", async () => {
    const phone = "+12065550139";
    const { conversationId } = await addLead(api, phone);
    const entry = await api.call("POST", "/suppressions", {
      organizationId: api.org.organizationId,
      phoneNumber: phone,
      channel: "all",
      reason: "Do not contact on any channel",
    });
    assert.equal(entry.statusCode, 201, entry.body);
    const start = await inbound(phone, "START");
    assert.equal(start.complianceAction, "OptIn");
    // The keyword releases SMS opt-outs only: the entry on every channel stands...
    const check = await api.call("POST", "/suppressions/check", {
      organizationId: api.org.organizationId,
      phoneNumber: phone,
    });
    assert.equal(check.json().allowed, false);
    const blocked = (await api.call("POST", "/sms/send", { conversationId, text: "Welcome back" })).json();
    assert.equal((await waitForEvent(api, blocked.id, isFinal)).complianceAction, "Suppressed");
    // ...so no confirmation tells the person they will get messages again (it would also be a
    // message past that entry: confirmations skip suppression).
    const replies = (await replyTo(conversationId)).filter((r) => r.id !== blocked.id);
    assert.deepEqual(
      replies.map((r) => r.summary),
      [],
    );
  });

  test("a START the person sent before their STOP, delivered after it (a webhook retried late), releases nothing", async () => {
    const phone = "+12065553200";
    const { leadId } = await addLead(api, phone);
    const deliver = (text: string, receivedAt: number) =>
      api.pipeline.handleInbound({
        from: phone,
        to: OUR,
        text,
        media: [],
        providerMessageId: null,
        receivedAt,
      });
    const stopAt = Date.now() - 1_000;
    await deliver("STOP", stopAt);
    const late = await deliver("START", stopAt - 60_000);
    assert.equal(late?.reply, null, "no 'resubscribed' answer");
    const entry = await api.db.store.db
      .selectFrom("suppressions")
      .selectAll()
      .where("organization_id", "=", api.org.organizationId)
      .where("recipient", "=", phone)
      .executeTakeFirst();
    assert.equal(entry?.status, "active", "the STOP, the person's last word, stands");
    const lead = (await api.call("GET", `/leads/${leadId}`)).json();
    assert.equal(lead.metadata.smsOptedOut, true);
    assert.equal(lead.metadata.smsConsentStatus, "OptedOut");
    // A START sent after the STOP still resubscribes.
    const start = await deliver("START", Date.now());
    assert.ok(start?.reply);
    const released = await api.db.store.db
      .selectFrom("suppressions")
      .select("status")
      .where("organization_id", "=", api.org.organizationId)
      .where("recipient", "=", phone)
      .executeTakeFirst();
    assert.equal(released?.status, "released");
  });

  test("HELP and INFO get a help reply", async () => {
    for (const word of ["HELP", "info"]) {
      const event = await inbound(`+12065550${word === "HELP" ? "136" : "137"}`, word);
      assert.equal(event.complianceAction, "Help");
      const replies = await replyTo(event.conversationId);
      assert.equal(replies.length, 1);
      assert.match(replies[0]!.summary, /STOP/);
    }
  });

  test("a short code or alphanumeric sender is recorded, and its STOP honoured, not refused", async () => {
    const stop = await inbound("22395", "STOP");
    assert.equal(stop.status, "Opted out");
    assert.equal(stop.fromPhoneNumber, "22395");
    const lead = (await api.call("GET", `/leads/${stop.leadId}`)).json();
    assert.equal(lead.contact.phone.number, "22395");
    const suppressed = await api.db.store.db
      .selectFrom("suppressions")
      .selectAll()
      .where("organization_id", "=", api.org.organizationId)
      .where("recipient", "=", "22395")
      .executeTakeFirst();
    assert.equal(suppressed?.status, "active");
    // Its confirmation is sent like any other (the worker's gate takes a recipient that is no E.164).
    const [reply] = await replyTo(stop.conversationId);
    assert.ok(reply);
    const settled = await waitForEvent(api, reply.id, isFinal);
    assert.ok(["Delivered", "Failed", "Blocked"].includes(settled.status), settled.status);
    const named = await inbound("ACME Bank", "Your code is 1234");
    assert.equal(named.status, "Received");
    assert.equal(named.fromPhoneNumber, "ACME Bank");
    // Their threads are read by the sender as it wrote to us, as a phone number's thread is.
    for (const [sender, id] of [
      ["22395", stop.id],
      ["ACME Bank", named.id],
    ] as const) {
      const thread = await api.call("POST", `/events/sms/phone/${encodeURIComponent(sender)}`, {});
      assert.equal(thread.statusCode, 200, thread.body);
      assert.ok(
        thread.json().items.some((m: { id: string }) => m.id === id),
        `${sender}: ${thread.body}`,
      );
    }
    const notASender = await api.call("POST", `/events/sms/phone/${encodeURIComponent("12-34")}`, {});
    assert.equal(notASender.statusCode, 400, notASender.body);
    // An API client's lead still needs a real phone number.
    const res = await api.call("POST", "/leads", { contact: { phone: { number: "22395" } } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().detail, /contact\.phone\.number/);
  });

  test("a message from another of our own numbers (warmup traffic) makes no lead and no inbound event", async () => {
    const partner = "+14155550177";
    await addSenderNumber(api, { number: partner, is_default: 0 });
    const leadsBefore = (await api.call("POST", "/leads/all/my", { includeCount: true })).json().totalCount;
    // As a provider's webhook would deliver it (Telnyx reports warmup messages our numbers receive).
    const outcome = await api.pipeline.handleInbound({
      from: partner,
      to: OUR,
      text: "Warmup 3 of 8",
      media: [],
      providerMessageId: "warmup-inbound-1",
      receivedAt: Date.now(),
    });
    assert.equal(outcome, undefined);
    const leadsAfter = (await api.call("POST", "/leads/all/my", { includeCount: true })).json().totalCount;
    assert.equal(leadsAfter, leadsBefore, "our own number is no lead");
    const received = await api.db.store.db
      .selectFrom("events")
      .select("id")
      .where("organization_id", "=", api.org.organizationId)
      .where("provider_message_id", "=", "warmup-inbound-1")
      .execute();
    assert.deepEqual(received, []);
    // The simulator refuses to inject one, naming the field.
    const res = await api.call("POST", "/simulator/inbound", { from: partner, to: OUR, text: "hi" });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().detail, /^from /);
    // A keyword from it is injected, as a provider's would be recorded: the "partner" may be a person.
    const stop = await api.call("POST", "/simulator/inbound", { from: partner, to: OUR, text: "STOP" });
    assert.equal(stop.statusCode, 201, stop.body);
    assert.equal(stop.json().complianceAction, "OptOut");
  });

  test("an inbound message is recorded as arriving now; receivedAt keeps the provider's time, never a future one", async () => {
    const stamped = async (id: string, receivedAt: number) => {
      const before = Date.now();
      const outcome = await api.pipeline.handleInbound({
        from: "+12065550177",
        to: OUR,
        text: `Stamped ${id}`,
        media: [],
        providerMessageId: id,
        receivedAt,
      });
      assert.ok(outcome);
      const record = (await api.call("GET", `/events/${outcome.event.id}`)).json();
      const createdAt = Date.parse(record.createdAt);
      assert.ok(createdAt >= before && createdAt <= Date.now(), record.createdAt);
      return record as { createdAt: string; receivedAt: string };
    };
    // Delivered ten minutes late: listed as it arrives, so no page already read can miss it.
    const late = Date.now() - 600_000;
    assert.equal((await stamped("stamped-late", late)).receivedAt, new Date(late).toISOString());
    // Stamped a day ahead by a wrong clock: received when it reached us.
    const future = await stamped("stamped-future", Date.now() + 86_400_000);
    assert.ok(Date.parse(future.receivedAt) <= Date.now());
  });

  test("a STOP from a number registered as our own is honoured: nothing proves the organization holds it", async () => {
    const registered = "+14155550178";
    await addSenderNumber(api, { number: registered, is_default: 0 });
    const outcome = await api.pipeline.handleInbound({
      from: registered,
      to: OUR,
      text: "Stop",
      media: [],
      providerMessageId: "own-number-stop-1",
      receivedAt: Date.now(),
    });
    assert.ok(outcome, "recorded like any opt-out");
    assert.equal(outcome.event.status, "Opted out");
    assert.equal(outcome.event.compliance_action, "OptOut");
    assert.ok(outcome.reply, "with its confirmation");
    const check = await api.call("POST", "/suppressions/check", {
      organizationId: api.org.organizationId,
      phoneNumber: registered,
    });
    assert.equal(check.statusCode, 200, check.body);
    assert.equal(check.json().allowed, false);
  });

  test("inbound to a number of another organization is 404 and writes nothing", async () => {
    const res = await api.call("POST", "/simulator/inbound", {
      from: "+12065550138",
      to: "+13125550199",
      text: "hello",
    });
    assert.equal(res.statusCode, 404);
  });

  test("one message delivered five times at once (provider redelivery) is recorded once: one lead, one event, one reply", async () => {
    const phone = "+12065553001";
    const message = {
      from: phone,
      to: OUR,
      text: "STOP",
      media: [],
      providerMessageId: `msg-redelivered-${phone}`,
      receivedAt: Date.now(),
    };
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => api.pipeline.handleInbound(message)));
    assert.equal(outcomes.filter((o) => o !== undefined).length, 1, "exactly one delivery is recorded");
    const db = api.db.store.db;
    const leads = await db.selectFrom("leads").select("id").where("phone", "=", phone).execute();
    assert.equal(leads.length, 1, "the redeliveries' leads were rolled back");
    const events = await db
      .selectFrom("events")
      .select(["direction", "event_type"])
      .where("lead_id", "=", leads[0]!.id)
      .execute();
    assert.deepEqual(events.map((e) => `${e.direction}:${e.event_type}`).sort(), [
      "inbound:SmsInbound",
      "null:LeadCreated",
      "outbound:SmsOutbound",
    ]);
    const again = await api.pipeline.handleInbound({ ...message, receivedAt: Date.now() });
    assert.equal(again, undefined, "a later redelivery is recorded no more");
  });

  test("five first messages of a new sender arriving at once make one lead with five inbound events", async () => {
    const phone = "+12065553002";
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        api.pipeline.handleInbound({
          from: phone,
          to: OUR,
          text: `message ${i}`,
          media: [],
          providerMessageId: `msg-first-${phone}-${i}`,
          receivedAt: Date.now(),
        }),
      ),
    );
    assert.equal(outcomes.filter((o) => o !== undefined).length, 5);
    assert.equal(new Set(outcomes.map((o) => o?.event.lead_id)).size, 1, "all on one lead");
    const leads = await api.db.store.db.selectFrom("leads").select("id").where("phone", "=", phone).execute();
    assert.equal(leads.length, 1);
  });
});

// Keyword replies still waiting for the worker when the person sends STOP: the worker runs one round
// at a time here, so every reply is queued before any is gated.
forEachEngine("keyword replies waiting when a STOP comes", (engine) => {
  let api: TestApi;
  let provider: SimulatorProvider;
  let worker: Worker;
  const OUR = "+14155550100";
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "off" } });
    await addSenderNumber(api, { number: OUR });
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    provider = new SimulatorProvider(api.pipeline, 60_000);
    worker = new Worker(api.db.store.db, { engine, config: api.pipeline.config, provider });
  });
  after(async () => {
    await provider.close();
    await api.close();
  });

  test("a START's 'resubscribed' answer not yet sent when the person says STOP again is blocked; both STOP confirmations go", async () => {
    const phone = "+12065553100";
    const replies: string[] = [];
    for (const word of ["STOP", "START", "STOP"]) {
      const outcome = await api.pipeline.handleInbound({
        from: phone,
        to: OUR,
        text: word,
        media: [],
        providerMessageId: null,
        receivedAt: Date.now(),
      });
      replies.push(outcome!.reply!.id);
    }
    while ((await worker.runOnce()) > 0) {}
    const statuses = [];
    for (const id of replies) {
      const event = (await api.call("GET", `/events/${id}`)).json();
      statuses.push(`${event.status}/${event.complianceAction ?? ""}`);
    }
    // Received by the provider (Sending until its receipt, a minute away) or blocked by the gate.
    assert.deepEqual(
      statuses.map((s) => (s.startsWith("Blocked") ? s : "handed over")),
      ["handed over", "Blocked/Suppressed", "handed over"],
      statuses.join(", "),
    );
  });
});
