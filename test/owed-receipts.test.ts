import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { unsettledSends, unsettledSendsQuery } from "../src/messaging/unsettled-sends.js";
import { insertEvents } from "../src/store/events-repo.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import { forEachEngine, openTestDatabase, type TestDatabase } from "./helpers/engines.js";
import { outboundSmsRow } from "./helpers/messaging.js";

// A worker started with the simulator delivers the receipts an earlier process owed: it looks up the
// simulator's messages still Sent. That look-up reads a partial index of them, not every message.

forEachEngine("receipts owed by the simulator", (engine) => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await openTestDatabase(engine);
  });
  after(() => tdb.cleanup());

  const simulatorPrefix = new SimulatorProvider({} as never).owedReceipts.providerIdPrefix;

  test("only the simulator's messages still Sent are owed, matched exactly by their prefix", async () => {
    const db = tdb.store.db;
    const org = await createOrganization(db, "Owed receipts");
    const message = (providerMessageId: string, status: string) =>
      outboundSmsRow(
        org,
        { to_phone_number: "+12125550161", provider_message_id: providerMessageId, status },
        1_000,
      );
    const owed = message(`${simulatorPrefix}owed`, "Sent");
    await insertEvents(db, [
      owed,
      message(`${simulatorPrefix}settled`, "Delivered"),
      // Not the simulator's: another case, and "_" read as LIKE's wildcard.
      message(`${simulatorPrefix.toUpperCase()}other`, "Sent"),
      message(`${simulatorPrefix.slice(0, -1)}Xother`, "Sent"),
      message("40317f5a-2b7c-4a5e-9d4b-5f0d3c1b2a99", "Sent"),
    ]);
    assert.deepEqual(await unsettledSends(db, simulatorPrefix), [
      {
        organizationId: org.organizationId,
        eventId: owed.id,
        providerMessageId: `${simulatorPrefix}owed`,
        to: "+12125550161",
      },
    ]);
  });

  test("the look-up reads the index of the simulator's Sent messages, not every message", async () => {
    const db = tdb.store.db;
    const query = unsettledSendsQuery(db, simulatorPrefix).compile();
    assert.deepEqual(query.parameters, [], "literals, which the partial index's condition can match");
    const plan = await db.transaction().execute(async (trx) => {
      if (engine === "postgresql") {
        // The test tables are small enough for a scan of the table to look cheaper: only whether the
        // index can serve the query is checked here.
        await sql`set local enable_seqscan = off`.execute(trx);
        const rows = await sql<Record<string, string>>`explain ${sql.raw(query.sql)}`.execute(trx);
        return rows.rows.map((row) => Object.values(row).join(" ")).join("\n");
      }
      const rows = await sql<{ detail: string }>`explain query plan ${sql.raw(query.sql)}`.execute(trx);
      return rows.rows.map((row) => row.detail).join("\n");
    });
    assert.match(plan, /events_owed_receipts/, plan);
  });
});
