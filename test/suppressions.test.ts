import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type CreatedOrganization, createOrganization } from "../src/store/orgs-repo.js";
import { isSuppressed, suppress } from "../src/store/suppressions-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

const PROBLEM = /^application\/problem\+json\b/;

forEachEngine("suppressions", (engine) => {
  let api: TestApi;
  let other: CreatedOrganization;
  before(async () => {
    api = await startTestApi(engine);
    other = await createOrganization(api.db.store.db, "Other Org");
  });
  after(() => api.close());

  const entry = (fields: Record<string, unknown> = {}) => ({
    organizationId: api.org.organizationId,
    ...fields,
  });

  test("POST /suppressions normalizes the phone to E.164, answers 201 with an audit trail, and 201 unchanged again", async () => {
    const res = await api.call(
      "POST",
      "/suppressions",
      entry({ phoneNumber: "(415) 555-0101", reason: "Asked not to be texted" }),
    );
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json();
    assert.match(created.id, /^sup_/);
    assert.equal(created.organizationId, api.org.organizationId);
    assert.equal(created.normalizedPhoneNumber, "+14155550101");
    assert.equal(created.recipientIdentifier, "+14155550101");
    assert.equal(created.normalizedEmail, null);
    assert.equal(created.channel, "sms");
    assert.equal(created.status, "active");
    assert.equal(created.source, "api");
    assert.equal(created.reason, "Asked not to be texted");
    assert.match(created.suppressedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(created.releasedAt, null);
    assert.equal(created.audit.length, 1);
    assert.deepEqual(
      { ...created.audit[0], id: undefined, timestamp: undefined },
      {
        id: undefined,
        timestamp: undefined,
        status: "active",
        source: "api",
        actorId: api.org.userId,
        reason: "Asked not to be texted",
        safeMetadata: {},
      },
    );

    // The same recipient in another spelling is the same entry, already active: 201 (the only code
    // Leadping documents), unchanged, even with another reason.
    const again = await api.call(
      "POST",
      "/suppressions",
      entry({ phoneNumber: "+1 415-555-0101", reason: "Second request" }),
    );
    assert.equal(again.statusCode, 201, again.body);
    assert.deepEqual(again.json(), created);

    const read = await api.call("GET", `/suppressions/${created.id}`);
    assert.equal(read.statusCode, 200);
    assert.deepEqual(read.json(), created);
  });

  test("check says allowed false while suppressed; release, check again, suppress again: the audit trail grows", async () => {
    const body = entry({ phoneNumber: "415-555-0102", channel: "SMS" });
    const created = (await api.call("POST", "/suppressions", body)).json();
    assert.equal(created.channel, "sms");

    const blocked = await api.call("POST", "/suppressions/check", body);
    assert.equal(blocked.statusCode, 200, blocked.body);
    assert.deepEqual(
      { ...blocked.json<Record<string, unknown>>(), customerReason: undefined },
      {
        allowed: false,
        organizationId: api.org.organizationId,
        recipientIdentifier: "+14155550102",
        normalizedPhoneNumber: "+14155550102",
        normalizedEmail: null,
        channel: "sms",
        suppressionEntryId: created.id,
        source: "api",
        suppressedAt: created.suppressedAt,
        customerReason: undefined,
      },
    );
    assert.equal(typeof blocked.json().customerReason, "string");
    assert.equal(await isSuppressed(api.db.store.db, api.org.organizationId, "sms", "+14155550102"), true);

    const released = await api.call("POST", "/suppressions/release", { ...body, reason: "Opted back in" });
    assert.equal(released.statusCode, 200, released.body);
    const r = released.json();
    assert.equal(r.id, created.id);
    assert.equal(r.status, "released");
    assert.equal(r.reason, "Opted back in");
    assert.match(r.releasedAt, /Z$/);
    assert.deepEqual(
      r.audit.map((a: { status: string; reason: string | null }) => [a.status, a.reason]),
      [
        ["active", null],
        ["released", "Opted back in"],
      ],
    );

    const allowed = (await api.call("POST", "/suppressions/check", body)).json();
    assert.equal(allowed.allowed, true);
    assert.equal(allowed.suppressionEntryId, null);
    assert.equal(allowed.source, null);
    assert.equal(allowed.suppressedAt, null);
    assert.equal(await isSuppressed(api.db.store.db, api.org.organizationId, "sms", "+14155550102"), false);

    // Releasing again is idempotent: the entry as it is, no new audit line.
    const twice = await api.call("POST", "/suppressions/release", body);
    assert.equal(twice.statusCode, 200);
    assert.equal(twice.json().audit.length, 2);

    // Suppressing a released entry reactivates it (201): same id, third audit line.
    const reactivated = await api.call("POST", "/suppressions", { ...body, reason: "Complained" });
    assert.equal(reactivated.statusCode, 201, reactivated.body);
    const again = reactivated.json();
    assert.equal(again.id, created.id);
    assert.equal(again.status, "active");
    assert.equal(again.releasedAt, null);
    assert.equal(again.reason, "Complained");
    assert.deepEqual(
      again.audit.map((a: { status: string }) => a.status),
      ["active", "released", "active"],
    );
    assert.equal(new Set(again.audit.map((a: { id: string }) => a.id)).size, 3);
    assert.equal((await api.call("POST", "/suppressions/check", body)).json().allowed, false);
  });

  test("email entries are lower-cased; recipientIdentifier alone is read as a phone or an email", async () => {
    const res = await api.call(
      "POST",
      "/suppressions",
      entry({ email: "  Someone@Example.COM ", channel: "email" }),
    );
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().normalizedEmail, "someone@example.com");
    assert.equal(res.json().recipientIdentifier, "someone@example.com");
    assert.equal(res.json().channel, "email");

    const check = await api.call(
      "POST",
      "/suppressions/check",
      entry({ recipientIdentifier: "SOMEONE@example.com", channel: "email" }),
    );
    assert.equal(check.json().allowed, false);
    assert.equal(check.json().normalizedEmail, "someone@example.com");
    // The email entry does not block SMS to anyone.
    const sms = await api.call("POST", "/suppressions/check", entry({ phoneNumber: "+14155550142" }));
    assert.equal(sms.json().allowed, true);

    const byIdentifier = await api.call(
      "POST",
      "/suppressions",
      entry({ recipientIdentifier: "(212) 555-0103" }),
    );
    assert.equal(byIdentifier.statusCode, 201, byIdentifier.body);
    assert.equal(byIdentifier.json().normalizedPhoneNumber, "+12125550103");
  });

  test("recipientIdentifier beside a phone number is the client's own id: kept, answered, listed and filterable", async () => {
    const body = entry({ phoneNumber: "(646) 555-0131", recipientIdentifier: " crm-contact-42 " });
    const res = await api.call("POST", "/suppressions", body);
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json();
    assert.equal(created.recipientIdentifier, "crm-contact-42");
    assert.equal(created.normalizedPhoneNumber, "+16465550131");
    assert.equal(
      (await api.call("GET", `/suppressions/${created.id}`)).json().recipientIdentifier,
      "crm-contact-42",
    );
    // Matching stays by phone number: a check without the id is blocked and names the entry's id.
    const check = (
      await api.call("POST", "/suppressions/check", entry({ phoneNumber: "+16465550131" }))
    ).json();
    assert.equal(check.allowed, false);
    assert.equal(check.recipientIdentifier, "crm-contact-42");
    // A check of an unsuppressed recipient echoes the id it was given.
    const free = (
      await api.call(
        "POST",
        "/suppressions/check",
        entry({ phoneNumber: "+16465550132", recipientIdentifier: "crm-7" }),
      )
    ).json();
    assert.equal(free.allowed, true);
    assert.equal(free.recipientIdentifier, "crm-7");
    for (const [field, value] of [
      ["recipientIdentifier", "crm-contact-42"],
      ["recipient", "+16465550131"],
    ]) {
      const list = await api.call("POST", "/suppressions/all/my", { filters: [{ field, value }] });
      assert.equal(list.statusCode, 200, list.body);
      assert.deepEqual(
        list.json().items.map((i: { id: string }) => i.id),
        [created.id],
        `${field} = ${value}`,
      );
    }
    const searched = await api.call("POST", "/suppressions/all/my", { search: "CRM-CONTACT" });
    assert.deepEqual(
      searched.json().items.map((i: { id: string }) => i.id),
      [created.id],
    );
    // Released and suppressed again with another id: the entry takes the new one.
    assert.equal((await api.call("POST", "/suppressions/release", body)).statusCode, 200);
    const again = await api.call(
      "POST",
      "/suppressions",
      entry({ phoneNumber: "+16465550131", recipientIdentifier: "crm-contact-43" }),
    );
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().id, created.id);
    assert.equal(again.json().recipientIdentifier, "crm-contact-43");
    // Too long (characters are code points: 201 emoji are 201), or with control characters: a 400
    // naming it, nothing written.
    for (const bad of ["x".repeat(201), "\u{1F600}".repeat(201), "crm\u0000id"]) {
      const refused = await api.call(
        "POST",
        "/suppressions",
        entry({ phoneNumber: "+16465550133", recipientIdentifier: bad }),
      );
      assert.equal(refused.statusCode, 400, refused.body);
      assert.match(refused.json().detail, /recipientIdentifier/);
    }
    const none = await api.call("POST", "/suppressions/check", entry({ phoneNumber: "+16465550133" }));
    assert.equal(none.json().allowed, true);
    // 200 emoji are 200 characters, within the limit (400 UTF-16 units).
    const emoji = "\u{1F600}".repeat(200);
    const taken = await api.call(
      "POST",
      "/suppressions",
      entry({ phoneNumber: "+16465550133", recipientIdentifier: emoji }),
    );
    assert.equal(taken.statusCode, 201, taken.body);
    assert.equal(taken.json().recipientIdentifier, emoji);
  });

  test("an entry on channel 'all' blocks every channel, and the worker's isSuppressed sees it", async () => {
    const res = await api.call(
      "POST",
      "/suppressions",
      entry({ phoneNumber: "+13125550104", channel: "all" }),
    );
    assert.equal(res.statusCode, 201, res.body);
    for (const channel of ["sms", "voice", "all"]) {
      const check = await api.call(
        "POST",
        "/suppressions/check",
        entry({ phoneNumber: "312 555 0104", channel }),
      );
      assert.equal(check.json().allowed, false, channel);
      assert.equal(check.json().suppressionEntryId, res.json().id);
    }
    assert.equal(await isSuppressed(api.db.store.db, api.org.organizationId, "sms", "+13125550104"), true);
  });

  test("an entry on channel 'all' given a phone number and an email blocks that email too", async () => {
    const res = await api.call(
      "POST",
      "/suppressions",
      entry({ phoneNumber: "+13125550107", email: "Pat.Everywhere@Example.com", channel: "all" }),
    );
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().normalizedEmail, "pat.everywhere@example.com");
    for (const channel of ["email", "all"]) {
      const check = await api.call(
        "POST",
        "/suppressions/check",
        entry({ email: "pat.everywhere@example.com", channel }),
      );
      assert.equal(check.statusCode, 200, check.body);
      assert.equal(check.json().allowed, false, channel);
      assert.equal(check.json().suppressionEntryId, res.json().id, channel);
    }
    // An entry on one channel keeps to it: an sms entry's email blocks no email.
    const sms = await api.call(
      "POST",
      "/suppressions",
      entry({ phoneNumber: "+13125550108", email: "pat.sms@example.com", channel: "sms" }),
    );
    assert.equal(sms.statusCode, 201, sms.body);
    const email = await api.call(
      "POST",
      "/suppressions/check",
      entry({ email: "pat.sms@example.com", channel: "email" }),
    );
    assert.equal(email.json().allowed, true);
  });

  test("an inbound STOP (repository suppress) and the API share one entry", async () => {
    await suppress(api.db.store.db, {
      organizationId: api.org.organizationId,
      channel: "sms",
      recipient: "+16175550105",
      phoneNumber: "+16175550105",
      email: null,
      source: "inbound_keyword",
      reason: "Replied 'STOP'",
      actorId: null,
      at: Date.now(),
    });
    const res = await api.call("POST", "/suppressions", entry({ phoneNumber: "617-555-0105" }));
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().source, "inbound_keyword");
    const check = (
      await api.call("POST", "/suppressions/check", entry({ phoneNumber: "6175550105" }))
    ).json();
    assert.equal(check.allowed, false);
    assert.equal(check.source, "inbound_keyword");
    assert.match(check.customerReason, /stop/i);
  });

  test("concurrent suppressions of one recipient make one entry with one audit line", async () => {
    const body = entry({ phoneNumber: "+12065550106" });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => api.call("POST", "/suppressions", body)),
    );
    assert.deepEqual(
      results.map((r) => r.statusCode),
      Array(8).fill(201),
      results.map((r) => r.body).join("\n"),
    );
    assert.equal(new Set(results.map((r) => r.json().id)).size, 1);
    assert.equal(results[0]!.json().audit.length, 1);
  });

  test("bad phone, email, channel or identifier is a 400 naming the field; nothing is written", async () => {
    const count = async () =>
      Number(
        (
          await api.db.store.db
            .selectFrom("suppressions")
            .select((eb) => eb.fn.countAll().as("n"))
            .executeTakeFirst()
        )?.n,
      );
    const before = await count();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["/suppressions", { phoneNumber: "555-01" }, "phoneNumber"],
      ["/suppressions", { phoneNumber: "+1415555\u00000101" }, "phoneNumber"],
      ["/suppressions", { email: "not-an-email", channel: "email" }, "email"],
      ["/suppressions", { channel: "email", phoneNumber: "+14155550199" }, "email"],
      ["/suppressions", { channel: "pigeon", phoneNumber: "+14155550199" }, "channel"],
      ["/suppressions", {}, "phoneNumber"],
      ["/suppressions", { recipientIdentifier: "nobody" }, "recipientIdentifier"],
      ["/suppressions", { phoneNumber: 4155550199 }, "phoneNumber"],
      ["/suppressions/check", { email: "a@b" }, "email"],
      ["/suppressions/check", {}, "phoneNumber"],
      ["/suppressions/release", { phoneNumber: "12" }, "phoneNumber"],
    ];
    for (const [path, fields, field] of cases) {
      const res = await api.call("POST", path, entry(fields));
      const where = `${path} ${JSON.stringify(fields)}: ${res.body}`;
      assert.equal(res.statusCode, 400, where);
      assert.match(String(res.headers["content-type"]), PROBLEM, where);
      const problem = res.json();
      assert.ok(problem.detail.includes(field), where);
      assert.equal(problem.instance, path);
    }
    const missingOrg = await api.call("POST", "/suppressions", { phoneNumber: "+14155550199" });
    assert.equal(missingOrg.statusCode, 400);
    assert.match(missingOrg.json().detail, /organizationId/);
    assert.equal(await count(), before);
  });

  test("release of a recipient with no entry is a 404", async () => {
    const res = await api.call("POST", "/suppressions/release", entry({ phoneNumber: "+15125550107" }));
    assert.equal(res.statusCode, 404, res.body);
    assert.match(String(res.headers["content-type"]), PROBLEM);
  });

  test("tenant isolation: another organization's id, list or entry answers as if it did not exist", async () => {
    const mine = (await api.call("POST", "/suppressions", entry({ phoneNumber: "+16025550108" }))).json();

    // Naming another organization in the body: 404 for every operation, nothing written.
    for (const path of ["/suppressions", "/suppressions/release", "/suppressions/check"]) {
      const res = await api.call("POST", path, {
        organizationId: other.organizationId,
        phoneNumber: "+16025550108",
      });
      assert.equal(res.statusCode, 404, `${path}: ${res.body}`);
      assert.match(String(res.headers["content-type"]), PROBLEM);
    }
    const unknown = await api.call("POST", "/suppressions", {
      organizationId: "org_01HZZZZZZZZZZZZZZZZZZZZZZZ",
      phoneNumber: "+16025550108",
    });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().detail.replace(/'[^']*'/, "X"), "Organization X was not found.");

    // The other organization cannot read, list, check or release this one's entry.
    const read = await api.call("GET", `/suppressions/${mine.id}`, undefined, other.apiKey);
    assert.equal(read.statusCode, 404);
    const missing = await api.call(
      "GET",
      "/suppressions/sup_01HZZZZZZZZZZZZZZZZZZZZZZZ",
      undefined,
      other.apiKey,
    );
    assert.deepEqual(
      { ...read.json<Record<string, unknown>>(), instance: undefined, detail: undefined },
      { ...missing.json<Record<string, unknown>>(), instance: undefined, detail: undefined },
    );
    const theirs = { organizationId: other.organizationId, phoneNumber: "+16025550108" };
    const check = await api.call("POST", "/suppressions/check", theirs, other.apiKey);
    assert.equal(check.json().allowed, true);
    const release = await api.call("POST", "/suppressions/release", theirs, other.apiKey);
    assert.equal(release.statusCode, 404);
    const list = await api.call("POST", "/suppressions/all/my", { includeCount: true }, other.apiKey);
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json().items, []);
    assert.equal(list.json().totalCount, 0);
    assert.equal(
      (await api.call("POST", "/suppressions/check", entry({ phoneNumber: "+16025550108" }))).json().allowed,
      false,
    );
  });

  test("POST /suppressions/all/my pages newest first, filters status and channel, searches recipients", async () => {
    const all: Array<Record<string, unknown>> = [];
    let continuationToken: string | null = null;
    do {
      const res = await api.call("POST", "/suppressions/all/my", {
        pageSize: 2,
        continuationToken,
        includeCount: true,
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json();
      assert.ok(page.items.length <= 2);
      assert.equal(page.pageSize, 2);
      all.push(...page.items);
      continuationToken = page.continuationToken;
      if (continuationToken) assert.ok(page.totalCount > all.length);
    } while (continuationToken);
    assert.ok(all.length >= 8, `${all.length}`);
    assert.equal(new Set(all.map((s) => s.id)).size, all.length);
    const times = all.map((s) => s.suppressedAt as string);
    assert.deepEqual(times, [...times].sort().reverse());
    assert.ok(all.every((s) => s.organizationId === api.org.organizationId));

    const released = await api.call("POST", "/suppressions/all/my", {
      filters: [{ field: "status", value: "released" }],
      includeCount: true,
    });
    assert.equal(released.statusCode, 200, released.body);
    assert.ok(released.json().items.every((s: { status: string }) => s.status === "released"));

    const email = await api.call("POST", "/suppressions/all/my", {
      filters: [{ field: "channel", value: "email" }],
    });
    assert.deepEqual(
      email.json().items.map((s: { normalizedEmail: string }) => s.normalizedEmail),
      ["someone@example.com"],
    );

    const search = await api.call("POST", "/suppressions/all/my", { search: "555-0101".replace("-", "") });
    assert.deepEqual(
      search.json().items.map((s: { recipientIdentifier: string }) => s.recipientIdentifier),
      ["+14155550101"],
    );

    const asc = await api.call("POST", "/suppressions/all/my", {
      orderBy: [{ field: "suppressedAt", direction: "asc" }],
      rangeFilters: [{ field: "suppressedAt", greaterThanOrEqual: "2000-01-01T00:00:00Z" }],
    });
    assert.equal(asc.statusCode, 200, asc.body);
    const ascTimes = asc.json().items.map((s: { suppressedAt: string }) => s.suppressedAt);
    assert.deepEqual(ascTimes, [...ascTimes].sort());

    const badField = await api.call("POST", "/suppressions/all/my", {
      filters: [{ field: "secret", value: "x" }],
    });
    assert.equal(badField.statusCode, 400);
    assert.match(badField.json().detail, /supported: .*channel.*status/);
    const badStatus = await api.call("POST", "/suppressions/all/my", {
      filters: [{ field: "status", value: "paused" }],
    });
    assert.equal(badStatus.statusCode, 400);
    assert.match(badStatus.json().detail, /active, released/);
  });

  test("the list finds an entry by its phone number or email in any spelling, as /suppressions/check does", async () => {
    const phone = "+13035550177";
    const entry = await api.call("POST", "/suppressions", {
      organizationId: api.org.organizationId,
      phoneNumber: phone,
      email: "Lee.Spelling@Example.com",
      channel: "all",
    });
    assert.equal(entry.statusCode, 201, entry.body);
    const id = entry.json().id;
    const found = async (body: Record<string, unknown>) => {
      const res = await api.call("POST", "/suppressions/all/my", body);
      assert.equal(res.statusCode, 200, res.body);
      return res.json().items.map((i: { id: string }) => i.id);
    };
    for (const value of ["(303) 555-0177", "303.555.0177", "1 303 555 0177"]) {
      assert.deepEqual(await found({ filters: [{ field: "phoneNumber", value }] }), [id], value);
      assert.deepEqual(await found({ filters: [{ field: "normalizedPhoneNumber", value }] }), [id], value);
      assert.deepEqual(await found({ filters: [{ field: "recipient", value }] }), [id], value);
    }
    assert.deepEqual(await found({ search: "(303) 555-0177" }), [id]);
    assert.deepEqual(await found({ filters: [{ field: "email", value: "LEE.SPELLING@example.com" }] }), [id]);
  });

  test("GET /suppressions/{id} of an unknown id is a 404 problem", async () => {
    const res = await api.call("GET", "/suppressions/sup_nope");
    assert.equal(res.statusCode, 404);
    assert.match(String(res.headers["content-type"]), PROBLEM);
    assert.equal(res.json().instance, "/suppressions/sup_nope");
  });
});
