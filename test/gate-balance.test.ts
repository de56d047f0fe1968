import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import { readGateFacts } from "../src/messaging/gate-facts.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine, PG_URL } from "./helpers/engines.js";
import { addLead, addSenderNumber } from "./helpers/messaging.js";

// What the compliance gate lets an organization spend: its wallet less the messages handed to a
// provider and not billed yet. A charge that lands while the gate reads must count once.

const PRICE = 7900;

forEachEngine("gate balance", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine); // no worker runs: the test plays the worker's parts
    await addSenderNumber(api);
  });
  after(() => api.close());

  test("a message in flight is reserved once, and a charge committed mid-gate is not counted twice", async () => {
    const db = api.db.store.db;
    const organizationId = api.org.organizationId;
    await db
      .updateTable("wallets")
      .set({ balance_micros: 2 * PRICE })
      .where("organization_id", "=", organizationId)
      .execute();
    const send = async (phone: string) => {
      const { conversationId } = await addLead(api, phone);
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Hello" });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id as string;
    };
    const inFlight = await send("+12125552001");
    const next = await send("+12125552002");
    // The first is with the provider: Sending, its reconcile deadline ahead, not billed yet.
    await db
      .updateTable("events")
      .set({
        status: "Sending",
        next_attempt_at: Date.now() + 300_000,
        billing_status: null,
        price_micros: PRICE,
      })
      .where("id", "=", inFlight)
      .execute();
    const nextRow = await db
      .selectFrom("events")
      .selectAll()
      .where("id", "=", next)
      .executeTakeFirstOrThrow();
    assert.ok(nextRow.from_phone_number_id, "the gate reads the message's sender number");
    const gate = () => db.transaction().execute((trx) => readGateFacts(trx, [nextRow], Date.now()));
    const bill = () =>
      db.transaction().execute(async (trx) => {
        await trx
          .updateTable("events")
          .set({ billing_status: "Billed" })
          .where("id", "=", inFlight)
          .execute();
        await trx
          .updateTable("wallets")
          .set((eb) => ({ balance_micros: eb("balance_micros", "-", PRICE) }))
          .where("organization_id", "=", organizationId)
          .execute();
      });

    assert.equal((await gate()).balances.get(organizationId), PRICE, "the wallet less the message in flight");
    if (engine === "sqlite") {
      // One writer at a time: a charge cannot commit inside the gate's transaction here.
      await bill();
      assert.equal((await gate()).balances.get(organizationId), PRICE);
      return;
    }
    // PostgreSQL: another session holds the sender numbers, so the gate stops part-way, when it
    // reads them; the first message's charge commits meanwhile.
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    try {
      await holder.query(`set search_path to ${api.db.options.pgSchema}`);
      await holder.query("begin");
      await holder.query("lock table phone_numbers in access exclusive mode");
      const gated = gate();
      let waiting = 0;
      for (let tries = 0; waiting === 0 && tries < 1000; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        waiting = (await holder.query("select count(*)::int as n from pg_locks where not granted")).rows[0].n;
      }
      assert.ok(waiting > 0, "the gate waits for the sender numbers");
      await bill();
      await holder.query("commit");
      assert.equal((await gated).balances.get(organizationId), PRICE, "the charge is counted once");
    } finally {
      await holder.end();
    }
  });
});
