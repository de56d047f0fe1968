import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { addUser, type CreatedOrganization, createOrganization } from "../src/store/orgs-repo.js";
import { assertEventRecord, assertLeadpingShape, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

// ConversationResponse.isUnread: per user, true while the lead has sent a message that reached us
// after a page of the lead's or the conversation's timeline last showed that user the lead's latest.

forEachEngine("conversations read and unread per user", (engine) => {
  let api: TestApi;
  let colleague: CreatedOrganization;
  const OUR = "+14155550100";
  let phoneSuffix = 2000;
  before(async () => {
    api = await startTestApi(engine);
    await addSenderNumber(api, { number: OUR });
    const added = await addUser(api.db.store.db, api.org.organizationId, { name: "Sam Agent" });
    assert.ok(added);
    colleague = added;
  });
  after(() => api.close());

  const newLead = () => addLead(api, `+1206555${phoneSuffix++}`);

  const leadWrites = async (phone: string, text: string) => {
    const res = await api.call("POST", "/simulator/inbound", { from: phone, to: OUR, text });
    assert.equal(res.statusCode, 201, res.body);
    const event = res.json();
    assertEventRecord(event);
    return event as { id: string; conversationId: string; leadId: string };
  };

  const phoneOf = async (leadId: string) =>
    (await api.call("GET", `/leads/${leadId}`)).json().contact.phone.number as string;

  /** isUnread of the lead's conversation for the key's user, through both conversation lists. */
  const isUnread = async (leadId: string, conversationId: string, key = api.org.apiKey) => {
    const byLead = await api.call("POST", `/conversations/lead/${leadId}`, {}, key);
    assert.equal(byLead.statusCode, 200, byLead.body);
    const item = byLead.json().items[0];
    assertLeadpingShape(item, "ConversationResponse");
    const mine = await api.call(
      "POST",
      "/conversations/my",
      { filters: [{ field: "leadId", value: leadId }] },
      key,
    );
    assert.equal(mine.statusCode, 200, mine.body);
    const listed = mine.json().items.find((c: { id: string }) => c.id === conversationId);
    assert.equal(listed.isUnread, item.isUnread, "both lists agree");
    return item.isUnread as boolean;
  };

  const readTimeline = async (path: string, body: unknown = {}, key = api.org.apiKey) => {
    const res = await api.call("POST", path, body, key);
    assert.equal(res.statusCode, 200, res.body);
    return res.json().items as Array<{ id: string; direction: string | null }>;
  };

  test("a new conversation is read; the lead's message makes it unread for every user", async () => {
    const { leadId, conversationId } = await newLead();
    assert.equal(await isUnread(leadId, conversationId), false);
    assert.equal(await isUnread(leadId, conversationId, colleague.apiKey), false);
    await leadWrites(await phoneOf(leadId), "Is this still available?");
    assert.equal(await isUnread(leadId, conversationId), true);
    assert.equal(await isUnread(leadId, conversationId, colleague.apiKey), true);
  });

  test("reading the conversation's timeline reads it for that user only, until the lead writes again", async () => {
    const { leadId, conversationId } = await newLead();
    const phone = await phoneOf(leadId);
    await leadWrites(phone, "Hello?");
    await readTimeline(`/events/conversations/${conversationId}`);
    assert.equal(await isUnread(leadId, conversationId), false);
    assert.equal(
      await isUnread(leadId, conversationId, colleague.apiKey),
      true,
      "the colleague has not read it",
    );
    await leadWrites(phone, "Anyone there?");
    assert.equal(await isUnread(leadId, conversationId), true);
    await readTimeline(`/events/conversations/${conversationId}`);
    assert.equal(await isUnread(leadId, conversationId), false);
  });

  test("the lead's timeline and its message thread read the conversation too", async () => {
    const { leadId, conversationId } = await newLead();
    await leadWrites(await phoneOf(leadId), "Call me after 5");
    await readTimeline(`/events/leads/${leadId}`);
    assert.equal(await isUnread(leadId, conversationId), false);
    await readTimeline(`/events/sms/lead/${leadId}`, {}, colleague.apiKey);
    assert.equal(await isUnread(leadId, conversationId, colleague.apiKey), false);
  });

  test("a page that does not show the lead's newest message does not read it", async () => {
    const { leadId, conversationId } = await newLead();
    const phone = await phoneOf(leadId);
    const first = await leadWrites(phone, "First");
    const second = await leadWrites(phone, "Second");
    // Outbound only: shows none of the lead's messages.
    const outbound = await readTimeline(`/events/conversations/${conversationId}`, {
      filters: [{ field: "direction", value: "outbound" }],
    });
    assert.ok(outbound.every((e) => e.direction !== "inbound"));
    assert.equal(await isUnread(leadId, conversationId), true);
    // Oldest first, two per page: the lead's creation and the first message, not the second.
    const oldest = await readTimeline(`/events/conversations/${conversationId}`, {
      orderBy: [{ field: "createdAt", direction: "asc" }],
      pageSize: 2,
    });
    assert.ok(oldest.some((e) => e.id === first.id));
    assert.ok(!oldest.some((e) => e.id === second.id));
    assert.equal(await isUnread(leadId, conversationId), true, "the second message is still unread");
    // A page showing the second message reads the conversation; reading the older page again after
    // that does not make it unread.
    await readTimeline(`/events/conversations/${conversationId}`, {
      search: "Second",
    });
    assert.equal(await isUnread(leadId, conversationId), false);
    await readTimeline(`/events/conversations/${conversationId}`, {
      orderBy: [{ field: "createdAt", direction: "asc" }],
      pageSize: 2,
    });
    assert.equal(await isUnread(leadId, conversationId), false, "the mark never moves back");
  });

  test("many reads at once of a conversation and its lead agree, and leave one mark per user", async () => {
    const { leadId, conversationId } = await newLead();
    const phone = await phoneOf(leadId);
    await leadWrites(phone, "One");
    await leadWrites(phone, "Two");
    await leadWrites(phone, "Three");
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        readTimeline(
          i % 3 === 0 ? `/events/leads/${leadId}` : `/events/conversations/${conversationId}`,
          // Some pages show only older messages; the mark must still end at the newest.
          i % 2 === 0 ? {} : { orderBy: [{ field: "createdAt", direction: "asc" }], pageSize: 2 },
        ),
      ),
    );
    assert.equal(await isUnread(leadId, conversationId), false);
    const marks = await api.db.store.db
      .selectFrom("conversation_reads")
      .selectAll()
      .where("conversation_id", "=", conversationId)
      .execute();
    assert.deepEqual(
      marks.map((m) => [m.user_id, Number(m.read_inbound_count)]),
      [[api.org.userId, 3]],
    );
  });

  test("a message delivered late, with an earlier time, makes the conversation unread until a page shows it", async () => {
    const { leadId, conversationId } = await newLead();
    const phone = await phoneOf(leadId);
    await leadWrites(phone, "Newest by time");
    await readTimeline(`/events/conversations/${conversationId}`);
    assert.equal(await isUnread(leadId, conversationId), false);
    // A provider delivers an older message late, with the time it was sent (as Telnyx retries do).
    const late = await api.pipeline.handleInbound({
      from: phone,
      to: OUR,
      text: "Sent a minute ago, delivered now",
      media: [],
      providerMessageId: `late-${conversationId}`,
      receivedAt: Date.now() - 60_000,
    });
    assert.ok(late);
    assert.equal(await isUnread(leadId, conversationId), true);
    assert.equal(await isUnread(leadId, conversationId, colleague.apiKey), true);
    // Listed below newer events, it is read once a page shows it.
    const oldestFirst = await readTimeline(`/events/conversations/${conversationId}`, {
      orderBy: [{ field: "createdAt", direction: "asc" }],
    });
    assert.ok(oldestFirst.some((e) => e.id === late.event.id));
    assert.equal(await isUnread(leadId, conversationId), false);
    assert.equal(await isUnread(leadId, conversationId, colleague.apiKey), true);
  });

  test("our own messages and notes never make a conversation unread", async () => {
    const { leadId, conversationId } = await newLead();
    const note = await api.call(
      "POST",
      `/events/conversations/${conversationId}/notes`,
      { text: "Left a voicemail" },
      colleague.apiKey,
    );
    assert.equal(note.statusCode, 200, note.body);
    const sent = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Hi Pat, thanks for reaching out",
    });
    assert.ok(sent.statusCode < 300, sent.body);
    assert.equal(await isUnread(leadId, conversationId), false);
    assert.equal(await isUnread(leadId, conversationId, colleague.apiKey), false);
  });

  test("another organization's key cannot read this organization's conversation", async () => {
    const { leadId, conversationId } = await newLead();
    await leadWrites(await phoneOf(leadId), "Hi");
    const other = await createOrganization(api.db.store.db, "Other Org");
    const res = await api.call("POST", `/events/conversations/${conversationId}`, {}, other.apiKey);
    assert.equal(res.statusCode, 404);
    assert.equal(await isUnread(leadId, conversationId), true);
  });
});
