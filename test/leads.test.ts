import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { suffixedTagId } from "../src/domain/tags.js";
import { insertLead, updateLead } from "../src/services/leads.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import {
  assertEventRecord,
  assertLeadpingShape,
  countEvents,
  startTestApi,
  type TestApi,
} from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

const leadBody = (overrides: Record<string, unknown> = {}) => ({
  metadata: { utmSource: "facebook-ads", trustedFormUrl: "https://cert.trustedform.com/abc" },
  contact: {
    firstName: "Maria",
    lastName: "Gonzalez",
    email: "Maria.Gonzalez@Example.com",
    phone: { number: "(415) 555-0142", type: "mobile" },
  },
  customer: { isHomeowner: true },
  tagIds: [],
  tagNames: ["hot"],
  ...overrides,
});

forEachEngine("leads", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine);
  });
  after(() => api.close());

  /** The two writes a LeadRequest goes to: a new lead, and an update of `leadId`. */
  const writesOf = (leadId: string) =>
    [
      ["POST", "/leads"],
      ["PUT", `/leads/${leadId}`],
    ] as const;

  const eventsOf = async (leadId: string) => {
    const res = await api.call("POST", `/events/leads/${leadId}`, {
      orderBy: [{ field: "createdAt", direction: "asc" }],
    });
    assert.equal(res.statusCode, 200, res.body);
    const items = res.json().items as Array<Record<string, unknown>>;
    items.forEach(assertEventRecord);
    return items;
  };

  test("POST /leads normalizes phone and email, answers 201 LeadResponse, and GET reads it back", async () => {
    const res = await api.call("POST", "/leads", leadBody());
    assert.equal(res.statusCode, 201, res.body);
    const lead = res.json();
    assert.match(lead.id, /^lead_/);
    assert.equal(lead.contact.phone.number, "+14155550142");
    assert.equal(lead.contact.email, "maria.gonzalez@example.com");
    assert.equal(lead.enabled, true);
    assert.equal(lead.metadata.utmSource, "facebook-ads");
    assert.deepEqual(
      lead.tags.map((t: { name: string }) => t.name),
      ["hot"],
    );
    assert.equal(lead.modifiedAt, null);

    const read = await api.call("GET", `/leads/${lead.id}`);
    assert.equal(read.statusCode, 200);
    assert.deepEqual(read.json(), lead);
  });

  test("an invalid phone or email is a 400 naming the field, and nothing is written", async () => {
    const before = await api.db.store.db
      .selectFrom("leads")
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirst();
    const badPhone = await api.call("POST", "/leads", leadBody({ contact: { phone: { number: "555-01" } } }));
    assert.equal(badPhone.statusCode, 400);
    assert.equal(badPhone.headers["content-type"], "application/problem+json; charset=utf-8");
    assert.match(badPhone.json().detail, /contact\.phone\.number/);
    const badEmail = await api.call("POST", "/leads", leadBody({ contact: { email: "not-an-email" } }));
    assert.equal(badEmail.statusCode, 400);
    assert.match(badEmail.json().detail, /contact\.email/);
    const afterCount = await api.db.store.db
      .selectFrom("leads")
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirst();
    assert.equal(Number(afterCount?.n), Number(before?.n));
  });

  test("creating a lead writes LeadCreated and opens its conversation", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const events = await eventsOf(lead.id);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.activityType, "LeadCreated");
    assert.equal(events[0]!.createdBy, api.org.userId);
    const conversations = (await api.call("POST", `/conversations/lead/${lead.id}`, {})).json();
    assert.equal(conversations.items.length, 1);
    assert.equal(conversations.items[0].leadPhoneNumber, "+14155550142");
    assert.equal(events[0]!.conversationId, conversations.items[0].id);
  });

  test("a lead without a phone has no conversation", async () => {
    const lead = (await api.call("POST", "/leads", leadBody({ contact: { firstName: "Nophone" } }))).json();
    const conversations = (await api.call("POST", `/conversations/lead/${lead.id}`, {})).json();
    assert.equal(conversations.items.length, 0);
    const [event] = await eventsOf(lead.id);
    assert.equal(event!.conversationId, null);
  });

  test("PUT writes LeadUpdated naming the changed fields; a no-op update writes nothing", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const noop = await api.call("PUT", `/leads/${lead.id}`, leadBody());
    assert.equal(noop.statusCode, 200, noop.body);
    assert.equal((await eventsOf(lead.id)).length, 1);

    const changed = leadBody({
      contact: {
        ...leadBody().contact,
        lastName: "Gonzales",
        phone: { number: "415-555-0142", type: "mobile" },
      },
      metadata: {
        utmSource: "google-search",
        utmCampaign: "spring",
        trustedFormUrl: "https://cert.trustedform.com/abc",
      },
    });
    const updated = await api.call("PUT", `/leads/${lead.id}`, changed);
    assert.equal(updated.statusCode, 200, updated.body);
    assert.equal(updated.json().contact.lastName, "Gonzales");
    assert.notEqual(updated.json().modifiedAt, null);
    const events = await eventsOf(lead.id);
    assert.equal(events.length, 2);
    const update = events[1]!;
    assert.equal(update.activityType, "LeadUpdated");
    // The phone was re-entered in another format but normalizes to the same number: not a change.
    assert.equal(update.summary, "Lead updated: contact.lastName, metadata.utmCampaign, metadata.utmSource");
    assert.equal(update.campaignId, "spring");
    assert.equal(events[0]!.campaignId, null);
  });

  test("the same update sent many times at once writes one LeadUpdated event", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const changed = leadBody({ contact: { ...leadBody().contact, firstName: "Marisol" } });
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => api.call("PUT", `/leads/${lead.id}`, changed)),
    );
    for (const res of answers) {
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().contact.firstName, "Marisol");
    }
    const updates = (await eventsOf(lead.id)).filter((e) => e.activityType === "LeadUpdated");
    assert.equal(updates.length, 1, JSON.stringify(updates.map((e) => e.summary)));
    assert.equal(updates[0]!.summary, "Lead updated: contact.firstName");
  });

  test("a lead sent back as GET answered it is a no-op: metadata.organizationId and userId are the server's", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    assert.equal(lead.metadata.organizationId, api.org.organizationId);
    assert.equal(lead.metadata.userId, api.org.userId);
    const { metadata, contact, customer, enabled, tags } = (
      await api.call("GET", `/leads/${lead.id}`)
    ).json();
    const roundTrip = await api.call("PUT", `/leads/${lead.id}`, {
      metadata,
      contact,
      customer,
      enabled,
      tagIds: [],
      tagNames: tags.map((t: { name: string }) => t.name),
    });
    assert.equal(roundTrip.statusCode, 200, roundTrip.body);
    assert.deepEqual(roundTrip.json(), lead);
    assert.equal((await eventsOf(lead.id)).length, 1);

    // Nor can a client move the lead's metadata to another organization or user.
    const spoofed = await api.call("PUT", `/leads/${lead.id}`, {
      ...leadBody(),
      metadata: { ...leadBody().metadata, organizationId: "org_other", userId: "usr_other" },
    });
    assert.equal(spoofed.json().metadata.organizationId, api.org.organizationId);
    assert.equal(spoofed.json().metadata.userId, api.org.userId);
    assert.equal((await eventsOf(lead.id)).length, 1);
  });

  test("a lead's date-times are stored and answered in UTC with Z; the same instants spelled otherwise are no change", async () => {
    const sent = {
      createdAt: "2026-03-01T09:00:00-05:00",
      smsOptOutAt: "2026-03-02T01:30:00+05:30",
      smsOptInAt: "2026-03-01t14:00:00z",
      smsHelpRequestedAt: "2026-03-01T14:00:00.1239Z",
      trustedFormCheckedAt: "2026-02-28T23:00:00.5-01:00",
    };
    const utc = {
      createdAt: "2026-03-01T14:00:00.000Z",
      smsOptOutAt: "2026-03-01T20:00:00.000Z",
      smsOptInAt: "2026-03-01T14:00:00.000Z",
      smsHelpRequestedAt: "2026-03-01T14:00:00.123Z",
      trustedFormCheckedAt: "2026-03-01T00:00:00.500Z",
    };
    const body = leadBody({
      metadata: { ...leadBody().metadata, ...sent },
      contact: { ...leadBody().contact, firstName: "Zulema" },
      customer: { birthDate: "1990-04-01" },
    });
    const created = await api.call("POST", "/leads", body);
    assert.equal(created.statusCode, 201, created.body);
    const lead = created.json();
    assertLeadpingShape(lead, "LeadResponse");
    for (const [field, value] of Object.entries(utc)) assert.equal(lead.metadata[field], value, field);
    // A date (format: date) is no instant: kept as sent.
    assert.equal(lead.customer.birthDate, "1990-04-01");
    assert.deepEqual((await api.call("GET", `/leads/${lead.id}`)).json(), lead);
    // The list row carries no client date-time; none of the offsets sent shows there either.
    const list = await api.call("POST", "/leads/all/my", { search: "Zulema" });
    assert.deepEqual(
      list.json().items.map((i: { id: string }) => i.id),
      [lead.id],
    );
    assert.doesNotMatch(list.body, /[+-]\d\d:\d\d"/);

    // Re-sent in the original spellings: the same instants, no LeadUpdated event.
    const resent = await api.call("PUT", `/leads/${lead.id}`, body);
    assert.equal(resent.statusCode, 200, resent.body);
    assert.deepEqual(resent.json(), lead);
    assert.equal((await eventsOf(lead.id)).length, 1);
  });

  test("every field the subset types must have its type: a 400 naming it, and nothing is written", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const count = async () =>
      Number(
        (
          await api.db.store.db
            .selectFrom("events")
            .select((eb) => eb.fn.countAll().as("n"))
            .where("organization_id", "=", api.org.organizationId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const eventsBefore = await count();
    const base = leadBody();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ metadata: { ...base.metadata, utmSource: 5 } }, "metadata.utmSource"],
      [{ metadata: { ...base.metadata, isImported: "yes" } }, "metadata.isImported"],
      [{ metadata: { ...base.metadata, smsOptedOut: null } }, "metadata.smsOptedOut"],
      [{ metadata: { ...base.metadata, createdAt: "not a date" } }, "metadata.createdAt"],
      // Passed by the schema's date-time check, but no instant leadtrail can store in UTC form.
      [{ metadata: { ...base.metadata, smsOptOutAt: "2026-12-31T23:59:60Z" } }, "metadata.smsOptOutAt"],
      [{ metadata: { ...base.metadata, smsOptInAt: "2026-03-01T09:00:00+0500" } }, "metadata.smsOptInAt"],
      [{ metadata: { ...base.metadata, sourceMetadata: { a: 1 } } }, "metadata.sourceMetadata.a"],
      [{ contact: { ...base.contact, streetAddress: { state: 7 } } }, "contact.streetAddress.state"],
      [
        { contact: { ...base.contact, coordinate: { latitude: "x", longitude: 2 } } },
        "contact.coordinate.latitude",
      ],
      [{ contact: { ...base.contact, coordinate: { latitude: 1 } } }, "contact.coordinate"],
      [{ contact: { ...base.contact, avatarUrl: "not a url" } }, "contact.avatarUrl"],
      [{ customer: { height: "tall" } }, "customer.height"],
      [{ customer: { gender: "X" } }, "customer.gender"],
      [{ customer: { birthDate: "yesterday" } }, "customer.birthDate"],
      [{ customer: { isHomeowner: "true" } }, "customer.isHomeowner"],
    ];
    for (const [overrides, field] of cases) {
      for (const [method, path] of writesOf(lead.id)) {
        const res = await api.call(method, path, leadBody(overrides));
        assert.equal(res.statusCode, 400, `${method} ${JSON.stringify(overrides)}: ${res.body}`);
        const problem = res.json();
        assert.ok(problem.detail.includes(field), `${field} not named in: ${problem.detail}`);
      }
    }
    assert.equal(await count(), eventsBefore);
    assert.deepEqual((await api.call("GET", `/leads/${lead.id}`)).json(), lead);

    // The same fields with their types (and null, "not said") are taken, and answered as LeadResponse.
    const typed = await api.call(
      "POST",
      "/leads",
      leadBody({
        metadata: {
          ...base.metadata,
          isImported: false,
          smsOptedOut: true,
          createdAt: "2026-11-01T10:00:00Z",
          sourceMetadata: { a: "1" },
        },
        contact: {
          ...base.contact,
          streetAddress: { state: "CA", country: "US" },
          coordinate: { latitude: 37.77, longitude: -122.42 },
          avatarUrl: "https://example.com/a.png",
        },
        customer: { height: 180, gender: null, birthDate: "1990-04-01", maritalStatus: "Single" },
      }),
    );
    assert.equal(typed.statusCode, 201, typed.body);
    assertLeadpingShape(typed.json(), "LeadResponse");
    // An empty avatarUrl (a form's empty field) is "no picture": null, as the contract writes it.
    const emptyAvatar = await api.call(
      "POST",
      "/leads",
      leadBody({ contact: { ...base.contact, avatarUrl: "" } }),
    );
    assert.equal(emptyAvatar.statusCode, 201, emptyAvatar.body);
    assert.equal(emptyAvatar.json().contact.avatarUrl, null);
    assertLeadpingShape(emptyAvatar.json(), "LeadResponse");
    const thread = (await api.call("POST", `/conversations/lead/${emptyAvatar.json().id}`, {})).json()
      .items[0];
    assert.equal(thread.avatarUrl, null);
    assertLeadpingShape(thread, "ConversationResponse");
    // Sent again as "" after null, it is no change: no LeadUpdated event.
    const again = await api.call(
      "PUT",
      `/leads/${emptyAvatar.json().id}`,
      leadBody({ contact: { ...base.contact, avatarUrl: "" } }),
    );
    assert.equal(again.statusCode, 200, again.body);
    const updates = (await eventsOf(emptyAvatar.json().id)).filter((e) => e.activityType === "LeadUpdated");
    assert.equal(updates.length, 0);
    // A bad value's 400 says what a good one is.
    const bad = await api.call(
      "POST",
      "/leads",
      leadBody({ contact: { ...base.contact, avatarUrl: "not a url" } }),
    );
    assert.match(bad.json().detail, /contact\.avatarUrl must match format "uri"/);
  });

  test("/openapi.json says what PUT /leads/{id} replaces and that an absent enabled is kept", async () => {
    const doc = (await api.call("GET", "/openapi.json", undefined, null)).json();
    const put = doc.paths["/leads/{id}"].put;
    assert.match(put.description, /replaced as given: a field left out is removed/);
    assert.match(put.description, /absent or null enabled keeps the lead's value/);
  });

  test("a US address (country US or not given) needs a US state and ZIP code: a 400 naming the field, and nothing is written", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const leadsBefore = (await api.call("POST", "/leads/all/my", { includeCount: true })).json().totalCount;
    const withAddress = (streetAddress: Record<string, unknown>) =>
      leadBody({ contact: { ...leadBody().contact, streetAddress } });
    for (const [address, field] of [
      [{ state: "Zzz" }, "contact.streetAddress.state"],
      [{ state: "C A", country: "US" }, "contact.streetAddress.state"],
      [{ state: "Ontario", country: "united states" }, "contact.streetAddress.state"],
      [{ state: "CA", postalCode: "9410" }, "contact.streetAddress.postalCode"],
      [{ state: "CA", postalCode: "94105-12" }, "contact.streetAddress.postalCode"],
      [{ postalCode: "SW1A 1AA", country: "USA" }, "contact.streetAddress.postalCode"],
    ] as const) {
      for (const [method, path] of writesOf(lead.id)) {
        const res = await api.call(method, path, withAddress(address));
        assert.equal(res.statusCode, 400, `${method} ${JSON.stringify(address)}: ${res.body}`);
        assert.equal(res.headers["content-type"], "application/problem+json; charset=utf-8");
        assert.deepEqual(Object.keys(res.json().errors), [field], res.body);
        assert.ok(res.json().detail.startsWith(field), res.body);
      }
    }
    assert.equal(
      (await api.call("POST", "/leads/all/my", { includeCount: true })).json().totalCount,
      leadsBefore,
    );
    assert.deepEqual((await api.call("GET", `/leads/${lead.id}`)).json(), lead);

    // A code or a name in any case, a ZIP or ZIP+4, empty fields, and another country's address are
    // taken and kept as sent.
    for (const address of [
      { state: "ca", postalCode: "94105" },
      { state: "New  York", postalCode: " 10001-1234 ", country: "United States" },
      { state: "PR", postalCode: "00901" },
      { state: "", postalCode: "" },
      { state: "Ontario", postalCode: "K1A 0B1", country: "CA" },
      { state: "Bavaria", postalCode: "80331", country: "Germany" },
      // No country, but a Canadian province: a vendor leaves Canada out as it leaves the US out.
      { state: "ON", postalCode: "M5V 2T6" },
      { province: "Quebec", postalCode: "H2X 1Y4" },
      { state: "Washington D.C.", postalCode: "20001" },
    ]) {
      const res = await api.call("POST", "/leads", withAddress(address));
      assert.equal(res.statusCode, 201, `${JSON.stringify(address)}: ${res.body}`);
      assert.deepEqual(res.json().contact.streetAddress, address);
      assertLeadpingShape(res.json(), "LeadResponse");
    }
    const updated = await api.call(
      "PUT",
      `/leads/${lead.id}`,
      withAddress({ state: "Texas", postalCode: "73301" }),
    );
    assert.equal(updated.statusCode, 200, updated.body);
    const summaries = (await eventsOf(lead.id)).map((e) => e.summary);
    assert.equal(
      summaries.at(-1),
      "Lead updated: contact.streetAddress.postalCode, contact.streetAddress.state",
    );
  });

  test("a lead stored before states and ZIP codes were checked can still be updated, its address sent back as it is", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    // As stored by an earlier version, which took any state and ZIP code.
    const legacy = { state: "Calif", postalCode: "N/A" };
    const row = await api.db.store.db
      .selectFrom("leads")
      .select("document")
      .where("id", "=", lead.id)
      .executeTakeFirstOrThrow();
    const document = JSON.parse(row.document);
    document.contact.streetAddress = legacy;
    await api.db.store.db
      .updateTable("leads")
      .set({ document: JSON.stringify(document) })
      .where("id", "=", lead.id)
      .execute();
    const read = (await api.call("GET", `/leads/${lead.id}`)).json();
    assert.deepEqual(read.contact.streetAddress, legacy);

    const renamed = await api.call("PUT", `/leads/${lead.id}`, {
      ...leadBody(),
      contact: { ...read.contact, firstName: "Renamed" },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.deepEqual(renamed.json().contact.streetAddress, legacy);
    assert.equal((await eventsOf(lead.id)).at(-1)!.summary, "Lead updated: contact.firstName");

    // A new bad value is still a 400, and so it is for a lead that does not exist (the body first).
    const withAddress = (streetAddress: Record<string, unknown>) =>
      leadBody({ contact: { ...read.contact, streetAddress } });
    for (const [path, address, field] of [
      [`/leads/${lead.id}`, { ...legacy, state: "Zzz" }, "contact.streetAddress.state"],
      [`/leads/${lead.id}`, { ...legacy, postalCode: "123" }, "contact.streetAddress.postalCode"],
      ["/leads/lead_01HZZZZZZZZZZZZZZZZZZZZZZZ", legacy, "contact.streetAddress.state"],
    ] as const) {
      const res = await api.call("PUT", path, withAddress(address));
      assert.equal(res.statusCode, 400, `${path} ${JSON.stringify(address)}: ${res.body}`);
      assert.deepEqual(Object.keys(res.json().errors), [field], res.body);
    }
    // A new lead gets no such pass.
    const created = await api.call("POST", "/leads", withAddress(legacy));
    assert.equal(created.statusCode, 400, created.body);
    assert.equal((await api.call("GET", `/leads/${lead.id}`)).json().contact.firstName, "Renamed");
  });

  test("a lead holding text over a limit (stored before the limits) can be sent back unchanged; a changed value over a limit is a 400", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const long = (n: number) => "\u{1F600}".repeat(n);
    // As stored by an earlier version, which took text of any length.
    const row = await api.db.store.db
      .selectFrom("leads")
      .select("document")
      .where("id", "=", lead.id)
      .executeTakeFirstOrThrow();
    const document = JSON.parse(row.document);
    document.contact.streetAddress = { city: long(900), line1: "1 Main St", state: "CA" };
    document.contact.lastName = long(300);
    document.metadata.utmSource = long(600);
    document.metadata.sellerLeadId = long(250);
    document.metadata.sourceMetadata = Object.fromEntries(
      Array.from({ length: 201 }, (_, i) => [`k${i}`, i === 0 ? long(1100) : "v"]),
    );
    document.customer.notes = [long(3000), "short"];
    document.customer[`x${long(250)}`] = "unknown property";
    await api.db.store.db
      .updateTable("leads")
      .set({ document: JSON.stringify(document) })
      .where("id", "=", lead.id)
      .execute();
    const read = (await api.call("GET", `/leads/${lead.id}`)).json();
    assert.equal(read.contact.streetAddress.city, long(900));

    // Read, change the phone, write back: taken, and only the phone is named as changed.
    const { metadata, contact, customer, enabled } = read;
    const tagIds = read.tags.map((t: { id: string }) => t.id);
    const rephoned = {
      metadata,
      contact: { ...contact, phone: { number: "+14155550199" } },
      customer,
      enabled,
      tagIds,
    };
    const res = await api.call("PUT", `/leads/${lead.id}`, rephoned);
    assert.equal(res.statusCode, 200, res.body.slice(0, 300));
    assert.deepEqual(res.json().contact.streetAddress, document.contact.streetAddress);
    assert.equal(res.json().customer.notes[0], long(3000));
    assert.equal(
      (await eventsOf(lead.id)).at(-1)!.summary,
      "Lead updated: contact.phone.number, contact.phone.type",
    );

    // A changed value over its limit is a 400 naming it; so is a new one beside the stored ones, and
    // the same text for a lead that does not exist or a new lead (the body first).
    const withChange = (change: (body: typeof rephoned) => void) => {
      const body = structuredClone(rephoned);
      change(body);
      return body;
    };
    for (const [path, body, field] of [
      [
        `/leads/${lead.id}`,
        withChange((b) => (b.contact.streetAddress.city = long(901))),
        "contact.streetAddress.city",
      ],
      [
        `/leads/${lead.id}`,
        withChange((b) => (b.contact.streetAddress.line2 = long(201))),
        "contact.streetAddress.line2",
      ],
      [`/leads/${lead.id}`, withChange((b) => (b.contact.lastName = `${long(300)}x`)), "contact.lastName"],
      [`/leads/${lead.id}`, withChange((b) => (b.metadata.utmSource = long(601))), "metadata.utmSource"],
      [
        `/leads/${lead.id}`,
        withChange((b) => (b.metadata.sellerLeadId = long(201))),
        "metadata.sellerLeadId",
      ],
      [
        `/leads/${lead.id}`,
        withChange((b) => (b.metadata.sourceMetadata.k1 = long(1001))),
        "metadata.sourceMetadata.k1",
      ],
      [
        `/leads/${lead.id}`,
        withChange((b) => (b.metadata.sourceMetadata.k201 = "new")),
        "metadata.sourceMetadata",
      ],
      [`/leads/${lead.id}`, withChange((b) => b.customer.notes.unshift("first")), "customer.notes[1]"],
      [`/leads/${lead.id}`, withChange((b) => (b.customer[`y${long(250)}`] = 1)), "customer"],
      ["/leads/lead_01HZZZZZZZZZZZZZZZZZZZZZZZ", rephoned, "metadata.utmSource"],
    ] as const) {
      const bad = await api.call("PUT", path, body);
      assert.equal(bad.statusCode, 400, `${field}: ${bad.body.slice(0, 300)}`);
      assert.deepEqual(Object.keys(bad.json().errors), [field], bad.body.slice(0, 300));
    }
    const created = await api.call("POST", "/leads", rephoned);
    assert.equal(created.statusCode, 400, created.body.slice(0, 300));
    assert.deepEqual(Object.keys(created.json().errors), ["metadata.utmSource"]);
    assert.equal((await api.call("GET", `/leads/${lead.id}`)).json().contact.phone.number, "+14155550199");
  });

  test("an empty contact.timeZoneId is no time zone: stored and answered as null, and re-sent for none it is no change", async () => {
    const created = await api.call(
      "POST",
      "/leads",
      leadBody({ contact: { ...leadBody().contact, timeZoneId: "" } }),
    );
    assert.equal(created.statusCode, 201, created.body);
    const lead = created.json();
    assert.equal(lead.contact.timeZoneId, null);
    assertLeadpingShape(lead, "LeadResponse");
    for (const timeZoneId of [" ", null, undefined, ""]) {
      const res = await api.call(
        "PUT",
        `/leads/${lead.id}`,
        leadBody({ contact: { ...leadBody().contact, timeZoneId } }),
      );
      assert.equal(res.statusCode, 200, res.body);
    }
    assert.equal((await eventsOf(lead.id)).length, 1);
    // A zone given is kept as sent, and its removal is a change the LeadUpdated event names.
    const zoned = await api.call(
      "PUT",
      `/leads/${lead.id}`,
      leadBody({ contact: { ...leadBody().contact, timeZoneId: "Eastern Standard Time" } }),
    );
    assert.equal(zoned.json().contact.timeZoneId, "Eastern Standard Time");
    const cleared = await api.call(
      "PUT",
      `/leads/${lead.id}`,
      leadBody({ contact: { ...leadBody().contact, timeZoneId: "" } }),
    );
    assert.equal(cleared.json().contact.timeZoneId, null);
    assert.deepEqual(
      (await eventsOf(lead.id)).slice(1).map((e) => e.summary),
      ["Lead updated: contact.timeZoneId", "Lead updated: contact.timeZoneId"],
    );
  });

  test("a national number is read in the address's country when libphonenumber knows it, else in the US", async () => {
    for (const [country, number, e164] of [
      ["XX", "(415) 555-0142", "+14155550142"],
      ["Narnia", "(415) 555-0142", "+14155550142"],
      [" gb ", "020 7946 0958", "+442079460958"],
    ]) {
      const res = await api.call(
        "POST",
        "/leads",
        leadBody({ contact: { firstName: "Ann", phone: { number }, streetAddress: { country } } }),
      );
      assert.equal(res.statusCode, 201, `${country}: ${res.body}`);
      assert.equal(res.json().contact.phone.number, e164);
    }
  });

  test("a price is kept to the micro-dollar: the lead and its list row show the same price", async () => {
    const res = await api.call(
      "POST",
      "/leads",
      leadBody({ metadata: { ...leadBody().metadata, price: 0.1 + 0.2, directPostPrice: 1e-7 } }),
    );
    assert.equal(res.statusCode, 201, res.body);
    const lead = res.json();
    assert.equal(lead.metadata.price, 0.3);
    assert.equal(lead.metadata.directPostPrice, 0);
    const rows = (await api.call("POST", "/leads/all/my", { pageSize: 500 })).json().items;
    assert.equal(rows.find((r: { id: string }) => r.id === lead.id).price, 0.3);
  });

  test("a PUT whose body names another lead's id is a 400, and changes nothing", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const other = (await api.call("POST", "/leads", leadBody())).json();
    const res = await api.call("PUT", `/leads/${lead.id}`, {
      ...leadBody({ contact: { firstName: "Changed" } }),
      id: other.id,
    });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.json().detail, /id/);
    assert.deepEqual((await api.call("GET", `/leads/${lead.id}`)).json(), lead);
    // Its own id, as GET answered it, is fine.
    const own = await api.call("PUT", `/leads/${lead.id}`, { ...leadBody(), id: lead.id });
    assert.equal(own.statusCode, 200, own.body);
  });

  test("an id on POST /leads is a 400 naming it, and nothing is written; null or empty is no id", async () => {
    const existing = (await api.call("POST", "/leads", leadBody())).json();
    // Every lead written writes its LeadCreated event: no event, no lead.
    const before = await countEvents(api);
    // An existing lead's id (a client that meant to update it) and an id of the client's own.
    for (const id of [existing.id, "lead_mine_42"]) {
      const res = await api.call("POST", "/leads", { ...leadBody(), id });
      assert.equal(res.statusCode, 400, res.body);
      assert.deepEqual(Object.keys(res.json().errors), ["id"]);
      assert.match(res.json().detail, /PUT \/leads\//);
    }
    assert.equal(await countEvents(api), before);
    assert.deepEqual((await api.call("GET", `/leads/${existing.id}`)).json(), existing);
    // A generated client sends its unset id as null; a form's empty field is "".
    for (const id of [null, ""]) {
      const res = await api.call("POST", "/leads", { ...leadBody(), id });
      assert.equal(res.statusCode, 201, res.body);
      assert.notEqual(res.json().id, existing.id);
    }
  });

  test("a PUT of the LeadResponse as read (tags, no tagIds/tagNames) keeps the lead's tags; empty lists clear them", async () => {
    const created = await api.call(
      "POST",
      "/leads",
      leadBody({ tagNames: ["hot", "Roof"], tagIds: ["tag_vip"] }),
    );
    assert.equal(created.statusCode, 201, created.body);
    const lead = created.json();
    const tagIdsOf = (body: { tags: Array<{ id: string }> }) => body.tags.map((t) => t.id).sort();
    assert.deepEqual(tagIdsOf(lead), ["tag_hot", "tag_roof", "tag_vip"]);
    // Sent back as read, with only the first name changed: the tags stay and are not "changed".
    for (const lists of [{}, { tagIds: null, tagNames: null }]) {
      const back = {
        ...lead,
        ...lists,
        contact: { ...lead.contact, firstName: `Mara${Object.keys(lists).length}` },
      };
      const res = await api.call("PUT", `/leads/${lead.id}`, back);
      assert.equal(res.statusCode, 200, res.body);
      assertLeadpingShape(res.json(), "LeadResponse");
      assert.deepEqual(tagIdsOf(res.json()), ["tag_hot", "tag_roof", "tag_vip"]);
      assert.deepEqual(res.json().tags, lead.tags);
    }
    const updates = (await eventsOf(lead.id)).filter((e) => e.activityType === "LeadUpdated");
    assert.deepEqual(
      updates.map((e) => e.summary),
      ["Lead updated: contact.firstName", "Lead updated: contact.firstName"],
    );
    // The tag filter still finds it.
    const tagged = await api.call("POST", "/leads/all/my?tagIds=tag_roof", { pageSize: 500 });
    assert.ok(tagged.json().items.some((r: { id: string }) => r.id === lead.id));
    // One list given replaces them; both empty clears them.
    const one = await api.call("PUT", `/leads/${lead.id}`, { ...lead, tagNames: ["Roof"] });
    assert.deepEqual(tagIdsOf(one.json()), ["tag_roof"]);
    const cleared = await api.call("PUT", `/leads/${lead.id}`, { ...lead, tagIds: [], tagNames: [] });
    assert.deepEqual(cleared.json().tags, []);
  });

  test("PUT replaces the document, but an absent or null enabled keeps the lead's: a disabled lead stays disabled", async () => {
    const created = await api.call("POST", "/leads", leadBody({ enabled: false }));
    assert.equal(created.statusCode, 201, created.body);
    const lead = created.json();
    assert.equal(lead.enabled, false);
    // A Leadping client's PUT need not send the optional enabled: the lead is not re-enabled.
    for (const enabled of [undefined, null]) {
      const res = await api.call("PUT", `/leads/${lead.id}`, { ...leadBody(), enabled });
      assert.equal(res.statusCode, 200, res.body);
      assertLeadpingShape(res.json(), "LeadResponse");
      assert.deepEqual(res.json(), lead);
    }
    assert.equal((await eventsOf(lead.id)).length, 1);
    const listed = (
      await api.call("POST", "/leads/all/my", { filters: [{ field: "id", value: lead.id }] })
    ).json().items[0];
    assert.equal(listed.enabled, false);
    // The row's enabled is a filter too, with a JSON boolean (as the sources list's is).
    const byEnabled = async (value: unknown) => {
      const res = await api.call("POST", "/leads/all/my", {
        filters: [{ field: "enabled", value }],
        pageSize: 500,
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().items as Array<{ id: string; enabled: boolean }>;
    };
    const disabled = await byEnabled(false);
    assert.ok(disabled.some((r) => r.id === lead.id) && disabled.every((r) => !r.enabled));
    const enabled = await byEnabled(true);
    assert.ok(enabled.length > 0 && enabled.every((r) => r.enabled && r.id !== lead.id));
    const notBoolean = await api.call("POST", "/leads/all/my", {
      filters: [{ field: "enabled", value: "no" }],
    });
    assert.equal(notBoolean.statusCode, 400, notBoolean.body);
    assert.match(notBoolean.json().detail, /filters\[0\]\.value/);

    // Given, it is replaced, and the LeadUpdated event names it.
    const enabledAgain = await api.call("PUT", `/leads/${lead.id}`, leadBody({ enabled: true }));
    assert.equal(enabledAgain.json().enabled, true);
    const updates = (await eventsOf(lead.id)).filter((e) => e.activityType === "LeadUpdated");
    assert.deepEqual(
      updates.map((e) => e.summary),
      ["Lead updated: enabled"],
    );
    // The required parts are replaced as given: a field left out of contact is gone.
    const replaced = await api.call(
      "PUT",
      `/leads/${lead.id}`,
      leadBody({ contact: { ...leadBody().contact, lastName: undefined } }),
    );
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.equal(replaced.json().contact.lastName, undefined);
    assert.equal(replaced.json().enabled, true);
    assert.equal((await eventsOf(lead.id)).at(-1)!.summary, "Lead updated: contact.lastName");
  });

  test("a key with a dot and the same path nested are different values: the change is seen", async () => {
    const nested = leadBody({ customer: { notes: { b: "1" } } });
    const lead = (await api.call("POST", "/leads", nested)).json();
    const dotted = leadBody({ customer: { "notes.b": "1" } });
    const res = await api.call("PUT", `/leads/${lead.id}`, dotted);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().customer, { "notes.b": "1" });
    const updates = (await eventsOf(lead.id)).filter((e) => e.activityType === "LeadUpdated");
    assert.equal(updates.length, 1);
    assert.equal(updates[0]!.summary, "Lead updated: customer.notes.b");
  });

  test("an update never moves modifiedAt back: applied after a later-stamped one, it takes that time", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const actor = { organizationId: api.org.organizationId, userId: api.org.userId };
    const later = Date.now() + 60_000;
    await updateLead(api.db.store.db, actor, lead.id, leadBody({ contact: { firstName: "First" } }), later);
    const result = await updateLead(
      api.db.store.db,
      actor,
      lead.id,
      leadBody({ contact: { firstName: "Second" } }),
      later - 30_000,
    );
    assert.equal(result?.lead.updated_at, later);
    const updates = (await eventsOf(lead.id)).filter((e) => e.activityType === "LeadUpdated");
    assert.deepEqual(
      updates.map((e) => e.summary),
      [
        "Lead updated: contact.email, contact.firstName, contact.lastName, contact.phone.number, contact.phone.type",
        "Lead updated: contact.firstName",
      ],
    );
    assert.equal(updates[1]!.createdAt, new Date(later).toISOString());
  });

  test("a change in the millisecond the lead was created still sets modifiedAt", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    assert.equal(lead.modifiedAt, null);
    const actor = { organizationId: api.org.organizationId, userId: api.org.userId };
    const createdAt = Date.parse(lead.createdAt);
    const result = await updateLead(
      api.db.store.db,
      actor,
      lead.id,
      leadBody({ contact: { firstName: "Same" } }),
      createdAt,
    );
    assert.equal(result?.lead.updated_at, createdAt + 1);
    const read = (await api.call("GET", `/leads/${lead.id}`)).json();
    assert.equal(read.modifiedAt, new Date(createdAt + 1).toISOString());
    const updates = (await eventsOf(lead.id)).filter((e) => e.activityType === "LeadUpdated");
    assert.equal(updates.length, 1);
  });

  test("of concurrent PUTs, the one applied last has the lead's modifiedAt and its newest event", async () => {
    const lead = (await api.call("POST", "/leads", leadBody())).json();
    const phones = Array.from({ length: 20 }, (_, i) => `+1415555${String(300 + i).padStart(4, "0")}`);
    await Promise.all(
      phones.map((number) =>
        api.call(
          "PUT",
          `/leads/${lead.id}`,
          leadBody({ contact: { firstName: "Maria", phone: { number } } }),
        ),
      ),
    );
    const now = (await api.call("GET", `/leads/${lead.id}`)).json();
    const newest = (await api.call("POST", `/events/leads/${lead.id}`, {})).json().items[0];
    assert.equal(newest.activityType, "LeadUpdated");
    assert.equal(newest.toPhoneNumber, now.contact.phone.number);
    assert.equal(newest.createdAt, now.modifiedAt);
  });

  test("a lead made by a short code's message can be updated, keeping that sender as its phone", async () => {
    const actor = { organizationId: api.org.organizationId, userId: api.org.userId };
    const made = await api.db.store.db.transaction().execute((trx) =>
      insertLead(trx, actor, { contact: { phone: { number: "72345" } } }, Date.now(), {
        acceptSenderIds: true,
      }),
    );
    const read = (await api.call("GET", `/leads/${made.id}`)).json();
    assert.equal(read.contact.phone.number, "72345");
    const renamed = await api.call("PUT", `/leads/${made.id}`, {
      metadata: read.metadata,
      contact: { ...read.contact, firstName: "Shorty" },
      customer: read.customer,
      tagIds: [],
      tagNames: [],
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().contact.firstName, "Shorty");
    assert.equal(renamed.json().contact.phone.number, "72345");
    // Another short code is no phone an API client may give a lead.
    const other = await api.call("PUT", `/leads/${made.id}`, { contact: { phone: { number: "72346" } } });
    assert.equal(other.statusCode, 400, other.body);
    assert.match(other.json().detail, /contact\.phone\.number/);
  });

  test("search folds case beyond ASCII on both engines: a stored 'Émile ÖZTÜRK' is found as typed or lower-cased", async () => {
    const lead = (
      await api.call("POST", "/leads", { contact: { firstName: "Émile", lastName: "ÖZTÜRK" } })
    ).json();
    for (const term of ["Émile", "émile", "ÖZTÜRK", "öztürk", "ztÜr"]) {
      const leads = (await api.call("POST", "/leads/all/my", { search: term, includeCount: true })).json();
      assert.deepEqual(
        leads.items.map((l: { id: string }) => l.id),
        [lead.id],
        `leads, search '${term}'`,
      );
      const events = (
        await api.call("POST", "/events/all/my", {
          search: term,
          searchFields: ["summary"],
          includeCount: true,
        })
      ).json();
      assert.deepEqual(
        events.items.map((e: { leadId: string; activityType: string }) => [e.leadId, e.activityType]),
        [[lead.id, "LeadCreated"]],
        `events, search '${term}'`,
      );
    }
    // An empty searchFields means the default fields, never "no condition".
    const none = await api.call("POST", "/leads/all/my", {
      search: "zzqx-nobody",
      searchFields: [],
      includeCount: true,
    });
    assert.equal(none.json().totalCount, 0);
  });

  test("tags: names matched case-insensitively, ids resolved; lists filter by tagIds (any or all), untagged and archiveFilter", async () => {
    const { createOrganization } = await import("../src/store/orgs-repo.js");
    const org = await createOrganization(api.db.store.db, "Tagged");
    const call = (method: "POST" | "PUT", url: string, body: unknown) =>
      api.call(method, url, body, org.apiKey);
    const create = async (name: string, tags: { tagNames?: string[]; tagIds?: string[] }) => {
      const res = await call("POST", "/leads", {
        contact: { firstName: name, phone: { number: "+12025550123" } },
        ...tags,
      });
      assert.equal(res.statusCode, 201, res.body);
      return res.json();
    };
    const a = await create("A", { tagNames: ["Hot", "VIP client"] });
    const b = await create("B", { tagNames: [" hot "] });
    const c = await create("C", { tagIds: ["tag_vip-client"] });
    const d = await create("D", {});
    const e = await create("E", { tagIds: ["crm-42"] });
    const tagsOf = (lead: { tags: Array<{ id: string; name: string; normalizedName: string }> }) =>
      lead.tags.map((t) => [t.id, t.name, t.normalizedName]);
    assert.deepEqual(tagsOf(a), [
      ["tag_hot", "Hot", "hot"],
      ["tag_vip-client", "VIP client", "vip client"],
    ]);
    assert.deepEqual(tagsOf(b), [["tag_hot", "Hot", "hot"]], "one tag, shown as first named");
    assert.deepEqual(tagsOf(c), [["tag_vip-client", "VIP client", "vip client"]]);
    assert.deepEqual(tagsOf(d), []);
    assert.deepEqual(tagsOf(e), [["crm-42", "crm-42", "crm-42"]], "an unknown id becomes a tag");

    const ids = async (query: string, body: Record<string, unknown> = {}) => {
      const res = await call("POST", `/leads/all/my${query}`, {
        orderBy: [{ field: "createdAt", direction: "asc" }],
        ...body,
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().items.map((l: { id: string }) => l.id);
    };
    assert.deepEqual(await ids(""), [a.id, b.id, c.id, d.id, e.id]);
    assert.deepEqual(await ids("?tagIds=tag_hot"), [a.id, b.id]);
    assert.deepEqual(await ids("?tagIds=tag_hot&tagIds=tag_vip-client"), [a.id, b.id, c.id]);
    assert.deepEqual(await ids("?tagIds=tag_hot&tagIds=tag_vip-client&tagMatchAll=true"), [a.id]);
    assert.deepEqual(await ids("?tagIds=tag_nothing"), []);
    assert.deepEqual(await ids("?untagged=true"), [d.id]);
    assert.deepEqual(await ids("?archiveFilter=active"), [a.id, b.id, c.id, d.id, e.id]);
    assert.deepEqual(await ids("?archiveFilter=All"), [a.id, b.id, c.id, d.id, e.id]);
    assert.deepEqual(await ids("?archiveFilter=Archived"), [], "leadtrail archives nothing yet");

    for (const [query, field] of [
      ["?archiveFilter=Deleted", "archiveFilter"],
      ["?untagged=true&tagIds=tag_hot", "untagged"],
      ["?tagMatchAll=maybe", "tagMatchAll"],
    ]) {
      const res = await call("POST", `/leads/all/my${query}`, {});
      assert.equal(res.statusCode, 400, query);
      assert.match(res.json().detail, new RegExp(field!), query);
    }
    // A token resumes only the list it came from.
    const first = (await call("POST", "/leads/all/my?tagIds=tag_hot", { pageSize: 1 })).json();
    assert.equal(
      (await call("POST", "/leads/all/my?tagIds=tag_hot", { continuationToken: first.continuationToken }))
        .statusCode,
      200,
    );
    assert.equal(
      (await call("POST", "/leads/all/my", { continuationToken: first.continuationToken })).statusCode,
      400,
    );

    // The same tags by id instead of by name: nothing changed. Another set: one "tags" change.
    const eventsOfA = async () => (await call("POST", `/events/leads/${a.id}`, {})).json().items;
    const sameByIds = await call("PUT", `/leads/${a.id}`, {
      contact: { firstName: "A", phone: { number: "+12025550123" } },
      tagIds: ["tag_vip-client", "tag_hot"],
    });
    assert.equal(sameByIds.statusCode, 200, sameByIds.body);
    assert.equal((await eventsOfA()).length, 1);
    const fewer = await call("PUT", `/leads/${a.id}`, {
      contact: { firstName: "A", phone: { number: "+12025550123" } },
      tagNames: ["HOT"],
    });
    assert.deepEqual(tagsOf(fewer.json()), [["tag_hot", "Hot", "hot"]]);
    const events = await eventsOfA();
    assert.equal(events.length, 2);
    assert.equal(events[0].summary, "Lead updated: tags");
    assert.deepEqual(await ids("?tagIds=tag_vip-client"), [c.id]);

    const blank = await call("POST", "/leads", { contact: { firstName: "Blank" }, tagNames: ["  "] });
    assert.equal(blank.statusCode, 400);
    assert.match(blank.json().detail, /tagNames\[0\]/);
    assert.equal((await ids("")).length, 5, "the refused lead was not written");

    const conversations = async (query: string) => {
      const res = await call("POST", `/conversations/my${query}`, {});
      assert.equal(res.statusCode, 200, res.body);
      return res.json().items.length;
    };
    assert.equal(await conversations(""), 5);
    assert.equal(await conversations("?archiveFilter=Active"), 5);
    assert.equal(await conversations("?archiveFilter=archived"), 0);
    assert.equal((await call("POST", "/conversations/my?archiveFilter=x", {})).statusCode, 400);
  });

  test("leads created at once with the same new tag share one tag (no unique-violation 500)", async () => {
    const { createOrganization } = await import("../src/store/orgs-repo.js");
    const org = await createOrganization(api.db.store.db, "Racing tags");
    const created = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        api.call(
          "POST",
          "/leads",
          { contact: { firstName: `Racer${i}` }, tagNames: ["Brand New"], tagIds: ["ext-race"] },
          org.apiKey,
        ),
      ),
    );
    for (const res of created) assert.equal(res.statusCode, 201, res.body);
    const ids = new Set(created.flatMap((r) => r.json().tags.map((t: { id: string }) => t.id)));
    assert.deepEqual([...ids].sort(), ["ext-race", "tag_brand-new"]);
    const tags = await api.db.store.db
      .selectFrom("tags")
      .select("id")
      .where("organization_id", "=", org.organizationId)
      .execute();
    assert.equal(tags.length, 2);

    // New tags named in different orders at once: PostgreSQL would deadlock two creators that each
    // hold one tag and wait for the other's, unless creating tags is serialized.
    for (let round = 0; round < 5; round++) {
      const orders = [
        ["x", "y", "z"],
        ["z", "y", "x"],
        ["y", "x", "z"],
        ["z", "x", "y"],
        ["x", "z", "y"],
        ["y", "z", "x"],
      ].map((names) => names.map((n) => `${n}${round}`));
      const results = await Promise.all(
        orders.map((tagNames, i) =>
          api.call("POST", "/leads", { contact: { firstName: `Order${i}` }, tagNames }, org.apiKey),
        ),
      );
      for (const res of results) assert.equal(res.statusCode, 201, res.body);
    }
  });

  test("a tag name whose readable and suffixed ids are both held by tags carried over by id still gets a tag (no 500)", async () => {
    const { createOrganization } = await import("../src/store/orgs-repo.js");
    const org = await createOrganization(api.db.store.db, "Carried-over tags");
    const post = (body: unknown) => api.call("POST", "/leads", body, org.apiKey);
    // Ids another organization gave "hot lead" and "hot-lead" (tag_hot-lead and its suffixed id),
    // carried over by id: here they are tags named by those ids.
    const carried = await post({ tagIds: ["tag_hot-lead", suffixedTagId("tag_hot-lead", "hot-lead")] });
    assert.equal(carried.statusCode, 201, carried.body);
    const named = await post({ tagNames: ["hot-lead"] });
    assert.equal(named.statusCode, 201, named.body);
    const [tag] = named.json().tags;
    assert.equal(tag.name, "hot-lead");
    assert.ok(!carried.json().tags.some((t: { id: string }) => t.id === tag.id), "a tag of its own");
    // Named again, it is the same tag.
    assert.deepEqual((await post({ tagNames: ["Hot-Lead"] })).json().tags, [tag]);
  });

  test("a trailing slash names the same route (as ASP.NET-style servers treat it)", async () => {
    const lead = (await api.call("POST", "/leads/", leadBody())).json();
    assert.match(lead.id, /^lead_/);
    const read = await api.call("GET", `/leads/${lead.id}/`);
    assert.equal(read.statusCode, 200, read.body);
    assert.equal(read.json().id, lead.id);
    const list = await api.call("POST", "/leads/all/my/", { pageSize: 1 });
    assert.equal(list.statusCode, 200, list.body);
    const wrongMethod = await api.call("DELETE", "/leads/all/my/");
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.headers.allow, "POST");
  });

  test("PUT of an unknown lead is 404 and writes nothing", async () => {
    const res = await api.call("PUT", "/leads/lead_01HZZZZZZZZZZZZZZZZZZZZZZZ", leadBody());
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().status, 404);
  });

  test("a phone or email filter finds the lead as the client wrote it: matched as stored (E.164, lower case)", async () => {
    const contact = {
      firstName: "Filter",
      email: "Filter.Me@Example.COM",
      phone: { number: "(415) 555-0188" },
    };
    const res = await api.call("POST", "/leads", leadBody({ contact }));
    assert.equal(res.statusCode, 201, res.body);
    const lead = res.json();
    const ids = async (path: string, field: string, value: string) => {
      const page = await api.call("POST", path, { filters: [{ field, value }] });
      assert.equal(page.statusCode, 200, page.body);
      return page.json().items.map((i: { id: string; leadId?: string }) => i.leadId ?? i.id);
    };
    for (const [field, value] of [
      ["phone", "(415) 555-0188"],
      ["phone", "415.555.0188"],
      ["phone", "+14155550188"],
      ["email", "Filter.Me@Example.COM"],
      ["email", "filter.me@example.com"],
    ] as const) {
      assert.deepEqual(await ids("/leads/all/my", field, value), [lead.id], `${field} ${value}`);
    }
    assert.deepEqual(await ids("/conversations/my", "leadPhoneNumber", "(415) 555-0188"), [lead.id]);
    // A value that is no phone number (a short code, a typo) is matched as written.
    assert.deepEqual(await ids("/leads/all/my", "phone", "0188"), []);
  });

  test('a lead without an email or phone: its list row meets LeadTableRow (phone "", no email), and a filter for "" finds it as null does', async () => {
    const org = await createOrganization(api.db.store.db, "Rows without contact");
    const list = (body: unknown) => api.call("POST", "/leads/all/my", body, org.apiKey);
    const bare = await api.call("POST", "/leads", { contact: { firstName: "Bare" } }, org.apiKey);
    assert.equal(bare.statusCode, 201, bare.body);
    const full = await api.call("POST", "/leads", leadBody(), org.apiKey);
    assert.equal(full.statusCode, 201, full.body);
    const row = (await list({ filters: [{ field: "id", value: bare.json().id }] })).json().items[0];
    assertLeadpingShape({ items: [row] }, "PagedResultOfLeadTableRow");
    assert.equal(Object.hasOwn(row, "email"), false);
    assert.equal(row.phone, "");
    for (const field of ["email", "phone"]) {
      for (const value of ["", null]) {
        const res = await list({ filters: [{ field, value }], includeCount: true });
        assert.equal(res.statusCode, 200, res.body);
        assertLeadpingShape(res.json(), "PagedResultOfLeadTableRow");
        assert.deepEqual(
          res.json().items.map((i: { id: string }) => i.id),
          [bare.json().id],
          `${field} = ${JSON.stringify(value)}`,
        );
        assert.equal(res.json().totalCount, 1);
      }
    }
  });

  test("a search term written as a phone number, or part of one, finds the lead by its stored digits", async () => {
    const contact = { firstName: "Dialed", phone: { number: "(415) 555-0189" } };
    const res = await api.call("POST", "/leads", leadBody({ contact }));
    assert.equal(res.statusCode, 201, res.body);
    const lead = res.json();
    const found = async (path: string, body: object) => {
      const page = await api.call("POST", path, body);
      assert.equal(page.statusCode, 200, page.body);
      return page.json().items.map((i: { id: string; leadId?: string }) => i.leadId ?? i.id);
    };
    for (const term of ["(415) 555-0189", "415.555.0189", "+1 415 555 0189", "555-0189"]) {
      assert.deepEqual(await found("/leads/all/my", { search: term }), [lead.id], term);
      assert.deepEqual(
        await found("/leads/all/my", { search: term, searchFields: ["phone"] }),
        [lead.id],
        `phone only: ${term}`,
      );
      assert.deepEqual(
        await found("/conversations/my", { search: term }),
        [lead.id],
        `conversations: ${term}`,
      );
    }
    // A term with letters is searched as written in every field, the phone included.
    assert.deepEqual(await found("/leads/all/my", { search: "Dialed" }), [lead.id]);
  });

  test("POST /leads/all/my pages through leads newest first", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      created.push(
        (await api.call("POST", "/leads", leadBody({ contact: { firstName: `Pager${i}` } }))).json().id,
      );
    }
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const res = await api.call("POST", "/leads/all/my", {
        pageSize: 2,
        continuationToken: token,
        includeCount: true,
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json();
      assert.ok(page.items.length <= 2);
      assert.equal(typeof page.totalCount, "number");
      seen.push(...page.items.map((i: { id: string }) => i.id));
      token = page.continuationToken;
    } while (token);
    assert.equal(new Set(seen).size, seen.length);
    const firstFive = seen.slice(0, 5);
    assert.deepEqual(firstFive, [...created].reverse());
    const search = await api.call("POST", "/leads/all/my", { search: "pager3" });
    assert.deepEqual(
      search.json().items.map((i: { firstName: string }) => i.firstName),
      ["Pager3"],
    );
  });
});
