import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertEventRecord, assertLeadpingShape, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { isFinal, startSimulator, waitForEvent } from "./helpers/messaging.js";

forEachEngine("notes, conversations and event detail", (engine) => {
  let api: TestApi;
  let leadId: string;
  let conversationId: string;

  before(async () => {
    api = await startTestApi(engine);
    leadId = (
      await api.call("POST", "/leads", {
        contact: {
          firstName: "Grace",
          lastName: "Kim",
          email: "grace@example.com",
          phone: { number: "(206) 555-0119" },
        },
      })
    ).json().id;
    conversationId = (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0].id;
  });
  after(() => api.close());

  /** A sender number of the test organization (POST /phone-numbers), by id. */
  const addNumber = async (number: string, name: string, routing: Record<string, unknown> = {}) => {
    const res = await api.call("POST", "/phone-numbers", { number, name, routing });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().id as string;
  };

  /** POST /sms/send from a chosen number (a manual override). */
  const sendFrom = (conversationId: string, fromPhoneNumberId: string) =>
    api.call("POST", "/sms/send", {
      conversationId,
      text: "Hello",
      fromPhoneNumberId,
      wasManuallyOverridden: true,
    });

  test("a note is a Note event answered as an event record, created by the acting user", async () => {
    const res = await api.call("POST", `/events/conversations/${conversationId}/notes`, {
      text: "  Call after 5pm.  ",
    });
    assert.equal(res.statusCode, 200, res.body);
    const note = res.json();
    assertEventRecord(note);
    assert.equal(note.activityType, "Note");
    assert.equal(note.timelineType, "Note");
    assert.equal(note.summary, "Call after 5pm.");
    assert.equal(note.createdBy, api.org.userId);
    assert.equal(note.actorUserId, api.org.userId);
    assert.equal(note.actorDisplayName, "Owner");
    assert.equal(note.conversationId, conversationId);
    assert.equal(note.leadId, leadId);
    assert.deepEqual((await api.call("GET", `/events/${note.id}`)).json(), note);
  });

  test("note text must be 1 to 5,000 characters after trimming", async () => {
    for (const text of ["", "   \n\t ", "x".repeat(5001), "\u{1F600}".repeat(5001)]) {
      const res = await api.call("POST", `/events/conversations/${conversationId}/notes`, { text });
      assert.equal(res.statusCode, 400, `text of length ${text.length}`);
      assert.match(res.json().detail, /text/);
    }
    const longest = await api.call("POST", `/events/conversations/${conversationId}/notes`, {
      text: ` ${"y".repeat(5000)} `,
    });
    assert.equal(longest.statusCode, 200);
    // Characters, not UTF-16 units: 5,000 emoji are 5,000 characters.
    const emoji = await api.call("POST", `/events/conversations/${conversationId}/notes`, {
      text: "\u{1F600}".repeat(5000),
    });
    assert.equal(emoji.statusCode, 200, emoji.body);
    const missing = await api.call("POST", `/events/conversations/${conversationId}/notes`, {});
    assert.equal(missing.statusCode, 400);
    assert.match(missing.json().detail, /text/);
    const unknown = await api.call("POST", "/events/conversations/conv_01HZZZZZZZZZZZZZZZZZZZZZZZ/notes", {
      text: "hi",
    });
    assert.equal(unknown.statusCode, 404);
  });

  test("the conversation keeps lastSnippet and lastEventAt current, newest conversation first", async () => {
    const note = (
      await api.call("POST", `/events/conversations/${conversationId}/notes`, { text: "Spouse decides." })
    ).json();
    const mine = (await api.call("POST", "/conversations/my", {})).json();
    const conversation = mine.items.find((c: { id: string }) => c.id === conversationId);
    assert.equal(conversation.lastSnippet, "Spouse decides.");
    assert.equal(conversation.lastEventAt, note.createdAt);
    assert.equal(conversation.lastEventIsInternalNote, true);
    assert.equal(conversation.firstName, "Grace");
    assert.equal(conversation.email, "grace@example.com");
    assert.equal(conversation.leadPhoneNumber, "+12065550119");

    const other = (
      await api.call("POST", "/leads", {
        contact: { firstName: "Later", phone: { number: "(305) 555-0100" } },
      })
    ).json();
    const after = (await api.call("POST", "/conversations/my", {})).json();
    assert.equal(after.items[0].leadId, other.id, "the newest activity comes first");
    assert.equal(after.items[1].id, conversationId);
  });

  test("a conversation shows its manual override and the number it sends from", async () => {
    const conversation = async () =>
      (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    const before = await conversation();
    assert.equal(before.outboundPhoneNumberOverrideId, null);
    assert.equal(before.activeOutboundPhoneNumberId, null);
    assert.equal(before.phoneNumber, null);

    const main = await addNumber("+12065550170", "Main line", { tenDlcCampaignId: "CAMP-10DLC" });
    const backup = await addNumber("+12065550171", "Backup line", { tenDlcCampaignId: "CAMP-10DLC" });
    const override = `/phone-numbers/outgoing/conversation/${conversationId}/override`;
    const set = await api.call("POST", override, {
      fromPhoneNumberId: backup,
      selection: { channel: "sms" },
    });
    assert.equal(set.statusCode, 200, set.body);
    const overridden = await conversation();
    assert.equal(overridden.outboundPhoneNumberOverrideId, backup);
    assert.equal(overridden.activeOutboundPhoneNumberId, backup);
    assert.deepEqual(overridden.phoneNumber, { id: backup, name: "Backup line", value: "+12065550171" });

    // Without the override, the number the conversation last sent from is the active one (sticky).
    assert.equal((await api.call("DELETE", override)).statusCode, 200);
    const send = await sendFrom(conversationId, main);
    assert.equal(send.statusCode, 201, send.body);
    const sticky = await conversation();
    assert.equal(sticky.outboundPhoneNumberOverrideId, null);
    assert.equal(sticky.activeOutboundPhoneNumberId, main);
    assert.deepEqual(sticky.phoneNumber, { id: main, name: "Main line", value: "+12065550170" });
  });

  test("a conversation's status follows its last message: open, needs_reply, waiting, failed", async () => {
    const lead = (
      await api.call("POST", "/leads", {
        contact: { firstName: "Inbox", phone: { number: "(206) 555-0150" } },
      })
    ).json();
    const state = async () => {
      const c = (await api.call("POST", `/conversations/lead/${lead.id}`, {})).json().items[0];
      return [c.status, c.statusReason === null ? null : typeof c.statusReason];
    };
    assert.deepEqual(await state(), ["open", null]);
    const registered = await addNumber("+12065550180", "Registered", { tenDlcCampaignId: "CAMP-10DLC" });
    const unregistered = await addNumber("+12065550181", "Unregistered");
    const inbound = await api.call("POST", "/simulator/inbound", {
      from: "+12065550150",
      to: "+12065550180",
      text: "Is this still available?",
    });
    assert.equal(inbound.statusCode < 300, true, inbound.body);
    assert.deepEqual(await state(), ["needs_reply", "string"]);
    const conversationId = (await api.call("POST", `/conversations/lead/${lead.id}`, {})).json().items[0].id;
    startSimulator(api);
    const send = async (from: string) => {
      const res = await sendFrom(conversationId, from);
      assert.equal(res.statusCode, 201, res.body);
      return waitForEvent(api, res.json().id, isFinal);
    };
    assert.equal((await send(registered)).status, "Delivered");
    assert.deepEqual(await state(), ["waiting", "string"]);
    // A US message from a number without a 10DLC campaign is Blocked: it never reaches the lead.
    assert.equal((await send(unregistered)).status, "Blocked");
    assert.deepEqual(await state(), ["failed", "string"]);
  });

  test("lastEventAt and lastSnippet never move back for an event stamped earlier than the shown one", async () => {
    const { touchConversation } = await import("../src/store/leads-repo.js");
    const shown = (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    const earlier = Date.parse(shown.lastEventAt) - 60_000;
    // A late webhook: a message the provider received a minute before what the inbox shows.
    const touch = (id: string, at: number, snippet: string) =>
      touchConversation(api.db.store.db, api.org.organizationId, conversationId, {
        id,
        at,
        snippet,
        isInternalNote: false,
      });
    await touch("evt_01HZZZZZZZZZZZZZZZZZZZZZZ1", earlier, "late");
    const after = (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    assert.equal(after.lastEventAt, shown.lastEventAt);
    assert.equal(after.lastSnippet, shown.lastSnippet);
    assert.equal(after.lastEventIsInternalNote, shown.lastEventIsInternalNote);
    const later = Date.parse(shown.lastEventAt) + 1;
    await touch("evt_01HZZZZZZZZZZZZZZZZZZZZZZ2", later, "newer");
    const moved = (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    assert.equal(moved.lastEventAt, new Date(later).toISOString());
    assert.equal(moved.lastSnippet, "newer");
    // Two events in one millisecond: the timeline puts the greater id first, and so does the view,
    // whichever is written last.
    const same = later + 1;
    await touch("evt_01HZZZZZZZZZZZZZZZZZZZZZZB", same, "B, the later id");
    await touch("evt_01HZZZZZZZZZZZZZZZZZZZZZZA", same, "A, written after B");
    const tied = (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    assert.equal(tied.lastSnippet, "B, the later id");
    await touch("evt_01HZZZZZZZZZZZZZZZZZZZZZZC", same, "C, the latest id");
    assert.equal(
      (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0].lastSnippet,
      "C, the latest id",
    );
  });

  test("a canceled message is not the conversation's preview: the newest event not canceled is", async () => {
    await addNumber("+12065550190", "Preview line");
    const preview = async () => (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    await api.call("POST", `/events/conversations/${conversationId}/notes`, { text: "Before the schedule." });
    const scheduled = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Will be canceled.",
      scheduledFor: new Date(Date.now() + 3_600_000).toISOString(),
    });
    assert.equal(scheduled.statusCode, 201, scheduled.body);
    assert.equal((await preview()).lastSnippet, "Will be canceled.");
    const lastEventAt = (await preview()).lastEventAt;
    const canceled = await api.call("POST", `/sms/${scheduled.json().id}/cancel`, {});
    assert.equal(canceled.statusCode, 200, canceled.body);
    const after = await preview();
    assert.equal(after.lastSnippet, "Before the schedule.");
    assert.equal(after.lastEventIsInternalNote, true);
    assert.equal(after.lastEventAt, lastEventAt);
    // What comes next is shown as usual.
    await api.call("POST", `/events/conversations/${conversationId}/notes`, { text: "After the cancel." });
    assert.equal((await preview()).lastSnippet, "After the cancel.");
  });

  test("lastSnippet keeps the first 160 characters whole: an emoji at the cut is not split", async () => {
    const preview = async () => (await api.call("POST", `/conversations/lead/${leadId}`, {})).json().items[0];
    // 159 letters, then an emoji (two UTF-16 units) as the 160th character, then more.
    const text = `${"a".repeat(159)}\u{1F600} and the rest of the note`;
    const note = await api.call("POST", `/events/conversations/${conversationId}/notes`, { text });
    assert.equal(note.statusCode, 200, note.body);
    const shown = await preview();
    assertLeadpingShape(shown, "ConversationResponse");
    assert.equal(shown.lastSnippet, `${"a".repeat(159)}\u{1F600}`);
    assert.equal(shown.lastSnippet.includes("\uFFFD"), false);
    // The preview a cancel goes back to is cut the same way.
    await addNumber("+12065550191", "Snippet line");
    const scheduled = await api.call("POST", "/sms/send", {
      conversationId,
      text: "Soon canceled.",
      scheduledFor: new Date(Date.now() + 3_600_000).toISOString(),
    });
    assert.equal(scheduled.statusCode, 201, scheduled.body);
    assert.equal((await api.call("POST", `/sms/${scheduled.json().id}/cancel`, {})).statusCode, 200);
    assert.equal((await preview()).lastSnippet, `${"a".repeat(159)}\u{1F600}`);
    // Searching the inbox by the snippet finds it by the emoji.
    const found = await api.call("POST", "/conversations/my", {
      search: "a\u{1F600}",
      searchFields: ["lastSnippet"],
    });
    assert.equal(found.statusCode, 200, found.body);
    assert.deepEqual(
      found.json().items.map((c: { id: string }) => c.id),
      [conversationId],
    );
  });

  test("an empty body with Content-Type: application/json is no body", async () => {
    // A route that takes no body answers as if none was sent…
    const cleared = await api.call(
      "DELETE",
      `/phone-numbers/outgoing/conversation/${conversationId}/override`,
      "",
    );
    assert.equal(cleared.statusCode, 200, cleared.body);
    // …and a route that needs one refuses it as it refuses a request without one, writing nothing.
    const list = await api.call("POST", "/conversations/my", "");
    assert.equal(list.statusCode, 400, list.body);
    assert.equal(list.body, (await api.call("POST", "/conversations/my")).body);
    const leadsBefore = (await api.call("POST", "/leads/all/my", { includeCount: true })).json().totalCount;
    const lead = await api.call("POST", "/leads", "");
    assert.equal(lead.statusCode, 400, lead.body);
    assert.equal(lead.headers["content-type"], "application/problem+json; charset=utf-8");
    assert.equal(
      (await api.call("POST", "/leads/all/my", { includeCount: true })).json().totalCount,
      leadsBefore,
    );
  });

  test("event detail shows EventDetailResponse with the ordered transition log", async () => {
    const note = (
      await api.call("POST", `/events/conversations/${conversationId}/notes`, { text: "Detail me." })
    ).json();
    const res = await api.call("GET", `/events/detail/${note.id}`);
    assert.equal(res.statusCode, 200, res.body);
    const detail = res.json();
    assert.equal(detail.id, note.id);
    assert.equal(detail.eventType, "NoteCreated");
    assert.equal(detail.timelineType, "Note");
    assert.equal(detail.status, "Completed");
    assert.equal(detail.userId, api.org.userId);
    assert.equal(detail.createdAt, note.createdAt);
    assert.deepEqual(
      detail.transitions.map((t: { seq: number; toStatus: string; applied: boolean }) => [
        t.seq,
        t.toStatus,
        t.applied,
      ]),
      [[1, "Completed", true]],
    );
    assert.equal((await api.call("GET", "/events/detail/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ")).statusCode, 404);
  });

  test("another organization sees none of it: 404 exactly as for ids that do not exist", async () => {
    const other = await api.call("POST", "/leads", { contact: { firstName: "x" } });
    assert.equal(other.statusCode, 201);
    const { createOrganization } = await import("../src/store/orgs-repo.js");
    const stranger = await createOrganization(api.db.store.db, "Stranger");
    const note = (
      await api.call("POST", `/events/conversations/${conversationId}/notes`, { text: "private" })
    ).json();
    const probes: Array<[string, string, unknown]> = [
      ["GET", `/events/${note.id}`, undefined],
      ["GET", `/events/detail/${note.id}`, undefined],
      ["GET", `/leads/${leadId}`, undefined],
      ["POST", `/events/leads/${leadId}`, {}],
      ["POST", `/events/conversations/${conversationId}`, {}],
      ["POST", `/events/organizations/${api.org.organizationId}`, {}],
      ["POST", `/conversations/lead/${leadId}`, {}],
      ["POST", `/events/conversations/${conversationId}/notes`, { text: "intrusion" }],
      ["PUT", `/leads/${leadId}`, { contact: { firstName: "hijack" } }],
    ];
    for (const [method, url, body] of probes) {
      const theirs = await api.call(method as "GET", url, body, stranger.apiKey);
      const missing = await api.call(
        method as "GET",
        url.replace(/(evt|lead|conv|org)_[0-9A-Z]{26}/, "$1_01HZZZZZZZZZZZZZZZZZZZZZZZ"),
        body,
        stranger.apiKey,
      );
      assert.equal(theirs.statusCode, 404, `${method} ${url}`);
      assert.equal(missing.statusCode, 404);
      const strip = (b: { instance: string; detail: string }) => ({
        ...b,
        instance: undefined,
        detail: b.detail.replace(/'[^']+'/, "'…'"),
      });
      assert.deepEqual(strip(theirs.json()), strip(missing.json()), `${method} ${url} leaks existence`);
    }
    const lead = (await api.call("GET", `/leads/${leadId}`)).json();
    assert.equal(lead.contact.firstName, "Grace", "the stranger's PUT changed nothing");
  });
});
