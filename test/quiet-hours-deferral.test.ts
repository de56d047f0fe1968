import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber, clockedWorker, waitForEvent } from "./helpers/messaging.js";

// Quiet hours defer every message a worker claims while it is night at the recipients (a campaign
// queued in the evening): the claim writes those deferrals in one batch, not two statements each,
// and each message still gets its own time, reason and log entry.

/** The next 09:00 UTC: night in New York (04:00 or 05:00) and in Los Angeles (01:00 or 02:00). */
function nightInTheUs(): number {
  const at = new Date();
  at.setUTCHours(9, 0, 0, 0);
  return at.getTime() > Date.now() ? at.getTime() : at.getTime() + 86_400_000;
}

/** 08:00 on the day of `at` in `zone` (when quiet hours end there). */
function eightInTheMorning(at: number, zone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hour: "numeric",
    minute: "numeric",
    hourCycle: "h23",
  }).formatToParts(at);
  const local = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return at + ((8 - local("hour")) * 60 - local("minute")) * 60_000;
}

forEachEngine("quiet-hours deferrals", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine); // no worker of its own: only the one below claims
    await addSenderNumber(api);
  });
  after(() => api.close());

  test("a claim that quiet hours defer writes them in as many statements for six messages as for two, each with its own time", async () => {
    const night = nightInTheUs();
    const { worker, reset, statements } = clockedWorker(api, engine, () => night);
    const zones = ["America/New_York", "America/Los_Angeles"];
    let nextPhone = 0;
    /** Queues `count` messages, to New York and Los Angeles in turn, and claims them in one round. */
    const deferRound = async (count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const phone = `+1212555${String(600 + nextPhone++).padStart(4, "0")}`;
        const { conversationId } = await addLead(api, phone, { timeZoneId: zones[i % 2] });
        const res = await api.call("POST", "/sms/send", { conversationId, text: "Your quote is ready." });
        assert.equal(res.statusCode, 201, res.body);
        ids.push(res.json().id as string);
      }
      reset();
      assert.equal(await worker.runOnce(), count);
      const used = statements();
      for (const [i, id] of ids.entries()) {
        const until = eightInTheMorning(night, zones[i % 2]!);
        const sms = await waitForEvent(api, id, () => true);
        assert.equal(sms.status, "Scheduled");
        assert.equal(sms.scheduledReason, "QuietHours");
        assert.equal(sms.scheduledFor, new Date(until).toISOString());
        assert.equal(
          sms.statusReason,
          `Quiet hours at the recipient until ${new Date(until).toISOString()}.`,
        );
        const detail = (await api.call("GET", `/events/detail/${id}`)).json();
        assert.deepEqual(
          detail.transitions.map((t: { toStatus: string; message: string }) => [t.toStatus, t.message]),
          [
            ["Queued", "Sms event created as Queued."],
            ["Scheduled", `Deferred to ${new Date(until).toISOString()}: quiet hours at the recipient.`],
          ],
        );
      }
      return used;
    };
    assert.equal(await deferRound(6), await deferRound(2));
  });
});
