import assert from "node:assert/strict";
import { test } from "node:test";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { startTestApi } from "./helpers/api.js";
import { addLead, addSenderNumber, startSimulator, waitForEvent } from "./helpers/messaging.js";

// Stopping the pipeline must not strand the simulator's messages in Sent: the receipts it still
// owes are delivered as it closes, as a real provider would deliver them after we stop.

test("the simulator's pending receipts are delivered when the pipeline stops", async () => {
  const api = await startTestApi("sqlite", { env: { LEADTRAIL_QUIET_HOURS: "off" } });
  try {
    await addSenderNumber(api);
    startSimulator(api, 3_600_000); // receipts an hour away: only the stop can deliver them
    const { conversationId } = await addLead(api, "+12125550161");
    const res = await api.call("POST", "/sms/send", { conversationId, text: "Before the stop" });
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().id as string;
    await waitForEvent(api, id, (e) => e.status === "Sent");
    await api.pipeline.stop();
    const done = (await api.call("GET", `/events/${id}`)).json();
    assert.equal(done.status, "Delivered");
    assert.equal(done.billingStatus, "Billed");
  } finally {
    await api.close();
  }
});

test("closing the simulator waits for a receipt whose delivery has already begun", async () => {
  let release: () => void = () => {};
  let started: () => void = () => {};
  const begun = new Promise<void>((resolve) => {
    started = resolve;
  });
  const applied: string[] = [];
  // A pipeline busy applying the receipt (a group commit in progress) until released.
  const provider = new SimulatorProvider(
    {
      receipt: async (receipt) => {
        started();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        applied.push(receipt.kind);
      },
      inbound: async () => {},
    },
    1,
  );
  const accepted = await provider.send({
    organizationId: "org_1",
    eventId: "evt_1",
    from: "+14155550100",
    to: "+12125550162",
    text: "Hi",
    mediaUrls: [],
  });
  assert.equal(accepted.kind, "accepted");
  await begun; // the receipt's timer fired and its delivery is under way
  let closed = false;
  const closing = provider.close().then(() => {
    closed = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, "close() waits while the receipt is being applied");
  release();
  await closing;
  assert.deepEqual(applied, ["delivered"]);
});
