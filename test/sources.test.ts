import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import pg from "pg";
import { ApiKeyAuthenticator } from "../src/http/auth.js";
import { receiveLead } from "../src/services/leads.js";
import { type CreatedOrganization, createOrganization, hashApiKey } from "../src/store/orgs-repo.js";
import { assertEventRecord, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine, PG_URL } from "./helpers/engines.js";

const PROBLEM = /^application\/problem\+json\b/;

/** 43 random URL-safe characters, as in a generated key. */
const randomKeyBody = () => randomBytes(32).toString("base64url");
/** A key a client brings along (say, from the system its vendors posted to before). */
const chosenKey = () => `lp_src_${randomKeyBody()}`;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

forEachEngine("lead sources", (engine) => {
  let api: TestApi;
  let other: CreatedOrganization;
  before(async () => {
    api = await startTestApi(engine);
    other = await createOrganization(api.db.store.db, "Other Org");
  });
  after(() => api.close());

  const createSource = async (fields: Record<string, unknown> = {}) => {
    const res = await api.call("POST", "/sources", { name: "Acme Leads", ...fields });
    assert.equal(res.statusCode, 201, res.body);
    return res.json();
  };

  const lead = (fields: Record<string, unknown> = {}, phone = "(415) 555-0190") => ({
    contact: {
      firstName: "Sam",
      lastName: "Vendor",
      phone: { number: phone },
      streetAddress: { state: "CA", country: "US" },
    },
    metadata: { product: "Auto", trustedFormUrl: "https://cert.trustedform.com/abc" },
    ...fields,
  });

  const count = async (table: "leads" | "events" | "usage_ledger" | "sources") =>
    Number(
      (
        await api.db.store.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number | string>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );

  const balance = async () => (await api.call("GET", "/wallets/me")).json().balance as number;

  test("POST /sources answers 201 with a generated lp_src_ key and the defaults; GET answers the same", async () => {
    const created = await createSource({
      description: "  Web form vendor ",
      defaultTagNames: ["Hot", "hot "],
    });
    assert.match(created.id, /^src_/);
    assert.match(created.apiKey, /^lp_src_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.apiKeyPreview, `lp_src_…${created.apiKey.slice(-4)}`);
    assert.equal(created.name, "Acme Leads");
    assert.equal(created.description, "Web form vendor");
    assert.equal(created.enabled, true);
    assert.equal(created.costPerLead, null);
    assert.deepEqual(created.allowedStates, []);
    assert.deepEqual(created.allowedProducts, []);
    assert.equal(created.requiresTrustedForm, false);
    assert.equal(created.complianceApproved, false);
    assert.deepEqual(created.defaultTagIds, ["tag_hot"]);
    assert.deepEqual(created.defaultTags, [
      { id: "tag_hot", name: "Hot", normalizedName: "hot", color: null },
    ]);
    assert.deepEqual(created.user, { id: api.org.userId, name: "Owner" });
    assert.deepEqual(created.createdByUser, { id: api.org.userId, name: "Owner" });
    assert.equal(created.modifiedByUser, null);
    assert.equal(created.createdByUserEmail, null);
    assert.deepEqual(created.organization, { id: api.org.organizationId, name: "Test Org" });
    assert.match(created.createdAt, ISO);
    assert.equal(created.modifiedAt, null);
    assert.equal(created.firstLeadReceivedAt, null);
    assert.equal(created.lastLeadReceivedAt, null);

    const read = await api.call("GET", `/sources/${created.id}`);
    assert.equal(read.statusCode, 200, read.body);
    assert.deepEqual(read.json(), created);
  });

  test("bad source requests are 400s naming the field, and create nothing", async () => {
    const before = await count("sources");
    for (const [body, field] of [
      [{}, "name"],
      [{ name: "   " }, "name"],
      [{ name: 7 }, "name"],
      [{ name: "x", apiKey: "sk_not-a-source-key-1234567890" }, "apiKey"],
      [{ name: "x", apiKey: "lp_src_short" }, "apiKey"],
      // Guessable keys: too short, or too few different characters.
      [{ name: "x", apiKey: `lp_src_${"a".repeat(40)}` }, "apiKey"],
      [{ name: "x", apiKey: `lp_src_${"abc123".repeat(8)}` }, "apiKey"],
      [{ name: "x", apiKey: `lp_src_${randomKeyBody().slice(0, 31)}` }, "apiKey"],
      [{ name: "", description: "an empty name" }, "name"],
      [{ name: "x", apiKey: `lp_src_${randomKeyBody().repeat(5)}` }, "apiKey"],
      [{ name: "x", costPerLead: -1 }, "costPerLead"],
      [{ name: "x", costPerLead: 1_000_000.01 }, "costPerLead"],
      [{ name: "x", costPerLead: "5" }, "costPerLead"],
      [{ name: "x", allowedStates: ["CA", " "] }, "allowedStates[1]"],
      [{ name: "x", allowedProducts: "Auto" }, "allowedProducts"],
      [{ name: "x", defaultTagNames: [""] }, "defaultTagNames[0]"],
      [{ name: "bad\u0000name" }, "name"],
    ] as const) {
      const res = await api.call("POST", "/sources", body);
      assert.equal(res.statusCode, 400, `${JSON.stringify(body)} → ${res.body}`);
      assert.match(String(res.headers["content-type"]), PROBLEM);
      const problem = res.json();
      assert.ok(
        Object.keys(problem.errors ?? {}).some(
          (k) => k === field || k === `/${field}` || k.endsWith(field),
        ) || problem.detail.includes(field),
        `${JSON.stringify(body)} names ${field}: ${res.body}`,
      );
    }
    assert.equal(await count("sources"), before);
  });

  test("a lead delivered with the source key gets the source, its default tags, a charge and the source's stamps", async () => {
    const source = await createSource({
      name: "Quote Form Co",
      costPerLead: 12.5,
      defaultTagNames: ["From vendor"],
      allowedStates: ["ca", "NV"],
      allowedProducts: ["auto", "Home"],
      requiresTrustedForm: true,
    });
    assert.deepEqual(source.allowedStates, ["CA", "NV"]);
    assert.deepEqual(source.allowedProducts, ["auto", "Home"]);
    assert.equal(source.costPerLead, 12.5);
    const walletBefore = await balance();

    const res = await api.call("POST", "/leads", lead({ tagNames: ["Callback"] }), source.apiKey);
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json();
    assert.equal(created.metadata.userId, api.org.userId);
    assert.deepEqual(created.tags.map((t: { name: string }) => t.name).sort(), ["Callback", "From vendor"]);

    // The lead list names the source.
    const list = await api.call("POST", "/leads/all/my", {
      filters: [{ field: "sourceId", value: source.id }],
    });
    assert.equal(list.statusCode, 200, list.body);
    assert.deepEqual(
      list.json().items.map((i: { id: string; source: unknown }) => [i.id, i.source]),
      [[created.id, { id: source.id, name: "Quote Form Co" }]],
    );

    // Its LeadCreated event carries the source and says where the lead came from.
    const events = await api.call("POST", `/events/leads/${created.id}`, {});
    const [event] = events.json().items;
    assertEventRecord(event);
    assert.equal(event.activityType, "LeadCreated");
    assert.equal(event.sourceId, source.id);
    assert.equal(event.createdBy, api.org.userId);
    assert.equal(event.description, "Lead Sam Vendor was received from source 'Quote Form Co'.");
    assert.equal(event.billingStatus, "Billed");
    assert.equal(event.billableAmount, 12.5);

    // The cost per lead is on the ledger and off the wallet.
    assert.equal(await balance(), walletBefore - 12.5);
    const usage = await api.call("POST", "/usage/all/my", {});
    const line = usage
      .json()
      .items.find((i: { billableUnit: string; lead: { id: string } | null }) => i.lead?.id === created.id);
    assert.ok(line, usage.body);
    assert.equal(line.channel, "lead");
    assert.equal(line.billableUnit, "lead_received");
    assert.equal(line.customerChargeAmount, 12.5);
    assert.equal(line.unitPrice, 12.5);
    assert.equal(line.quantity, 1);
    assert.equal(line.isBillable, true);
    assert.equal(line.description, "Lead received, +14155550190");

    // The source records the lead and the key's use.
    const after = (await api.call("GET", `/sources/${source.id}`)).json();
    assert.match(after.firstLeadReceivedAt, ISO);
    assert.equal(after.lastLeadReceivedAt, after.firstLeadReceivedAt);
    const row = (
      await api.call("POST", "/sources/all/my", { filters: [{ field: "id", value: source.id }] })
    ).json().items[0];
    assert.equal(row.apiKeyTotalUses, 1);
    assert.match(row.apiKeyLastUsedAt, ISO);
    assert.equal(row.organizationId, api.org.organizationId);
    // SourceTableRow's description is a string (SourceResponse's is nullable).
    assert.equal(row.description, "");
    assert.equal(after.description, null);

    // An update with the organization key keeps the lead's source (it is not the client's to drop).
    const updated = await api.call("PUT", `/leads/${created.id}`, lead({ metadata: { product: "Auto" } }));
    assert.equal(updated.statusCode, 200, updated.body);
    const again = await api.call("POST", "/leads/all/my", {
      filters: [{ field: "sourceId", value: source.id }],
    });
    assert.deepEqual(
      again.json().items.map((i: { id: string }) => i.id),
      [created.id],
    );
  });

  test("a source that sends a lead again (same sellerLeadId) gets the lead it made: no second lead, event or charge", async () => {
    const source = await createSource({ name: "Retrying Vendor", costPerLead: 2 });
    const other = await createSource({ name: "Second Vendor" });
    const before = {
      leads: await count("leads"),
      events: await count("events"),
      usage: await count("usage_ledger"),
    };
    const walletBefore = await balance();
    const body = (firstName: string) => ({
      contact: { firstName, phone: { number: "4155550196" } },
      metadata: { sellerLeadId: "vendor-lead-77" },
    });

    const first = await api.call("POST", "/leads", body("Kim"), source.apiKey);
    assert.equal(first.statusCode, 201, first.body);
    // Sent again, sequentially and then twenty at once: the same lead every time, as first stored.
    const again = await api.call("POST", "/leads", body("Kimberly"), source.apiKey);
    assert.equal(again.statusCode, 201, again.body);
    assert.deepEqual(again.json(), first.json());
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => api.call("POST", "/leads", body("Kim"), source.apiKey)),
    );
    for (const res of burst) {
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().id, first.json().id);
    }
    assert.equal(await count("leads"), before.leads + 1);
    assert.equal(await count("events"), before.events + 1);
    assert.equal(await count("usage_ledger"), before.usage + 1);
    assert.equal(await balance(), walletBefore - 2);
    const row = (
      await api.call("POST", "/sources/all/my", { filters: [{ field: "id", value: source.id }] })
    ).json().items[0];
    assert.equal(row.apiKeyTotalUses, 22, "every delivery is a use of the key");

    // Another source's lead with the same seller id is another lead; so is a delivery without one.
    const theirs = await api.call("POST", "/leads", body("Kim"), other.apiKey);
    assert.equal(theirs.statusCode, 201, theirs.body);
    assert.notEqual(theirs.json().id, first.json().id);
    const plain = { contact: { firstName: "Lee", phone: { number: "4155550197" } } };
    const a = (await api.call("POST", "/leads", plain, source.apiKey)).json();
    const b = (await api.call("POST", "/leads", plain, source.apiKey)).json();
    assert.notEqual(a.id, b.id);
  });

  test("sellerLeadId must be a string of at most 200 characters; a disabled source's repeat is refused too", async () => {
    const source = await createSource({ name: "Strict Vendor", costPerLead: 1 });
    const before = { leads: await count("leads"), usage: await count("usage_ledger") };
    // Characters are code points: 201 emoji are too many, 200 are not (400 UTF-16 units).
    for (const sellerLeadId of [12345, true, { id: "x" }, "x".repeat(201), "\u{1F600}".repeat(201)]) {
      const res = await api.call("POST", "/leads", lead({ metadata: { sellerLeadId } }), source.apiKey);
      assert.equal(res.statusCode, 400, `${JSON.stringify(sellerLeadId).slice(0, 40)} → ${res.body}`);
      assert.deepEqual(Object.keys(res.json().errors), ["metadata.sellerLeadId"]);
    }
    assert.equal(await count("leads"), before.leads);
    const accepted = await api.call(
      "POST",
      "/leads",
      lead({ metadata: { sellerLeadId: "\u{1F600}".repeat(200) } }),
      source.apiKey,
    );
    assert.equal(accepted.statusCode, 201, accepted.body);
    // A repeat is answered with the lead it made whatever it says, but not with text over a limit
    // (the body is checked first, as on every path).
    const overlong = await api.call(
      "POST",
      "/leads",
      lead({
        metadata: { sellerLeadId: "\u{1F600}".repeat(200) },
        contact: { phone: { number: "4155550190" }, streetAddress: { city: "x".repeat(201) } },
      }),
      source.apiKey,
    );
    assert.equal(overlong.statusCode, 400, overlong.body);
    assert.deepEqual(Object.keys(overlong.json().errors), ["contact.streetAddress.city"]);

    await api.call("PUT", `/sources/${source.id}`, { name: source.name, enabled: false });
    const repeat = await api.call(
      "POST",
      "/leads",
      lead({ metadata: { sellerLeadId: "\u{1F600}".repeat(200) } }),
      source.apiKey,
    );
    assert.equal(repeat.statusCode, 403, repeat.body);
    assert.equal(await count("leads"), before.leads + 1);
    assert.equal(await count("usage_ledger"), before.usage + 1);
  });

  test("a cost per lead of 0 is recorded as not billable; a lead is taken even when the wallet cannot pay", async () => {
    const free = await createSource({ name: "Free Vendor", costPerLead: 0 });
    const freeLead = (await api.call("POST", "/leads", lead({}, "4155550184"), free.apiKey)).json();
    const [event] = (await api.call("POST", `/events/leads/${freeLead.id}`, {})).json().items;
    assert.equal(event.billingStatus, "NotBilled");
    assert.equal(event.billableAmount, null);
    const usage = (await api.call("POST", "/usage/all/my", { pageSize: 500 })).json();
    const line = usage.items.find((i: { lead: { id: string } | null }) => i.lead?.id === freeLead.id);
    assert.equal(line.status, "non_billable_internal");
    assert.equal(line.isBillable, false);
    assert.equal(line.customerChargeAmount, 0);

    // More than the wallet holds: the lead is the vendor's delivery, taken; the balance goes below zero.
    const dear = await createSource({ name: "Dear Vendor", costPerLead: 1000 });
    const walletBefore = await balance();
    assert.ok(walletBefore < 1000, `wallet ${walletBefore}`);
    const res = await api.call("POST", "/leads", lead({}, "4155550185"), dear.apiKey);
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(await balance(), walletBefore - 1000);
  });

  test("a lead that misses the source's rules is refused, naming the field, and nothing is written or charged", async () => {
    const source = await createSource({
      costPerLead: 3,
      allowedStates: ["CA"],
      allowedProducts: ["Auto"],
      requiresTrustedForm: true,
    });
    const counts = {
      leads: await count("leads"),
      events: await count("events"),
      usage: await count("usage_ledger"),
    };
    const walletBefore = await balance();
    for (const [body, field] of [
      [
        lead({
          contact: { firstName: "T", phone: { number: "4155550191" }, streetAddress: { state: "TX" } },
        }),
        "contact.streetAddress.state",
      ],
      [lead({ contact: { firstName: "T", phone: { number: "4155550191" } } }), "contact.streetAddress.state"],
      [
        lead({ metadata: { product: "Life", trustedFormUrl: "https://cert.trustedform.com/x" } }),
        "metadata.product",
      ],
      [lead({ metadata: { product: "auto" } }), "metadata.trustedFormUrl"],
      [
        lead({ contact: { phone: { number: "not a phone" }, streetAddress: { state: "CA" } } }),
        "contact.phone.number",
      ],
    ] as const) {
      const res = await api.call("POST", "/leads", body, source.apiKey);
      assert.equal(res.statusCode, 400, `${JSON.stringify(body)} → ${res.body}`);
      assert.match(String(res.headers["content-type"]), PROBLEM);
      assert.deepEqual(Object.keys(res.json().errors), [field], res.body);
    }
    // The same rules do not bind the organization's own key.
    const own = await api.call("POST", "/leads", lead({ metadata: {} }));
    assert.equal(own.statusCode, 201, own.body);

    const disabled = await api.call("PUT", `/sources/${source.id}`, { name: source.name, enabled: false });
    assert.equal(disabled.statusCode, 200, disabled.body);
    assert.equal(disabled.json().enabled, false);
    const refused = await api.call("POST", "/leads", lead(), source.apiKey);
    assert.equal(refused.statusCode, 403, refused.body);
    assert.match(String(refused.headers["content-type"]), PROBLEM);
    assert.match(refused.json().detail, /not allowed to accept traffic/);

    assert.equal(await count("leads"), counts.leads + 1);
    assert.equal(await count("events"), counts.events + 1);
    assert.equal(await count("usage_ledger"), counts.usage);
    assert.equal(await balance(), walletBefore);
    const read = (await api.call("GET", `/sources/${source.id}`)).json();
    assert.equal(read.firstLeadReceivedAt, null);
  });

  test("a source's allowed state takes a lead whose state is written as its name or in lower case", async () => {
    const source = await createSource({ allowedStates: ["ca"] });
    for (const [state, phone] of [
      ["California", "4155550192"],
      [" ca ", "4155550193"],
    ]) {
      const res = await api.call(
        "POST",
        "/leads",
        lead({ contact: { firstName: "T", phone: { number: phone }, streetAddress: { state } } }),
        source.apiKey,
      );
      assert.equal(res.statusCode, 201, `${state}: ${res.body}`);
      assert.equal(res.json().contact.streetAddress.state, state);
    }
    const nevada = await api.call(
      "POST",
      "/leads",
      lead({
        contact: { firstName: "T", phone: { number: "4155550194" }, streetAddress: { state: "Nevada" } },
      }),
      source.apiKey,
    );
    assert.equal(nevada.statusCode, 400, nevada.body);
    assert.match(
      nevada.json().detail,
      /contact\.streetAddress\.state must be one of the states this source accepts: CA \(got 'Nevada'\)/,
    );
  });

  test("a source key creates leads only: other routes answer 403; an unknown source key is a 401", async () => {
    const source = await createSource();
    for (const [method, url, body] of [
      ["GET", `/sources/${source.id}`, undefined],
      ["POST", "/sources/all/my", {}],
      ["POST", "/events/all/my", {}],
      ["POST", "/leads/all/my", {}],
      ["GET", "/wallets/me", undefined],
      ["POST", "/sms/send", { toPhoneNumber: "+14155550192", message: "hi" }],
    ] as const) {
      const res = await api.call(method, url, body, source.apiKey);
      assert.equal(res.statusCode, 403, `${method} ${url} → ${res.body}`);
      assert.match(String(res.headers["content-type"]), PROBLEM);
      assert.match(res.json().detail, /POST \/leads/);
    }
    const unknown = await api.call("POST", "/leads", lead(), `lp_src_${"x".repeat(43)}`);
    assert.equal(unknown.statusCode, 401, unknown.body);
    assert.match(String(unknown.headers["www-authenticate"]), /^Bearer\b/);
  });

  test("regenerateApiKey retires the old key; a chosen apiKey is kept, and one another source holds is a 409", async () => {
    const source = await createSource();
    const regenerated = await api.call("PUT", `/sources/${source.id}`, {
      name: "Renamed",
      regenerateApiKey: true,
    });
    assert.equal(regenerated.statusCode, 200, regenerated.body);
    const renamed = regenerated.json();
    assert.notEqual(renamed.apiKey, source.apiKey);
    assert.equal(renamed.name, "Renamed");
    assert.match(renamed.modifiedAt, ISO);
    assert.deepEqual(renamed.modifiedByUser, { id: api.org.userId, name: "Owner" });
    assert.equal((await api.call("POST", "/leads", lead(), source.apiKey)).statusCode, 401);
    assert.equal((await api.call("POST", "/leads", lead({}, "4155550193"), renamed.apiKey)).statusCode, 201);

    // A key carried over from another system (vendors keep posting with it).
    const chosen = chosenKey();
    const carried = await createSource({ name: "Carried", apiKey: chosen });
    assert.equal(carried.apiKey, chosen);
    // Sending the current key back changes nothing.
    const same = await api.call("PUT", `/sources/${carried.id}`, { name: "Carried", apiKey: chosen });
    assert.equal(same.json().apiKey, chosen);

    // A new key and regenerateApiKey at once contradict each other, on a new source too.
    const copy = await api.call("POST", "/sources", { ...carried, name: "Copy", regenerateApiKey: true });
    assert.equal(copy.statusCode, 400, copy.body);
    assert.deepEqual(Object.keys(copy.json().errors), ["regenerateApiKey"]);
    const both = await api.call("PUT", `/sources/${carried.id}`, {
      name: "Carried",
      apiKey: chosenKey(),
      regenerateApiKey: true,
    });
    assert.equal(both.statusCode, 400, both.body);
    assert.deepEqual(Object.keys(both.json().errors), ["regenerateApiKey"]);

    const before = await count("sources");
    const taken = await api.call("POST", "/sources", { name: "Copy", apiKey: chosen });
    assert.equal(taken.statusCode, 409, taken.body);
    assert.match(String(taken.headers["content-type"]), PROBLEM);
    const theirs = await api.call("POST", "/sources", { name: "Theirs", apiKey: chosen }, other.apiKey);
    assert.equal(theirs.statusCode, 409, theirs.body);
    const onUpdate = await api.call("PUT", `/sources/${source.id}`, { name: "Renamed", apiKey: chosen });
    assert.equal(onUpdate.statusCode, 409, onUpdate.body);
    assert.equal(await count("sources"), before);
    assert.equal((await api.call("GET", `/sources/${source.id}`)).json().apiKey, renamed.apiKey);
  });

  test("a source whose key was chosen before the key rules (20 characters) takes it sent back as read; a new key must meet them", async () => {
    const source = await createSource({ name: "Legacy" });
    // As an earlier version took it: 20 characters after the prefix, few of them different.
    const legacy = `lp_src_${"ab".repeat(10)}`;
    await api.db.store.db
      .updateTable("sources")
      .set({ api_key: legacy, api_key_hash: hashApiKey(legacy) })
      .where("id", "=", source.id)
      .execute();
    const read = (await api.call("GET", `/sources/${source.id}`)).json();
    assert.equal(read.apiKey, legacy);
    const { id, name, description, enabled, apiKey, costPerLead, allowedStates, allowedProducts } = read;
    const renamed = await api.call("PUT", `/sources/${source.id}`, {
      id,
      name: `${name} (renamed)`,
      description,
      enabled,
      apiKey,
      costPerLead,
      allowedStates,
      allowedProducts,
      requiresTrustedForm: read.requiresTrustedForm,
      defaultTagIds: read.defaultTagIds,
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().apiKey, legacy);
    assert.equal(renamed.json().name, "Legacy (renamed)");

    // Another key of that form is refused, on this source, on one that does not exist and on a new one.
    const other = `lp_src_${"cd".repeat(10)}`;
    for (const [method, path] of [
      ["PUT", `/sources/${source.id}`],
      ["PUT", "/sources/src_01HZZZZZZZZZZZZZZZZZZZZZZZ"],
      ["POST", "/sources"],
    ] as const) {
      const res = await api.call(method, path, { name: "Legacy", apiKey: other });
      assert.equal(res.statusCode, 400, `${method} ${path}: ${res.body}`);
      assert.deepEqual(Object.keys(res.json().errors), ["apiKey"]);
    }
    assert.equal((await api.call("GET", `/sources/${source.id}`)).json().apiKey, legacy);
  });

  test("a delivery whose key is re-keyed between its authentication and its lead is refused (401), and writes nothing", async () => {
    const source = await createSource({ name: "Rekeyed mid-request" });
    const store = api.db.store;
    const authenticator = new ApiKeyAuthenticator({
      organizationKey: (hash) => store.findApiKeyOwner(hash),
      sourceKey: (hash) => store.findSourceKeyOwner(hash),
    });
    // Authenticated with the key it had; the re-keying commits before the lead is written.
    const auth = await authenticator.authenticate(`Bearer ${source.apiKey}`);
    assert.equal(auth.sourceId, source.id);
    const rekeyed = await api.call("PUT", `/sources/${source.id}`, {
      name: source.name,
      regenerateApiKey: true,
    });
    assert.equal(rekeyed.statusCode, 200, rekeyed.body);
    const leadsBefore = await count("leads");
    await assert.rejects(
      receiveLead(store.db, { ...auth, sourceId: source.id }, lead({}, "4155550194")),
      (error: { status?: number }) => error.status === 401,
    );
    assert.equal(await count("leads"), leadsBefore);
    // The new key delivers.
    const fresh = await authenticator.authenticate(`Bearer ${rekeyed.json().apiKey}`);
    const received = await receiveLead(store.db, { ...fresh, sourceId: source.id }, lead({}, "4155550194"));
    assert.equal(received.created, true);
  });

  // PostgreSQL only: SQLite runs one writer at a time, so a re-keying cannot commit inside the lead's
  // transaction there.
  const onPostgres = engine === "postgresql" ? test : () => {};
  onPostgres(
    "a re-keying that commits while a delivery is on its way: the delivery waits for it, then is refused",
    async () => {
      const source = await createSource({ name: "Rekeyed while writing" });
      const store = api.db.store;
      const auth = await new ApiKeyAuthenticator({
        organizationKey: (hash) => store.findApiKeyOwner(hash),
        sourceKey: (hash) => store.findSourceKeyOwner(hash),
      }).authenticate(`Bearer ${source.apiKey}`);
      // Another session re-keys the source as PUT does: under the source's lock, then the new hash.
      const rekeyer = new pg.Client({ connectionString: PG_URL });
      await rekeyer.connect();
      try {
        await rekeyer.query(`set search_path to ${api.db.options.pgSchema}`);
        await rekeyer.query("begin");
        await rekeyer.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [
          `source:${api.org.organizationId}:${source.id}`,
        ]);
        await rekeyer.query("update sources set api_key_hash = $1 where id = $2", ["rekeyed", source.id]);
        const delivery = receiveLead(store.db, { ...auth, sourceId: source.id }, lead({}, "4155550195")).then(
          () => "created",
          (error: { status?: number }) => error.status,
        );
        let waiting = 0;
        for (let tries = 0; waiting === 0 && tries < 200; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          waiting = (await rekeyer.query("select count(*)::int as n from pg_locks where not granted")).rows[0]
            .n;
        }
        await rekeyer.query("commit");
        assert.equal(await delivery, 401);
        assert.ok(waiting > 0, "the delivery waited for the re-keying");
      } finally {
        await rekeyer.end();
      }
    },
  );

  test("a key a source gave up (re-keyed or deleted) is never valid again, nor given to another source", async () => {
    const source = await createSource();
    const stale = (await api.call("GET", `/sources/${source.id}`)).json();
    // A read-modify-write client sends the key back with regenerateApiKey: the regeneration wins.
    const rekeyed = await api.call("PUT", `/sources/${source.id}`, { ...stale, regenerateApiKey: true });
    assert.equal(rekeyed.statusCode, 200, rekeyed.body);
    const fresh = rekeyed.json().apiKey as string;
    assert.notEqual(fresh, source.apiKey);

    // Another admin saves the copy read before the re-key: the description changes, the key does not
    // go back to the retired one.
    const saved = await api.call("PUT", `/sources/${source.id}`, { ...stale, description: "typo fixed" });
    assert.equal(saved.statusCode, 200, saved.body);
    assert.equal(saved.json().apiKey, fresh);
    assert.equal(saved.json().description, "typo fixed");
    assert.equal((await api.call("POST", "/leads", lead({}, "4155550181"), source.apiKey)).statusCode, 401);
    assert.equal((await api.call("POST", "/leads", lead({}, "4155550182"), fresh)).statusCode, 201);

    // Nobody may take the retired key, in this organization or another.
    for (const [key, body] of [
      [api.org.apiKey, { name: "Mine", apiKey: source.apiKey }],
      [other.apiKey, { name: "Theirs", apiKey: source.apiKey }],
    ] as const) {
      const res = await api.call("POST", "/sources", body, key);
      assert.equal(res.statusCode, 409, res.body);
      assert.doesNotMatch(res.json().detail, /org_|src_/);
    }
    // Nor the key of a deleted source.
    assert.equal((await api.call("DELETE", `/sources/${source.id}`)).statusCode, 204);
    const afterDelete = await api.call("POST", "/sources", { name: "Reuse", apiKey: fresh }, other.apiKey);
    assert.equal(afterDelete.statusCode, 409, afterDelete.body);
    assert.equal((await api.call("POST", "/leads", lead({}, "4155550183"), fresh)).statusCode, 401);
  });

  test("a DELETE racing PUTs that re-key the source: no key handed out works afterwards, none left unretired", async () => {
    for (let round = 0; round < 8; round++) {
      const source = await createSource({ name: `Racing ${round}` });
      const answers = await Promise.all([
        api.call("PUT", `/sources/${source.id}`, { name: "r", regenerateApiKey: true }),
        api.call("DELETE", `/sources/${source.id}`),
        api.call("PUT", `/sources/${source.id}`, { name: "r", regenerateApiKey: true }),
      ]);
      for (const res of answers) assert.ok([200, 204, 404].includes(res.statusCode), res.body);
      const keys = [
        source.apiKey,
        ...answers.filter((r) => r.statusCode === 200).map((r) => r.json().apiKey),
      ];
      for (const key of keys) {
        const res = await api.call("POST", "/leads", lead({}, "4155550186"), key);
        assert.equal(
          res.statusCode,
          401,
          `round ${round}: a key of the deleted source still works: ${res.body}`,
        );
      }
      const row = await api.db.store.db
        .selectFrom("sources")
        .select(["api_key_hash", "deleted_at"])
        .where("id", "=", source.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.api_key_hash, null);
      assert.notEqual(row.deleted_at, null);
      const retired = await api.db.store.db
        .selectFrom("retired_source_keys")
        .select((eb) => eb.fn.countAll<number | string>().as("n"))
        .where("source_id", "=", source.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(retired.n), keys.length, `round ${round}: every key it held is retired`);
    }
  });

  test("a PUT that changes nothing leaves modifiedAt as it was", async () => {
    const source = await createSource({
      description: "same",
      allowedStates: ["CA"],
      defaultTagNames: ["Same"],
    });
    const echoed = await api.call("PUT", `/sources/${source.id}`, source);
    assert.equal(echoed.statusCode, 200, echoed.body);
    assert.deepEqual(echoed.json(), source);
    const changed = (
      await api.call("PUT", `/sources/${source.id}`, { ...source, allowedStates: ["CA", "NV"] })
    ).json();
    assert.match(changed.modifiedAt, ISO);
    assert.deepEqual(changed.allowedStates, ["CA", "NV"]);
  });

  test("default tags, states and products in another order are the same settings: no change", async () => {
    const source = await createSource({
      allowedStates: ["CA", "TX"],
      allowedProducts: ["auto", "home"],
      defaultTagNames: ["A", "B"],
    });
    const reordered = await api.call("PUT", `/sources/${source.id}`, {
      name: source.name,
      allowedStates: ["TX", "CA"],
      allowedProducts: ["home", "auto"],
      defaultTagNames: ["b", "a"],
    });
    assert.equal(reordered.statusCode, 200, reordered.body);
    assert.deepEqual(reordered.json(), source);
  });

  test("PUT keeps what it leaves out, replaces what it sends; a mismatched id is a 400", async () => {
    const source = await createSource({
      description: "d",
      costPerLead: 1,
      allowedStates: ["CA"],
      defaultTagNames: ["A"],
      requiresTrustedForm: true,
    });
    const kept = (await api.call("PUT", `/sources/${source.id}`, { name: "New name" })).json();
    assert.equal(kept.description, "d");
    assert.equal(kept.costPerLead, 1);
    assert.deepEqual(kept.allowedStates, ["CA"]);
    assert.deepEqual(kept.defaultTagIds, ["tag_a"]);
    assert.equal(kept.requiresTrustedForm, true);
    assert.equal(kept.apiKey, source.apiKey);

    const replaced = (
      await api.call("PUT", `/sources/${source.id}`, {
        id: source.id,
        name: "New name",
        description: null,
        costPerLead: null,
        allowedStates: [],
        defaultTagIds: [],
        defaultTagNames: ["B"],
        requiresTrustedForm: false,
      })
    ).json();
    assert.equal(replaced.description, null);
    assert.equal(replaced.costPerLead, null);
    assert.deepEqual(replaced.allowedStates, []);
    assert.deepEqual(replaced.defaultTagIds, ["tag_b"]);
    assert.equal(replaced.requiresTrustedForm, false);

    const mismatch = await api.call("PUT", `/sources/${source.id}`, { id: "src_other", name: "x" });
    assert.equal(mismatch.statusCode, 400, mismatch.body);
    assert.equal((await api.call("GET", `/sources/${source.id}`)).json().name, "New name");
  });

  test("DELETE: the source leaves GET and lists, its key stops working, its leads keep its name", async () => {
    const source = await createSource({ name: "Gone Soon" });
    const created = (await api.call("POST", "/leads", lead({}, "4155550194"), source.apiKey)).json();
    const del = await api.call("DELETE", `/sources/${source.id}`);
    assert.equal(del.statusCode, 204, del.body);
    assert.equal((await api.call("GET", `/sources/${source.id}`)).statusCode, 404);
    assert.equal((await api.call("DELETE", `/sources/${source.id}`)).statusCode, 404);
    assert.equal((await api.call("PUT", `/sources/${source.id}`, { name: "x" })).statusCode, 404);
    const list = (await api.call("POST", "/sources/all/my", { pageSize: 500 })).json();
    assert.ok(!list.items.some((i: { id: string }) => i.id === source.id));
    assert.equal((await api.call("POST", "/leads", lead({}, "4155550195"), source.apiKey)).statusCode, 401);
    const leads = await api.call("POST", "/leads/all/my", { filters: [{ field: "id", value: created.id }] });
    assert.deepEqual(leads.json().items[0].source, { id: source.id, name: "Gone Soon" });
  });

  test("another organization's source is a 404 on every route, and never in its list", async () => {
    const mine = await createSource({ name: "Mine" });
    for (const [method, body] of [
      ["GET", undefined],
      ["PUT", { name: "Hijacked" }],
      ["DELETE", undefined],
    ] as const) {
      const res = await api.call(method, `/sources/${mine.id}`, body, other.apiKey);
      assert.equal(res.statusCode, 404, `${method} → ${res.body}`);
    }
    const theirs = (await api.call("POST", "/sources/all/my", { pageSize: 500 }, other.apiKey)).json();
    assert.ok(!theirs.items.some((i: { id: string }) => i.id === mine.id));
    assert.equal((await api.call("GET", `/sources/${mine.id}`)).json().name, "Mine");
  });

  test("POST /sources/all/my pages, searches, filters by enabled and orders by name", async () => {
    const fresh = await createOrganization(api.db.store.db, "Lister");
    const names = ["Delta", "alpha", "Charlie", "bravo", "Echo"];
    for (const [i, name] of names.entries()) {
      const res = await api.call("POST", "/sources", { name, enabled: i % 2 === 0 }, fresh.apiKey);
      assert.equal(res.statusCode, 201, res.body);
    }
    const walk = async (body: Record<string, unknown>) => {
      const seen: string[] = [];
      let token: string | null = null;
      do {
        const res = await api.call(
          "POST",
          "/sources/all/my",
          { ...body, pageSize: 2, continuationToken: token },
          fresh.apiKey,
        );
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json();
        seen.push(...page.items.map((i: { name: string }) => i.name));
        token = page.continuationToken;
      } while (token);
      return seen;
    };
    assert.deepEqual(await walk({}), [...names].reverse());
    assert.deepEqual(await walk({ orderBy: [{ field: "name", direction: "asc" }] }), [
      "Charlie",
      "Delta",
      "Echo",
      "alpha",
      "bravo",
    ]);
    assert.deepEqual(await walk({ filters: [{ field: "enabled", value: true }] }), [
      "Echo",
      "Charlie",
      "Delta",
    ]);
    assert.deepEqual(await walk({ search: "ALP" }), ["alpha"]);
    const counted = await api.call(
      "POST",
      "/sources/all/my",
      { includeCount: true, filters: [{ field: "enabled", value: false }] },
      fresh.apiKey,
    );
    assert.equal(counted.json().totalCount, 2);

    for (const [body, param] of [
      [{ filters: [{ field: "enabled", value: "yes" }] }, "filters[0].value"],
      [{ filters: [{ field: "apiKey", value: "x" }] }, "filters[0].field"],
      [{ orderBy: [{ field: "lastLeadReceivedAt" }] }, "orderBy[0].field"],
    ] as const) {
      const res = await api.call("POST", "/sources/all/my", body, fresh.apiKey);
      assert.equal(res.statusCode, 400, res.body);
      assert.deepEqual(Object.keys(res.json().errors), [param]);
    }
  });

  test("first/lastLeadReceivedAt: deliveries stamped out of order (concurrent ones) keep the earliest and the latest", async () => {
    const source = await createSource({ name: "Out of order" });
    const actor = { organizationId: api.org.organizationId, userId: api.org.userId, sourceId: source.id };
    // Two deliveries at once: the later one (t + 1 s) finishes first, the earlier one stamps after it.
    const t = Date.parse("2030-01-01T00:00:00.000Z");
    await receiveLead(api.db.store.db, actor, lead({}, "4155550171"), t + 1000);
    await receiveLead(api.db.store.db, actor, lead({}, "4155550172"), t);
    const stamped = (await api.call("GET", `/sources/${source.id}`)).json();
    assert.equal(stamped.firstLeadReceivedAt, "2030-01-01T00:00:00.000Z");
    assert.equal(stamped.lastLeadReceivedAt, "2030-01-01T00:00:01.000Z");
  });

  test("apiKeyLastUsedAt: uses counted out of order (concurrent requests) keep the latest", async () => {
    const source = await createSource({ name: "Busy vendor" });
    const t = Date.parse("2030-01-01T00:00:00.000Z");
    // Two requests at once: the later one's count lands first.
    await api.db.store.noteSourceKeyUse(api.org.organizationId, source.id, t + 1000);
    await api.db.store.noteSourceKeyUse(api.org.organizationId, source.id, t);
    const row = (
      await api.call("POST", "/sources/all/my", { filters: [{ field: "id", value: source.id }] })
    ).json().items[0];
    // The list request itself is made with the organization key: not a use of the source's key.
    assert.equal(row.apiKeyTotalUses, 2);
    assert.equal(row.apiKeyLastUsedAt, "2030-01-01T00:00:01.000Z");
  });
});
