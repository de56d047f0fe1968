import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { SenderCandidate } from "../src/domain/sender-selection.js";
import { RecentSenderChoices } from "../src/services/recent-senders.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

// HealthyPool picks the least recently used number. Sends that arrive together are chosen before
// any of them is written, so each must see the numbers its siblings took, or a burst of new leads
// all goes out through one number (and meets its carrier's per-number limits) while the rest idle.

forEachEngine("sender spread", (engine) => {
  let api: TestApi;
  const pool: string[] = [];
  before(async () => {
    api = await startTestApi(engine);
    for (let i = 0; i < 4; i++) {
      const row = await addSenderNumber(api, {
        number: `+1415555020${i}`,
        name: `Pool ${i}`,
        is_default: 0,
      });
      pool.push(row.id);
    }
  });
  after(() => api.close());

  test("a burst of sends to new leads uses every number of the pool, evenly", async () => {
    const conversations = [];
    for (let i = 0; i < 12; i++)
      conversations.push((await addLead(api, `+1212555${String(1000 + i)}`)).conversationId);
    const responses = await Promise.all(
      conversations.map((conversationId) =>
        api.call("POST", "/sms/send", { conversationId, text: "Hi from Summit Insurance." }),
      ),
    );
    const uses = new Map<string, number>();
    for (const res of responses) {
      assert.equal(res.statusCode, 201, res.body);
      const sms = res.json();
      assert.equal(sms.selectionReason, "HealthyPool");
      uses.set(sms.fromPhoneNumberId, (uses.get(sms.fromPhoneNumberId) ?? 0) + 1);
    }
    assert.deepEqual([...uses.keys()].sort(), [...pool].sort(), JSON.stringify([...uses]));
    assert.deepEqual([...uses.values()], [3, 3, 3, 3]);
  });
});

test("choices made in one millisecond still order; a number used since by another process keeps its later use", () => {
  const recent = new RecentSenderChoices();
  const pool = ["a", "b"].map((id) => ({ id, lastUsedAt: null }) as unknown as SenderCandidate);
  recent.record("org", "a", 1_000);
  recent.record("org", "b", 1_000);
  recent.record("org", "a", 1_000);
  const seen = recent.apply("org", pool, 1_000);
  // a was chosen last: its stamp is after b's though the clock did not move.
  assert.ok(seen[0]!.lastUsedAt! > seen[1]!.lastUsedAt!, JSON.stringify(seen));
  // Another organization's choices do not count, and a later use written by another process wins.
  assert.deepEqual(recent.apply("other", pool, 1_000), pool);
  const later = [{ ...pool[0]!, lastUsedAt: 5_000 }];
  assert.equal(recent.apply("org", later, 1_000)[0]!.lastUsedAt, 5_000);
});

test("choices are forgotten a minute after an organization's last one", () => {
  const recent = new RecentSenderChoices();
  const pool = [{ id: "a", lastUsedAt: null } as unknown as SenderCandidate];
  recent.record("org", "a", 1_000);
  assert.equal(recent.apply("org", pool, 61_000)[0]!.lastUsedAt, 1_000);
  assert.equal(recent.apply("org", pool, 61_001)[0]!.lastUsedAt, null);
});
