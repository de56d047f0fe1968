import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { sql } from "kysely";
import { type CreatedOrganization, createOrganization } from "../src/store/orgs-repo.js";
import { dayOf, newPhoneNumberRow } from "../src/store/phone-numbers-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

// The phone-number API (issue 3, items 1 and 2): CRUD, validation, tenant isolation, the default
// flag, health, and the outgoing-number selection end to end, one precedence rule at a time.

const PROBLEM = /^application\/problem\+json\b/;

function assertProblem(res: LightMyRequestResponse, status: number, ...mentions: string[]) {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers["content-type"]), PROBLEM, res.body);
  const body = res.json();
  assert.equal(body.status, status);
  for (const m of mentions)
    assert.ok(String(body.detail).includes(m), `detail should name '${m}': ${res.body}`);
  return body;
}

const numberBody = (number: string, overrides: Record<string, unknown> = {}) => ({
  number,
  name: `Line ${number.slice(-4)}`,
  routing: { tenDlcCampaignId: "CAMP-10DLC" },
  ...overrides,
});

forEachEngine("phone numbers", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  /** A fresh organization, so each scenario sees only its own numbers. */
  const newOrg = async (name: string) => {
    const org = await createOrganization(api.db.store.db, name);
    const call = (method: "GET" | "POST" | "PUT" | "DELETE", url: string, body?: unknown) =>
      api.call(method, url, body, org.apiKey);
    return { org, call };
  };
  type Org = Awaited<ReturnType<typeof newOrg>>;

  const create = async (o: Org, number: string, overrides: Record<string, unknown> = {}) => {
    const res = await o.call("POST", "/phone-numbers", numberBody(number, overrides));
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  /** Replaces the number's last seven days of outcomes with one day of these counts. */
  const setHealth = async (
    org: CreatedOrganization,
    phoneNumberId: string,
    counts: { sent?: number; failed?: number; carrier_blocked?: number },
  ) => {
    const db = api.db.store.db;
    await db
      .deleteFrom("phone_number_health_days")
      .where("organization_id", "=", org.organizationId)
      .where("phone_number_id", "=", phoneNumberId)
      .execute();
    await db
      .insertInto("phone_number_health_days")
      .values({
        organization_id: org.organizationId,
        phone_number_id: phoneNumberId,
        day: dayOf(Date.now()),
        sent: counts.sent ?? 0,
        failed: counts.failed ?? 0,
        carrier_blocked: counts.carrier_blocked ?? 0,
      })
      .execute();
  };

  /** PostgreSQL: whether a session of this database waits for a lock another one holds. */
  const someoneWaitsForALock = async () => {
    const { rows } = await sql<{ n: number | string }>`
      select count(*) as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(api.db.store.db);
    return Number(rows[0]?.n) > 0;
  };

  describe("CRUD", () => {
    test("POST normalizes the number, answers 200 PhoneNumberResponse (the subset lists only 200), and GET reads it back", async () => {
      const o = await newOrg("Crud Org");
      const res = await o.call("POST", "/phone-numbers", {
        number: "(415) 555-0123",
        name: "  Main line ",
        routing: { smsEnabled: true, sourceId: "fb", campaignId: "spring", tenDlcCampaignId: "C123" },
        isPreferred: true,
        warmup: { enabled: true },
      });
      assert.equal(res.statusCode, 200, res.body);
      const pn = res.json();
      assert.match(pn.id, /^pn_/);
      assert.equal(pn.number, "+14155550123");
      assert.equal(pn.name, "Main line");
      assert.equal(pn.enabled, true);
      assert.deepEqual(pn.organization, { id: o.org.organizationId, name: "Crud Org" });
      assert.equal(pn.leadpingOwned, false);
      assert.deepEqual(pn.routing, {
        smsEnabled: true,
        voiceEnabled: false,
        teamId: null,
        sourceId: "fb",
        campaignId: "spring",
        tenDlcApplicationId: "C123",
        tenDlcCampaignId: "C123",
      });
      assert.equal(pn.isPreferred, true);
      assert.equal(pn.isDefault, false);
      assert.deepEqual(pn.warmup, {
        enabled: true,
        state: "Not Started",
        healthStatus: "Healthy",
        healthScore: 100,
        progressPercent: 0,
        callStage: null,
      });
      assert.equal(pn.modifiedAt, null);
      assert.match(pn.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

      const read = await o.call("GET", `/phone-numbers/${pn.id}`);
      assert.equal(read.statusCode, 200, read.body);
      assert.deepEqual(read.json(), pn);
    });

    test("PUT replaces number and name, and the optional fields it gives; those left out keep their values; DELETE answers 204, then 404", async () => {
      const o = await newOrg("Put Org");
      const pn = await create(o, "+14155550124", {
        isPreferred: true,
        isDefault: true,
        warmupEnabled: true,
        routing: { campaignId: "x", sourceId: "fb", tenDlcApplicationId: "APP1" },
      });
      assert.equal(pn.routing.tenDlcCampaignId, "APP1");
      await api.db.store.db
        .updateTable("phone_numbers")
        .set({ warmup_started_at: Date.now() - 2 * 86_400_000 })
        .where("id", "=", pn.id)
        .execute();
      const canSendToUs = async () =>
        (await o.call("POST", "/phone-numbers/outgoing/new", { recipientPhoneNumber: "+12125550177" })).json()
          .canSend;
      assert.equal(await canSendToUs(), true);

      // A Leadping client's PhoneNumberRequest: only the subset's fields.
      const put = await o.call("PUT", `/phone-numbers/${pn.id}`, {
        id: pn.id,
        number: "415 555 0124",
        name: "Renamed",
        enabled: true,
      });
      assert.equal(put.statusCode, 200, put.body);
      const updated = put.json();
      assert.equal(updated.id, pn.id);
      assert.equal(updated.number, "+14155550124");
      assert.equal(updated.name, "Renamed");
      assert.equal(updated.enabled, true);
      assert.deepEqual(updated.routing, pn.routing);
      assert.equal(updated.isPreferred, true);
      assert.equal(updated.isDefault, true);
      assert.equal(updated.warmup.enabled, true);
      assert.equal(updated.warmup.state, "In Progress");
      assert.equal(updated.createdAt, pn.createdAt);
      assert.notEqual(updated.modifiedAt, null);
      assert.deepEqual((await o.call("GET", `/phone-numbers/${pn.id}`)).json(), updated);
      assert.equal(await canSendToUs(), true);

      // Null objects and null flags give nothing: they keep too. A given enabled is applied.
      const nulls = await o.call("PUT", `/phone-numbers/${pn.id}`, {
        number: "+14155550125",
        name: "Renamed",
        enabled: false,
        routing: null,
        warmup: null,
        isPreferred: null,
        isDefault: null,
        warmupEnabled: null,
      });
      assert.equal(nulls.statusCode, 200, nulls.body);
      const disabled = nulls.json();
      assert.equal(disabled.number, "+14155550125");
      assert.equal(disabled.enabled, false);
      assert.deepEqual(disabled.routing, pn.routing);
      assert.equal(disabled.isPreferred, true);
      assert.equal(disabled.isDefault, true);
      assert.equal(disabled.warmup.enabled, true);

      // Given values change them; an explicit null clears a routing id; an absent one still keeps,
      // and so does an absent enabled: the disabled number stays disabled.
      const changed = await o.call("PUT", `/phone-numbers/${pn.id}`, {
        number: "+14155550125",
        name: "Renamed",
        routing: { smsEnabled: false, tenDlcCampaignId: null, campaignId: null },
        isPreferred: false,
        isDefault: false,
        warmup: { enabled: false },
      });
      assert.equal(changed.statusCode, 200, changed.body);
      const cleared = changed.json();
      assert.equal(cleared.enabled, false, "enabled left out: kept");
      assert.deepEqual(cleared.routing, {
        ...pn.routing,
        smsEnabled: false,
        campaignId: null,
        tenDlcCampaignId: null,
        tenDlcApplicationId: null,
      });
      assert.equal(cleared.routing.sourceId, "fb");
      assert.equal(cleared.isPreferred, false);
      assert.equal(cleared.isDefault, false);
      assert.equal(cleared.warmup.enabled, false);
      // ... and a later Leadping-shaped PUT keeps those too, with enabled left out or null.
      for (const absent of [{}, { enabled: null }]) {
        const again = await o.call("PUT", `/phone-numbers/${pn.id}`, {
          number: "+14155550125",
          name: "Renamed",
          ...absent,
        });
        assert.deepEqual(again.json(), cleared);
      }
      const reenabled = await o.call("PUT", `/phone-numbers/${pn.id}`, {
        number: "+14155550125",
        name: "Renamed",
        enabled: true,
      });
      assert.equal(reenabled.json().enabled, true);

      const mismatch = await o.call("PUT", `/phone-numbers/${pn.id}`, {
        ...numberBody("+14155550125"),
        id: "pn_other",
      });
      assertProblem(mismatch, 400, "id");

      const del = await o.call("DELETE", `/phone-numbers/${pn.id}`);
      assert.equal(del.statusCode, 204, del.body);
      assert.equal(del.body, "");
      assertProblem(await o.call("GET", `/phone-numbers/${pn.id}`), 404);
      assertProblem(await o.call("DELETE", `/phone-numbers/${pn.id}`), 404);
      assertProblem(await o.call("PUT", `/phone-numbers/${pn.id}`, numberBody("+14155550125")), 404);
    });

    test("an empty name becomes the displayed number", async () => {
      const o = await newOrg("Name Org");
      const pn = await create(o, "+14155550126", { name: "" });
      assert.equal(pn.name, "(415) 555-0126");
    });
  });

  describe("validation", () => {
    test("a number that is not a phone number is a 400 naming `number`, and nothing is written", async () => {
      const o = await newOrg("Validation Org");
      for (const number of ["555-01", "not a number", "+1 000 000 0000", ""]) {
        const res = await o.call("POST", "/phone-numbers", numberBody(number));
        const problem = assertProblem(res, 400, "number");
        assert.ok(problem.errors?.number, res.body);
      }
      assertProblem(await o.call("POST", "/phone-numbers", { name: "no number" }), 400, "number");
      assertProblem(await o.call("POST", "/phone-numbers", { number: "+14155550100" }), 400, "name");
      assertProblem(
        await o.call("POST", "/phone-numbers", numberBody("+14155550100", { isDefault: "yes" })),
        400,
        "isDefault",
      );
      assertProblem(
        await o.call(
          "POST",
          "/phone-numbers",
          numberBody("+14155550100", { organizationId: "org_someone_else" }),
        ),
        400,
        "organizationId",
      );
      assertProblem(
        await o.call(
          "POST",
          "/phone-numbers",
          numberBody("+14155550100", { warmupEnabled: true, warmup: { enabled: false } }),
        ),
        400,
        "warmup",
      );
      assertProblem(
        await o.call("POST", "/phone-numbers", numberBody("+14155550100", { name: "bad\u0000name" })),
        400,
        "name",
      );
      const list = (await o.call("POST", "/phone-numbers/all/organization", { includeCount: true })).json();
      assert.equal(list.totalCount, 0);
    });

    test("the same number twice is a 409, whatever its format, in one organization or across two", async () => {
      const o = await newOrg("Dup Org");
      const first = await create(o, "+14155550130");
      const dup = await o.call("POST", "/phone-numbers", numberBody("(415) 555-0130"));
      assertProblem(dup, 409, "+14155550130");
      const second = await create(o, "+14155550131");
      assertProblem(await o.call("PUT", `/phone-numbers/${second.id}`, numberBody("+14155550130")), 409);
      // Re-saving a number with its own value is not a duplicate.
      const same = await o.call(
        "PUT",
        `/phone-numbers/${first.id}`,
        numberBody("+14155550130", { name: "Same" }),
      );
      assert.equal(same.statusCode, 200, same.body);

      // A number receives for one organization only: another one cannot register it as well, by POST
      // or by PUT, and its message says why. Once the first lets it go, the other may take it.
      const other = await newOrg("Other Dup Org");
      const taken = assertProblem(
        await other.call("POST", "/phone-numbers", numberBody("+14155550130")),
        409,
      );
      assert.match(String(taken.detail), /another organization/);
      const own = await create(other, "+14155550139");
      assertProblem(await other.call("PUT", `/phone-numbers/${own.id}`, numberBody("+14155550130")), 409);
      assert.equal((await o.call("DELETE", `/phone-numbers/${first.id}`)).statusCode, 204);
      await create(other, "+14155550130");
    });

    test("a number two organizations held before numbers had one owner stays editable by both", async () => {
      const first = await newOrg("Shared Before A");
      const second = await newOrg("Shared Before B");
      const mine = await create(first, "+14155550148", { routing: {} });
      // As a database from before the rule may hold it: the same number in a second organization.
      const theirs = newPhoneNumberRow(second.org.organizationId, {
        number: "+14155550148",
        name: "Theirs",
        enabled: 1,
        sms_enabled: 1,
        source_id: null,
        campaign_id: null,
        ten_dlc_campaign_id: null,
        is_preferred: 0,
        is_default: 0,
        warmup_enabled: 0,
      });
      await api.db.store.db.insertInto("phone_numbers").values(theirs).execute();
      for (const [o, id] of [
        [first, mine.id],
        [second, theirs.id],
      ] as const) {
        const renamed = await o.call("PUT", `/phone-numbers/${id}`, {
          number: "+14155550148",
          name: "Renamed",
          enabled: true,
          routing: { tenDlcCampaignId: "CAMP-LATER" },
        });
        assert.equal(renamed.statusCode, 200, renamed.body);
        assert.equal(renamed.json().routing.tenDlcCampaignId, "CAMP-LATER");
      }
    });
  });

  describe("tenant isolation", () => {
    test("another organization's number answers exactly as one that does not exist", async () => {
      const owner = await newOrg("Owner Org");
      const stranger = await newOrg("Stranger Org");
      const pn = await create(owner, "+14155550140");
      const path = `/phone-numbers/${pn.id}`;
      const foreign = {
        get: await stranger.call("GET", path),
        put: await stranger.call("PUT", path, numberBody("+14155550141")),
        del: await stranger.call("DELETE", path),
      };
      for (const res of Object.values(foreign)) assertProblem(res, 404);
      // Nothing changed for the owner.
      assert.deepEqual((await owner.call("GET", path)).json(), pn);
      const strangerList = (await stranger.call("POST", "/phone-numbers/all/organization", {})).json();
      assert.equal(strangerList.items.length, 0);

      // After the owner deletes it, the owner sees byte-for-byte what the stranger saw.
      assert.equal((await owner.call("DELETE", path)).statusCode, 204);
      assert.deepEqual((await owner.call("GET", path)).json(), foreign.get.json());
      assert.deepEqual(
        (await owner.call("PUT", path, numberBody("+14155550141"))).json(),
        foreign.put.json(),
      );
      assert.deepEqual((await owner.call("DELETE", path)).json(), foreign.del.json());
    });

    test("a foreign conversation is 404 and a foreign number cannot be an override", async () => {
      const owner = await newOrg("Conv Owner");
      const stranger = await newOrg("Conv Stranger");
      const ownerNumber = await create(owner, "+14155550142");
      const gone = await create(stranger, "+14155550143");
      await stranger.call("DELETE", `/phone-numbers/${gone.id}`);
      const lead = await owner.call("POST", "/leads", {
        contact: { firstName: "Iso", phone: { number: "+14155550199" } },
      });
      const conv = (await owner.call("POST", `/conversations/lead/${lead.json().id}`, {})).json().items[0];

      assertProblem(await stranger.call("POST", `/phone-numbers/outgoing/conversation/${conv.id}`, {}), 404);
      assertProblem(
        await stranger.call("POST", `/phone-numbers/outgoing/conversation/${conv.id}/override`, {
          fromPhoneNumberId: ownerNumber.id,
        }),
        404,
      );
      assertProblem(
        await stranger.call("DELETE", `/phone-numbers/outgoing/conversation/${conv.id}/override`),
        404,
      );

      // The owner's conversation with the stranger's number: the same 400 as for a deleted number.
      const foreign = await owner.call("POST", `/phone-numbers/outgoing/conversation/${conv.id}/override`, {
        fromPhoneNumberId: gone.id,
      });
      assertProblem(foreign, 400, "fromPhoneNumberId");
      const strangerNumber = await create(stranger, "+14155550144");
      const foreign2 = await owner.call("POST", `/phone-numbers/outgoing/conversation/${conv.id}/override`, {
        fromPhoneNumberId: strangerNumber.id,
      });
      assertProblem(foreign2, 400, "fromPhoneNumberId");
      assert.equal(
        foreign2.json().detail.replace(strangerNumber.id, "<id>"),
        foreign.json().detail.replace(gone.id, "<id>"),
      );
    });
  });

  test("a PUT that changes nothing keeps modifiedAt null; a new number starts with fresh health", async () => {
    const o = await newOrg("Renumber Org");
    const pn = await create(o, "+14155550210", { warmupEnabled: true });
    const same = await o.call(
      "PUT",
      `/phone-numbers/${pn.id}`,
      numberBody("(415) 555-0210", { warmupEnabled: true }),
    );
    assert.equal(same.statusCode, 200, same.body);
    assert.deepEqual(same.json(), pn);

    await setHealth(o.org, pn.id, { carrier_blocked: 3 });
    const startedAt = Date.now() - 3 * 86_400_000;
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ warmup_started_at: startedAt, last_used_at: 1234 })
      .where("id", "=", pn.id)
      .execute();
    const renamed = (
      await o.call(
        "PUT",
        `/phone-numbers/${pn.id}`,
        numberBody("+14155550210", { name: "Renamed", warmupEnabled: true }),
      )
    ).json();
    assert.equal(renamed.warmup.healthStatus, "Blocked");
    assert.equal(renamed.warmup.state, "In Progress");
    assert.notEqual(renamed.lastUsedAt, null);

    const renumbered = (
      await o.call("PUT", `/phone-numbers/${pn.id}`, numberBody("+14155550211", { warmupEnabled: true }))
    ).json();
    assert.equal(renumbered.warmup.healthStatus, "Healthy");
    assert.equal(renumbered.warmup.state, "Not Started");
    assert.equal(renumbered.lastUsedAt, null);
  });

  test("isDefault is exclusive: setting it on one number clears it on the others", async () => {
    const o = await newOrg("Default Org");
    const a = await create(o, "+14155550150", { isDefault: true });
    const b = await create(o, "+14155550151", { isDefault: true });
    assert.equal(b.isDefault, true);
    assert.equal((await o.call("GET", `/phone-numbers/${a.id}`)).json().isDefault, false);
    const c = await create(o, "+14155550152");
    assert.equal(c.isDefault, false);
    const put = await o.call(
      "PUT",
      `/phone-numbers/${a.id}`,
      numberBody("+14155550150", { isDefault: true }),
    );
    assert.equal(put.json().isDefault, true);
    const list = (await o.call("POST", "/phone-numbers/all/organization", {})).json();
    assert.deepEqual(
      list.items.filter((i: { isDefault: boolean }) => i.isDefault).map((i: { id: string }) => i.id),
      [a.id],
    );

    // Concurrent creates that each claim the default still leave exactly one.
    const racers = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        o.call("POST", "/phone-numbers", numberBody(`+1415555016${i}`, { isDefault: true })),
      ),
    );
    for (const r of racers) assert.equal(r.statusCode, 200, r.body);
    const after = (await o.call("POST", "/phone-numbers/all/organization", {})).json();
    assert.equal(after.items.filter((i: { isDefault: boolean }) => i.isDefault).length, 1);
  });

  test("deleting the default number makes no other one the default: selection goes on with the numbers left", async () => {
    const o = await newOrg("Deleted Default Org");
    const kept = await create(o, "+14155550171");
    const defaultNumber = await create(o, "+14155550172", { isDefault: true });
    // Both Needs Attention: only the default rule tells them apart.
    for (const pn of [kept, defaultNumber]) await setHealth(o.org, pn.id, { sent: 4, failed: 6 });
    const select = async () => {
      const res = await o.call("POST", "/phone-numbers/outgoing/new", {
        recipientPhoneNumber: "+12125550177",
      });
      assert.equal(res.statusCode, 200, res.body);
      const { phoneNumberId, selectionReason, canSend } = res.json();
      return { phoneNumberId, selectionReason, canSend };
    };
    assert.deepEqual(await select(), {
      phoneNumberId: defaultNumber.id,
      selectionReason: "FallbackDefault",
      canSend: true,
    });
    assert.equal((await o.call("DELETE", `/phone-numbers/${defaultNumber.id}`)).statusCode, 204);
    assert.deepEqual(await select(), {
      phoneNumberId: kept.id,
      selectionReason: "FallbackDefault",
      canSend: true,
    });
    assert.equal((await o.call("GET", `/phone-numbers/${kept.id}`)).json().isDefault, false, "not promoted");
  });

  test("concurrent creates of one number: one 200, the rest 409", async () => {
    const o = await newOrg("Race Org");
    const results = await Promise.all(
      [0, 1, 2, 3].map(() => o.call("POST", "/phone-numbers", numberBody("+14155550170"))),
    );
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 409, 409, 409]);
  });

  test("POST /phone-numbers/all/organization pages, searches and filters", async () => {
    const o = await newOrg("List Org");
    const created = [];
    for (let i = 0; i < 5; i++) {
      created.push(
        await create(o, `+1415555018${i}`, {
          name: i === 3 ? "Sales desk" : `Support ${i}`,
          routing: { campaignId: i % 2 === 0 ? "even" : "odd", tenDlcCampaignId: "C1" },
        }),
      );
    }
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const res = await o.call("POST", "/phone-numbers/all/organization", {
        pageSize: 2,
        continuationToken: token,
        includeCount: true,
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json();
      assert.ok(page.items.length <= 2);
      assert.equal(page.totalCount, 5);
      assert.equal(page.pageSize, 2);
      seen.push(...page.items.map((i: { id: string }) => i.id));
      token = page.continuationToken;
    } while (token);
    assert.deepEqual(seen, created.map((c) => c.id).reverse());

    const asc = (
      await o.call("POST", "/phone-numbers/all/organization", {
        orderBy: [{ field: "createdAt", direction: "asc" }],
      })
    ).json();
    assert.deepEqual(
      asc.items.map((i: { id: string }) => i.id),
      created.map((c) => c.id),
    );

    const row = asc.items[0];
    assert.equal(row.number, "+14155550180");
    assert.equal(row.type, "Local");
    assert.equal(row.organization, "List Org");
    assert.equal(row.organizationId, o.org.organizationId);
    assert.equal(row.enabled, true);
    assert.equal(row.smsReady, true);
    assert.equal(row.voiceReady, false);
    assert.equal(row.tenDlcCampaignStatus, "Assigned");
    assert.equal(row.ownership, "Customer");
    assert.equal(row.warmup.healthStatus, "Healthy");
    assert.match(row.routingSummary, /campaign even/);

    const search = (await o.call("POST", "/phone-numbers/all/organization", { search: "SALES" })).json();
    assert.deepEqual(
      search.items.map((i: { name: string }) => i.name),
      ["Sales desk"],
    );
    const byNumber = (await o.call("POST", "/phone-numbers/all/organization", { search: "5550182" })).json();
    assert.deepEqual(
      byNumber.items.map((i: { number: string }) => i.number),
      ["+14155550182"],
    );
    const odd = (
      await o.call("POST", "/phone-numbers/all/organization", {
        filters: [{ field: "campaignId", value: "odd" }],
      })
    ).json();
    assert.equal(odd.items.length, 2);

    const bad = await o.call("POST", "/phone-numbers/all/organization", {
      filters: [{ field: "enabled", value: "1" }],
    });
    assertProblem(bad, 400, "campaignId", "number");
    assertProblem(
      await o.call("POST", "/phone-numbers/all/organization", { orderBy: [{ field: "name" }] }),
      400,
      "createdAt",
    );
  });

  test("health comes from the last seven days of outcomes and shows as warmup.healthStatus", async () => {
    const o = await newOrg("Health Org");
    const pn = await create(o, "+14155550190", { warmupEnabled: true });
    await setHealth(o.org, pn.id, { sent: 8, failed: 2 });
    let read = (await o.call("GET", `/phone-numbers/${pn.id}`)).json();
    assert.equal(read.warmup.healthStatus, "Needs Attention");
    assert.equal(read.warmup.healthScore, 50);
    await setHealth(o.org, pn.id, { sent: 100, carrier_blocked: 3 });
    read = (await o.call("GET", `/phone-numbers/${pn.id}`)).json();
    assert.equal(read.warmup.healthStatus, "Blocked");
    const row = (await o.call("POST", "/phone-numbers/all/organization", {})).json().items[0];
    assert.equal(row.warmup.healthStatus, "Blocked");
    assert.equal(row.smsReady, false);

    // Outcomes older than seven days no longer count.
    await api.db.store.db
      .updateTable("phone_number_health_days")
      .set({ day: dayOf(Date.now()) - 7 })
      .where("phone_number_id", "=", pn.id)
      .execute();
    read = (await o.call("GET", `/phone-numbers/${pn.id}`)).json();
    assert.equal(read.warmup.healthStatus, "Healthy");

    // Warmup in progress once the scheduler has started the ramp.
    await api.db.store.db
      .updateTable("phone_numbers")
      .set({ warmup_started_at: Date.now() - 7 * 86_400_000 })
      .where("id", "=", pn.id)
      .execute();
    read = (await o.call("GET", `/phone-numbers/${pn.id}`)).json();
    assert.equal(read.warmup.state, "In Progress");
    assert.equal(read.warmup.progressPercent, 50);
  });

  describe("outgoing number selection", () => {
    test("each precedence rule wins in order, end to end", async () => {
      const o = await newOrg("Selection Org");
      const db = api.db.store.db;
      const n = {
        fallback: await create(o, "+12125550101", { name: "NY default", isDefault: true }),
        preferred: await create(o, "+13125550102", { name: "Chicago preferred", isPreferred: true }),
        campaign: await create(o, "+17135550103", {
          name: "Houston campaign",
          routing: { campaignId: "camp-1", tenDlcCampaignId: "C" },
        }),
        source: await create(o, "+12065550104", {
          name: "Seattle source",
          routing: { sourceId: "src-1", tenDlcCampaignId: "C" },
        }),
        assigned: await create(o, "+13055550105", { name: "Miami assigned" }),
        sticky: await create(o, "+16175550106", { name: "Boston sticky" }),
        manual: await create(o, "+16025550107", { name: "Phoenix manual" }),
        sf: await create(o, "+14155550108", { name: "SF 415" }),
        bay: await create(o, "+16505550109", { name: "Peninsula 650" }),
      };
      const lead = await o.call("POST", "/leads", {
        metadata: { assignedPhoneNumberId: n.assigned.id },
        contact: { firstName: "Sel", phone: { number: "+14155550142" } },
      });
      assert.equal(lead.statusCode, 201, lead.body);
      const conversationId = (await o.call("POST", `/conversations/lead/${lead.json().id}`, {})).json()
        .items[0].id;
      const eventsBefore = await db
        .selectFrom("events")
        .select((eb) => eb.fn.countAll().as("n"))
        .executeTakeFirst();

      const select = async (body: Record<string, unknown> = {}) => {
        const res = await o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}`, body);
        assert.equal(res.statusCode, 200, res.body);
        const s = res.json();
        assert.equal(s.eligibleNumbers.length, Object.keys(n).length);
        assert.equal(
          s.eligibleNumbers.filter((e: { isSelected: boolean }) => e.isSelected).length,
          s.phoneNumberId ? 1 : 0,
        );
        return s;
      };
      const expect = async (reason: string, chosen: { id: string }, body: Record<string, unknown> = {}) => {
        const s = await select(body);
        assert.equal(s.selectionReason, reason, JSON.stringify(s, null, 1));
        assert.equal(s.phoneNumberId, chosen.id, `${reason}: ${JSON.stringify(s, null, 1)}`);
        assert.equal(s.canSend, true);
        assert.equal(s.setupMessage, null);
        assert.equal(s.wasManuallyOverridden, reason === "ManualOverride");
        const entry = s.eligibleNumbers[0];
        assert.equal(entry.phoneNumberId, chosen.id);
        assert.equal(entry.isSelected, true);
        assert.equal(entry.selectionReason, reason);
        return s;
      };
      const disable = async (
        pn: { id: string; number: string; name: string },
        extra: Record<string, unknown> = {},
      ) => {
        const res = await o.call(
          "PUT",
          `/phone-numbers/${pn.id}`,
          numberBody(pn.number, { name: pn.name, enabled: false, ...extra }),
        );
        assert.equal(res.statusCode, 200, res.body);
      };

      // 1. ManualOverride: set on the conversation through the override endpoint.
      const override = await o.call(
        "POST",
        `/phone-numbers/outgoing/conversation/${conversationId}/override`,
        {
          fromPhoneNumberId: n.manual.id,
          selection: { channel: "sms" },
        },
      );
      assert.equal(override.statusCode, 200, override.body);
      assert.equal(override.json().selectionReason, "ManualOverride");
      assert.equal(override.json().wasManuallyOverridden, true);
      const manual = await expect("ManualOverride", n.manual);
      assert.equal(manual.number, "+16025550107");
      assert.equal(manual.displayNumber, "(602) 555-0107");
      assert.equal(manual.healthStatus, "Healthy");
      // Every number says which rule it matches.
      const reasons = Object.fromEntries(
        manual.eligibleNumbers.map((e: { label: string; selectionReason: string }) => [
          e.label,
          e.selectionReason,
        ]),
      );
      assert.deepEqual(reasons, {
        "Phoenix manual": "ManualOverride",
        "Miami assigned": "LeadAssigned",
        "Chicago preferred": "Preferred",
        "SF 415": "LocalArea",
        "Peninsula 650": "LocalArea",
        "NY default": "HealthyPool",
        "Houston campaign": "HealthyPool",
        "Seattle source": "HealthyPool",
        "Boston sticky": "HealthyPool",
      });

      // 2. StickyConversation: the number the conversation last sent from.
      const cleared = await o.call(
        "DELETE",
        `/phone-numbers/outgoing/conversation/${conversationId}/override`,
      );
      assert.equal(cleared.statusCode, 200, cleared.body);
      assert.equal(cleared.json().wasManuallyOverridden, false);
      const conv = await db
        .selectFrom("conversations")
        .selectAll()
        .where("id", "=", conversationId)
        .executeTakeFirstOrThrow();
      assert.equal(conv.override_phone_number_id, null);
      await db
        .updateTable("conversations")
        .set({ last_phone_number_id: n.sticky.id })
        .where("id", "=", conversationId)
        .execute();
      await expect("StickyConversation", n.sticky);
      // A disabled sticky number is passed over.
      await disable(n.sticky);

      // 3. LeadAssigned: the lead's metadata.assignedPhoneNumberId.
      await expect("LeadAssigned", n.assigned);
      await disable(n.assigned);

      // 4. CampaignOrSource: the campaign match beats the source match; the lead's source counts too.
      await expect("CampaignOrSource", n.campaign, { campaignId: "camp-1", sourceId: "src-1" });
      const bySource = await expect("CampaignOrSource", n.source, { sourceId: "src-1" });
      assert.equal(bySource.sourceId, "src-1");
      assert.equal(bySource.campaignId, null);

      // 5. Preferred.
      await expect("Preferred", n.preferred);
      await disable(n.preferred, { isPreferred: true });

      // 6. LocalArea: same area code (415), then same state (650 is California too).
      const local = await expect("LocalArea", n.sf);
      assert.match(local.reasonLabel, /area code/);
      await disable(n.sf);
      const state = await expect("LocalArea", n.bay);
      assert.match(state.reasonLabel, /state/);
      await disable(n.bay);

      // 7. HealthyPool: the least recently used Healthy number.
      const used = [
        [n.fallback, 3000],
        [n.campaign, 1000],
        [n.source, 2000],
        [n.manual, 4000],
      ] as const;
      for (const [pn, at] of used) {
        await db.updateTable("phone_numbers").set({ last_used_at: at }).where("id", "=", pn.id).execute();
      }
      await expect("HealthyPool", n.campaign);
      await setHealth(o.org, n.campaign.id, { sent: 10, carrier_blocked: 1 });
      const pool = await expect("HealthyPool", n.source);
      const campaignEntry = pool.eligibleNumbers.find(
        (e: { phoneNumberId: string }) => e.phoneNumberId === n.campaign.id,
      );
      assert.equal(campaignEntry.healthStatus, "Needs Attention");
      assert.equal(campaignEntry.canSend, true);
      assert.ok(campaignEntry.healthWarning);

      // 8. FallbackDefault: every remaining number Needs Attention → the default one.
      for (const pn of [n.source, n.manual, n.fallback])
        await setHealth(o.org, pn.id, { sent: 4, failed: 6 });
      const fallback = await expect("FallbackDefault", n.fallback);
      assert.equal(fallback.healthStatus, "Needs Attention");

      // A Blocked number is never chosen automatically, not even as the default.
      await setHealth(o.org, n.fallback.id, { carrier_blocked: 3 });
      const notDefault = await select();
      assert.equal(notDefault.selectionReason, "FallbackDefault");
      assert.notEqual(notDefault.phoneNumberId, n.fallback.id);
      const blockedEntry = notDefault.eligibleNumbers.find(
        (e: { phoneNumberId: string }) => e.phoneNumberId === n.fallback.id,
      );
      assert.equal(blockedEntry.healthStatus, "Blocked");
      assert.equal(blockedEntry.canSend, false);

      for (const pn of [n.source, n.manual, n.campaign])
        await setHealth(o.org, pn.id, { carrier_blocked: 5 });
      const none = await select();
      assert.equal(none.canSend, false);
      assert.equal(none.phoneNumberId, null);
      assert.equal(none.selectionReason, null);
      assert.match(none.setupMessage, /no enabled, unblocked SMS number/);
      assert.ok(none.eligibleNumbers.every((e: { canSend: boolean }) => !e.canSend));

      // ... but a user may still choose a Blocked number by hand.
      const forced = await o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}/override`, {
        fromPhoneNumberId: n.fallback.id,
      });
      assert.equal(forced.statusCode, 200, forced.body);
      assert.equal(forced.json().selectionReason, "ManualOverride");
      assert.equal(forced.json().canSend, true);
      assert.equal(forced.json().healthStatus, "Blocked");

      // Selecting never sends anything.
      const eventsAfter = await db
        .selectFrom("events")
        .select((eb) => eb.fn.countAll().as("n"))
        .executeTakeFirst();
      assert.equal(Number(eventsAfter?.n), Number(eventsBefore?.n));
    });

    test("override validation; deleting the override number returns the conversation to automatic selection", async () => {
      const o = await newOrg("Override Org");
      const on = await create(o, "+14155550201", { isDefault: true });
      const off = await create(o, "+14155550202", { enabled: false });
      const smsOff = await create(o, "+14155550203", {
        routing: { smsEnabled: false, tenDlcCampaignId: "C" },
      });
      const lead = await o.call("POST", "/leads", {
        contact: { firstName: "Ov", phone: { number: "+14155550299" } },
      });
      const conversationId = (await o.call("POST", `/conversations/lead/${lead.json().id}`, {})).json()
        .items[0].id;
      const path = `/phone-numbers/outgoing/conversation/${conversationId}/override`;

      assertProblem(await o.call("POST", path, {}), 400, "fromPhoneNumberId");
      assertProblem(await o.call("POST", path, { fromPhoneNumberId: off.id }), 400, "fromPhoneNumberId");
      assertProblem(await o.call("POST", path, { fromPhoneNumberId: smsOff.id }), 400, "fromPhoneNumberId");
      assertProblem(
        await o.call("POST", path, { fromPhoneNumberId: "pn_01HZZZZZZZZZZZZZZZZZZZZZZZ" }),
        400,
        "fromPhoneNumberId",
      );
      assertProblem(
        await o.call(
          "POST",
          "/phone-numbers/outgoing/conversation/conv_01HZZZZZZZZZZZZZZZZZZZZZZZ/override",
          {
            fromPhoneNumberId: on.id,
          },
        ),
        404,
      );

      const second = await create(o, "+14155550204");
      const set = await o.call("POST", path, { fromPhoneNumberId: second.id });
      assert.equal(set.json().phoneNumberId, second.id);
      assert.equal(set.json().wasManuallyOverridden, true);
      assert.equal((await o.call("DELETE", `/phone-numbers/${second.id}`)).statusCode, 204);
      const conv = await api.db.store.db
        .selectFrom("conversations")
        .selectAll()
        .where("id", "=", conversationId)
        .executeTakeFirstOrThrow();
      assert.equal(conv.override_phone_number_id, null);
      const auto = (
        await o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}`, {})
      ).json();
      assert.equal(auto.wasManuallyOverridden, false);
      assert.equal(auto.phoneNumberId, on.id);
      assertProblem(
        await o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}`, {
          conversationId: "conv_other",
        }),
        400,
        "conversationId",
      );
    });

    test("an override whose selection is bad input is a 400 that sets nothing", async () => {
      const o = await newOrg("Override Bad Selection Org");
      await create(o, "+14155550205", { isDefault: true });
      const chosen = await create(o, "+14155550206");
      const lead = await o.call("POST", "/leads", {
        contact: { firstName: "Sel", phone: { number: "+14155550298" } },
      });
      const conversationId = (await o.call("POST", `/conversations/lead/${lead.json().id}`, {})).json()
        .items[0].id;
      const path = `/phone-numbers/outgoing/conversation/${conversationId}/override`;
      const overrideNow = async () =>
        (
          await api.db.store.db
            .selectFrom("conversations")
            .select("override_phone_number_id")
            .where("id", "=", conversationId)
            .executeTakeFirstOrThrow()
        ).override_phone_number_id;

      for (const [selection, field] of [
        [{ recipientPhoneNumber: "+14155550297" }, "recipientPhoneNumber"],
        [{ recipientPhoneNumber: "not a number" }, "recipientPhoneNumber"],
        [{ leadId: "lead_someone_else" }, "leadId"],
        [{ conversationId: "conv_other" }, "conversationId"],
        [{ campaignId: "bad\u0001id" }, "campaignId"],
      ] as const) {
        assertProblem(await o.call("POST", path, { fromPhoneNumberId: chosen.id, selection }), 400, field);
        assert.equal(await overrideNow(), null, `${field}: the refused override must not be set`);
      }
      const ok = await o.call("POST", path, {
        fromPhoneNumberId: chosen.id,
        selection: { conversationId, recipientPhoneNumber: "+14155550298" },
      });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(await overrideNow(), chosen.id);
    });

    test("an override racing the deletion of its number is refused, never left pointing at a deleted number", async () => {
      const o = await newOrg("Override Race Org");
      await create(o, "+14155550207", { isDefault: true });
      const doomed = await create(o, "+14155550208");
      const lead = await o.call("POST", "/leads", {
        contact: { firstName: "Race", phone: { number: "+14155550296" } },
      });
      const conversationId = (await o.call("POST", `/conversations/lead/${lead.json().id}`, {})).json()
        .items[0].id;
      const db = api.db.store.db;
      const setOverride = () =>
        o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}/override`, {
          fromPhoneNumberId: doomed.id,
        });
      let res: LightMyRequestResponse;
      if (engine === "postgresql") {
        // The deletion's writes (as deletePhoneNumber makes them) are made but not committed while the
        // override request runs: it may not act on the number it still sees.
        let settled = false;
        let pending!: Promise<LightMyRequestResponse>;
        await db.transaction().execute(async (trx) => {
          await trx.deleteFrom("phone_numbers").where("id", "=", doomed.id).execute();
          await trx
            .updateTable("conversations")
            .set({ override_phone_number_id: null })
            .where("override_phone_number_id", "=", doomed.id)
            .execute();
          pending = setOverride().finally(() => {
            settled = true;
          });
          // Until the request has answered, or waits for this transaction's locks.
          while (!settled && !(await someoneWaitsForALock())) await new Promise((r) => setImmediate(r));
        });
        res = await pending;
      } else {
        // SQLite runs one transaction at a time: the request comes after the deletion.
        assert.equal((await o.call("DELETE", `/phone-numbers/${doomed.id}`)).statusCode, 204);
        res = await setOverride();
      }
      assertProblem(res, 400, "fromPhoneNumberId");
      const conv = await db
        .selectFrom("conversations")
        .select("override_phone_number_id")
        .where("id", "=", conversationId)
        .executeTakeFirstOrThrow();
      assert.equal(conv.override_phone_number_id, null);
    });

    test("a number in warmup is not chosen for lead traffic over a number that is not, never used though it is", async () => {
      const o = await newOrg("Warmup Selection Org");
      const seasoned = await create(o, "+12125550121");
      await api.db.store.db
        .updateTable("phone_numbers")
        .set({ last_used_at: Date.now() - 60_000 })
        .where("id", "=", seasoned.id)
        .execute();
      const fresh = await create(o, "+12125550122", { warmup: { enabled: true } });
      const choose = async () =>
        (
          await o.call("POST", "/phone-numbers/outgoing/new", { recipientPhoneNumber: "+13125550123" })
        ).json();
      const chosen = await choose();
      assert.equal(chosen.phoneNumberId, seasoned.id, JSON.stringify(chosen));
      assert.equal(chosen.selectionReason, "HealthyPool");
      // Once its warmup is over (Ready) it is an ordinary number again, and the least recently used.
      await api.db.store.db
        .updateTable("phone_numbers")
        .set({ warmup_started_at: Date.now() - 15 * 86_400_000 })
        .where("id", "=", fresh.id)
        .execute();
      assert.equal((await choose()).phoneNumberId, fresh.id);
    });

    test("POST /phone-numbers/outgoing/new: by recipient number or by lead", async () => {
      const o = await newOrg("New Outbound Org");
      const empty = await o.call("POST", "/phone-numbers/outgoing/new", {
        recipientPhoneNumber: "+14155550301",
      });
      assert.equal(empty.statusCode, 200, empty.body);
      assert.equal(empty.json().canSend, false);
      assert.match(empty.json().setupMessage, /POST \/phone-numbers/);
      assert.deepEqual(empty.json().eligibleNumbers, []);

      const ny = await create(o, "+12125550111", { isDefault: true });
      const sf = await create(o, "+14155550112");
      const austin = await create(o, "+15125550110");
      const local = (
        await o.call("POST", "/phone-numbers/outgoing/new", { recipientPhoneNumber: "(415) 555-0301" })
      ).json();
      assert.equal(local.selectionReason, "LocalArea");
      assert.equal(local.phoneNumberId, sf.id);
      const texas = (
        await o.call("POST", "/phone-numbers/outgoing/new", { recipientPhoneNumber: "+17135550302" })
      ).json();
      assert.equal(texas.selectionReason, "LocalArea");
      assert.equal(texas.phoneNumberId, austin.id);

      const lead = await o.call("POST", "/leads", {
        metadata: { assignedPhoneNumberId: ny.id },
        contact: { firstName: "New", phone: { number: "+14155550303" } },
      });
      const byLead = (await o.call("POST", "/phone-numbers/outgoing/new", { leadId: lead.json().id })).json();
      assert.equal(byLead.selectionReason, "LeadAssigned");
      assert.equal(byLead.phoneNumberId, ny.id);

      const call = (
        await o.call("POST", "/phone-numbers/outgoing/new", {
          recipientPhoneNumber: "+14155550301",
          channel: "call",
        })
      ).json();
      assert.equal(call.canSend, false);
      assert.match(call.setupMessage, /SMS only/);

      // With conversationId: that conversation's next sender, as its own route answers.
      const conversationId = (await o.call("POST", `/conversations/lead/${lead.json().id}`, {})).json()
        .items[0].id as string;
      const byConversation = await o.call("POST", "/phone-numbers/outgoing/new", { conversationId });
      assert.equal(byConversation.statusCode, 200, byConversation.body);
      assert.deepEqual(
        byConversation.json(),
        (await o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}`, {})).json(),
      );
      // A lead or recipient beside it must be the conversation's own.
      for (const [extra, field] of [
        [{ leadId: "lead_01HZZZZZZZZZZZZZZZZZZZZZZZ" }, "leadId"],
        [{ recipientPhoneNumber: "+14155550399" }, "recipientPhoneNumber"],
      ] as const) {
        assertProblem(
          await o.call("POST", "/phone-numbers/outgoing/new", { conversationId, ...extra }),
          400,
          field,
        );
        assertProblem(
          await o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}`, extra),
          400,
          field,
        );
      }
      const matching = await o.call("POST", `/phone-numbers/outgoing/conversation/${conversationId}`, {
        conversationId: ` ${conversationId} `,
        leadId: lead.json().id,
        recipientPhoneNumber: "(415) 555-0303",
      });
      assert.equal(matching.statusCode, 200, matching.body);
      // Blank ids are omitted ones, on both routes alike.
      for (const path of [
        `/phone-numbers/outgoing/conversation/${conversationId}`,
        "/phone-numbers/outgoing/new",
      ]) {
        const blank = await o.call("POST", path, {
          conversationId: path.endsWith("new") ? conversationId : "",
          leadId: "",
        });
        assert.equal(blank.statusCode, 200, `${path}: ${blank.body}`);
      }
      assertProblem(
        await o.call("POST", "/phone-numbers/outgoing/new", {
          conversationId: "conv_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        }),
        404,
      );

      assertProblem(await o.call("POST", "/phone-numbers/outgoing/new", {}), 400, "recipientPhoneNumber");
      assertProblem(
        await o.call("POST", "/phone-numbers/outgoing/new", { recipientPhoneNumber: "12" }),
        400,
        "recipientPhoneNumber",
      );
      assertProblem(
        await o.call("POST", "/phone-numbers/outgoing/new", {
          recipientPhoneNumber: "+14155550301",
          channel: "fax",
        }),
        400,
        "channel",
      );
      assertProblem(
        await o.call("POST", "/phone-numbers/outgoing/new", { leadId: "lead_01HZZZZZZZZZZZZZZZZZZZZZZZ" }),
        404,
      );
    });

    test("a sender without a 10DLC campaign cannot send to a US recipient", async () => {
      const o = await newOrg("TenDlc Org");
      const bare = await o.call("POST", "/phone-numbers", { number: "+14155550401", name: "No campaign" });
      assert.equal(bare.statusCode, 200, bare.body);
      const s = (
        await o.call("POST", "/phone-numbers/outgoing/new", { recipientPhoneNumber: "+14155550402" })
      ).json();
      assert.equal(s.phoneNumberId, bare.json().id);
      assert.equal(s.canSend, false);
      assert.match(s.setupMessage, /10DLC/);
      assert.equal(s.eligibleNumbers[0].canSend, false);
      const row = (await o.call("POST", "/phone-numbers/all/organization", {})).json().items[0];
      assert.equal(row.tenDlcCampaignStatus, "Missing");
      assert.equal(row.smsReady, false);
    });

    test("a toll-free number needs no 10DLC campaign: chosen for a US recipient over a local number without one", async () => {
      const o = await newOrg("Toll-free Org");
      const add = async (number: string, name: string) => {
        const res = await o.call("POST", "/phone-numbers", { number, name });
        assert.equal(res.statusCode, 200, res.body);
        return res.json();
      };
      // Created first, the local number would win the least-recently-used tie.
      const local = await add("+14155550411", "Local, no campaign");
      const tollFree = await add("+18885550412", "Toll-free");
      const lead = await o.call("POST", "/leads", {
        contact: { firstName: "Toll", phone: { number: "+14155550413" } },
      });
      assert.equal(lead.statusCode, 201, lead.body);
      const conversationId = (await o.call("POST", `/conversations/lead/${lead.json().id}`, {})).json()
        .items[0].id;
      for (const [path, body] of [
        ["/phone-numbers/outgoing/new", { recipientPhoneNumber: "+14155550413" }],
        ["/phone-numbers/outgoing/new", { recipientPhoneNumber: "+16045550414" }],
        [`/phone-numbers/outgoing/conversation/${conversationId}`, {}],
      ] as const) {
        const res = await o.call("POST", path, body);
        assert.equal(res.statusCode, 200, res.body);
        const s = res.json();
        assert.equal(s.phoneNumberId, tollFree.id, `${path}: ${res.body}`);
        assert.equal(s.canSend, true, path);
        assert.equal(s.setupMessage, null, path);
        const entry = (id: string) =>
          s.eligibleNumbers.find((e: { phoneNumberId: string }) => e.phoneNumberId === id);
        assert.equal(entry(tollFree.id).canSend, true, path);
        assert.equal(entry(local.id).canSend, false, path);
      }
      const rows = (await o.call("POST", "/phone-numbers/all/organization", {})).json().items;
      const row = (id: string) => rows.find((r: { id: string }) => r.id === id);
      assert.equal(row(tollFree.id).type, "TollFree");
      assert.equal(row(tollFree.id).tenDlcCampaignStatus, null);
      assert.equal(row(tollFree.id).smsReady, true);
      assert.equal(row(local.id).tenDlcCampaignStatus, "Missing");
    });

    test("a toll-free number with a campaign id set still shows no 10DLC status: its messages go under none", async () => {
      const o = await newOrg("Toll-free campaign Org");
      const res = await o.call("POST", "/phone-numbers", {
        number: "+18885550415",
        name: "Toll-free with a stray campaign",
        routing: { tenDlcCampaignId: "CAMP-STRAY" },
      });
      assert.equal(res.statusCode, 200, res.body);
      const rows = (await o.call("POST", "/phone-numbers/all/organization", {})).json().items;
      const row = rows.find((r: { id: string }) => r.id === res.json().id);
      assert.equal(row.type, "TollFree");
      assert.equal(row.tenDlcCampaignStatus, null);
      assert.equal(row.smsReady, true);
    });
  });
});
