import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { transitionBatch } from "../src/messaging/batch-transitions.js";
import { loadEvent } from "../src/messaging/transitions.js";
import type { EventRow } from "../src/store/schema.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

// The batched transition (one UPDATE … FROM VALUES and one log INSERT for many events) keeps the
// rules of a single transition: the guard on status and retry count, per-event values, and a
// numbered log entry for exactly the events it changed.

forEachEngine("batched transitions", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine); // no worker: messages stay Queued
    await addSenderNumber(api);
  });
  after(() => api.close());

  const queue = async (phone: string): Promise<EventRow> => {
    const { conversationId } = await addLead(api, phone);
    const res = await api.call("POST", "/sms/send", { conversationId, text: "Hello" });
    assert.equal(res.statusCode, 201, res.body);
    return (await loadEvent(api.db.store.db, api.org.organizationId, res.json().id))!;
  };

  test("moves every event whose guard holds, with its own values, and logs each once", async () => {
    const events = [await queue("+12125550301"), await queue("+12125550302"), await queue("+12125550303")];
    // Another writer moved the second one after it was read: the batch must leave it alone.
    await api.db.store.db
      .updateTable("events")
      .set({ status: "Canceled" })
      .where("id", "=", events[1]!.id)
      .execute();
    const at = Date.now();
    const moved = await api.db.store.db.transaction().execute((trx) =>
      transitionBatch(trx, {
        perEvent: { from_phone_number: "text", next_attempt_at: "bigint" },
        items: events.map((event, i) => ({
          event,
          changes: {
            status: "Sending",
            sending_started_at: at,
            next_retry_at: null,
            from_phone_number: `+1415555010${i}`,
            next_attempt_at: at + i,
          },
          log: { stage: "sending", message: `batch ${i}` },
        })),
        at,
      }),
    );
    assert.deepEqual(
      moved.map((e) => e.id),
      [events[0]!.id, events[2]!.id],
    );
    for (const i of [0, 2]) {
      const row = (await loadEvent(api.db.store.db, api.org.organizationId, events[i]!.id))!;
      assert.equal(row.status, "Sending");
      assert.equal(row.from_phone_number, `+1415555010${i}`);
      assert.equal(row.next_attempt_at, at + i);
      assert.equal(row.sending_started_at, at);
      assert.equal(row.modified_at, at);
      const detail = (await api.call("GET", `/events/detail/${events[i]!.id}`)).json();
      assert.deepEqual(
        detail.transitions.map((t: { seq?: number; toStatus: string; message: string }) => [
          t.toStatus,
          t.message,
        ]),
        [
          ["Queued", "Sms event created as Queued."],
          ["Sending", `batch ${i}`],
        ],
      );
    }
    const untouched = (await loadEvent(api.db.store.db, api.org.organizationId, events[1]!.id))!;
    assert.equal(untouched.status, "Canceled");
    assert.equal(untouched.from_phone_number, events[1]!.from_phone_number);
    const log = await api.db.store.db
      .selectFrom("event_transitions")
      .select("seq")
      .where("event_id", "=", events[1]!.id)
      .execute();
    assert.equal(log.length, 0, "no log entry for an event the batch did not change");
  });

  test("items that differ outside their per-event columns are refused, and nothing changes", async () => {
    const events = [await queue("+12125550305"), await queue("+12125550306")];
    const attempt = api.db.store.db.transaction().execute((trx) =>
      transitionBatch(trx, {
        perEvent: { from_phone_number: "text" },
        items: events.map((event, i) => ({
          event,
          changes: { status: i === 0 ? "Sending" : "Blocked", from_phone_number: "+14155550100" },
          log: { stage: "test", message: "mixed" },
        })),
        at: Date.now(),
      }),
    );
    await assert.rejects(attempt, /differ outside their per-event columns/);
    for (const event of events) {
      assert.equal((await loadEvent(api.db.store.db, api.org.organizationId, event.id))!.status, "Queued");
    }
  });

  test("a second batch continues each event's log numbering", async () => {
    const event = await queue("+12125550304");
    const at = Date.now();
    const step = (from: EventRow, status: string, message: string) =>
      api.db.store.db.transaction().execute((trx) =>
        transitionBatch(trx, {
          perEvent: {},
          items: [{ event: from, changes: { status }, log: { stage: "test", message } }],
          at,
        }),
      );
    const [sending] = await step(event, "Sending", "first");
    await step(sending!, "Sent", "second");
    const seqs = await api.db.store.db
      .selectFrom("event_transitions")
      .select(["seq", "to_status"])
      .where("event_id", "=", event.id)
      .orderBy("seq")
      .execute();
    assert.deepEqual(
      seqs.map((r) => [r.seq, r.to_status]),
      [
        [1, "Queued"],
        [2, "Sending"],
        [3, "Sent"],
      ],
    );
  });
});
