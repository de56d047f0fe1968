import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { FALLBACK_ZONE, recipientZones, zonesForNumber } from "../src/domain/number-geo.js";
import {
  localMinutes,
  nextAllowedTime,
  parseQuietWindow,
  type QuietWindow,
} from "../src/domain/quiet-hours.js";
import { REGION_CODES, zonesOfRegion } from "../src/domain/region-zones.js";
import { ianaTimeZone } from "../src/domain/windows-zones.js";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { Worker } from "../src/messaging/worker.js";
import { createWallet } from "../src/store/billing-repo.js";
import { editStoredLead, startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";
import { addLead, addSenderNumber, isFinal, startSimulator, waitForEvent } from "./helpers/messaging.js";

const at = (iso: string) => Date.parse(iso);
const window = (spec: string) => parseQuietWindow(spec)!;

test("a NANP number known only at the country level (toll-free) gets the fallback zone, not the +1 country's 42", () => {
  for (const number of ["+18005550199", "+18885550123", "+19005550100"]) {
    assert.deepEqual(zonesForNumber(number), [FALLBACK_ZONE], number);
  }
  // So a narrow window still leaves it hours to be reached in (the 42 zones left none).
  const allowed = nextAllowedTime(
    at("2026-07-01T12:00:00Z"),
    zonesForNumber("+18005550199"),
    window("19:00-09:00"),
  );
  assert.equal(allowed, at("2026-07-01T14:00:00Z"), "09:00 in Chicago (CDT)");
});

test("an area code spanning zones is read by exchange, whichever number was looked up first", () => {
  // 208-660 is in Los Angeles' zone, 208-230 in Denver's: a cache by area code answered the first.
  assert.deepEqual(zonesForNumber("+12086601234"), ["America/Los_Angeles"]);
  assert.deepEqual(zonesForNumber("+12082301234"), ["America/Denver"]);
  assert.deepEqual(zonesForNumber("+18504321234"), ["America/Chicago"], "Pensacola");
  assert.deepEqual(zonesForNumber("+18502221234"), ["America/New_York"], "Tallahassee");
});

test("the next allowed minute: at the window's edges, across DST, and none when the zones never agree", () => {
  const night = window("21:00-08:00");
  const ny = ["America/New_York"];
  assert.equal(nextAllowedTime(at("2026-07-01T00:59:59.999Z"), ny, night), at("2026-07-01T00:59:59.999Z"));
  assert.equal(nextAllowedTime(at("2026-07-01T01:00:00Z"), ny, night), at("2026-07-01T12:00:00Z"));
  assert.equal(nextAllowedTime(at("2026-07-01T12:00:00Z"), ny, night), at("2026-07-01T12:00:00Z"));
  // Spring forward (2026-03-08): 02:00 EST is 03:00 EDT; a window ending at 02:30 opens at 03:00 EDT.
  assert.equal(
    nextAllowedTime(at("2026-03-08T06:59:00Z"), ny, window("21:00-02:30")),
    at("2026-03-08T07:00:00Z"),
  );
  // Fall back (2026-11-01): the window ends at 08:00 EST, 13:00Z, not at 12:00Z.
  assert.equal(nextAllowedTime(at("2026-11-01T05:30:00Z"), ny, night), at("2026-11-01T13:00:00Z"));
  // Adelaide and Perth are 1.5 h apart: with one allowed hour, no minute is allowed in both.
  assert.equal(
    nextAllowedTime(
      at("2026-07-01T12:00:00Z"),
      ["Australia/Adelaide", "Australia/Perth"],
      window("09:00-08:00"),
    ),
    null,
  );
});

/** The first minute at or after `now` outside the window in every zone, by stepping one minute at a time. */
function firstAllowedByMinute(now: number, zones: string[], w: QuietWindow, days: number): number | null {
  const quiet = (m: number) => (w.start < w.end ? m >= w.start && m < w.end : m >= w.start || m < w.end);
  const allowed = (t: number) => zones.every((zone) => !quiet(localMinutes(t, zone)));
  if (allowed(now)) return now;
  for (let t = Math.floor(now / 60_000) * 60_000 + 60_000; t < now + days * 86_400_000; t += 60_000) {
    if (allowed(t)) return t;
  }
  return null;
}

test("property: the next allowed minute is the first one, also across DST changes and in zones of a 30- or 45-minute offset", () => {
  // US spring-forward and fall-back instants (Eastern and Pacific), St John's (-3:30, summer time),
  // Adelaide (+9:30, summer time), Lord Howe (+10:30, a 30-minute summer shift), London.
  const changes = [
    "2026-03-08T07:00:00Z",
    "2026-11-01T06:00:00Z",
    "2026-03-08T10:00:00Z",
    "2026-11-01T09:00:00Z",
    "2026-03-08T05:30:00Z",
    "2026-11-01T04:30:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
    "2026-03-29T01:00:00Z",
  ].map(at);
  const zones = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Europe/London",
  ];
  // Any window, edges anywhere (inside a skipped or a repeated hour too), except a whole day.
  const windows = fc
    .tuple(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 1, max: 1440 }))
    .filter(([start, end]) => start !== end && end - start !== 1440)
    .map(([start, end]) => ({ start, end }));
  fc.assert(
    fc.property(
      fc.constantFrom(...changes),
      fc.integer({ min: -20 * 3_600_000, max: 20 * 3_600_000 }),
      fc.subarray(zones, { minLength: 1, maxLength: 2 }),
      windows,
      (change, offset, zoneSet, w) => {
        const now = change + offset;
        const expected = firstAllowedByMinute(now, zoneSet, w, 3);
        // Zones that agree on no minute in three days: nextAllowedTime looks further, then says none.
        if (expected !== null) assert.equal(nextAllowedTime(now, zoneSet, w), expected);
      },
    ),
    { numRuns: 400 },
  );
});

test("a clock put back brings allowed minutes back sooner than the window's end on the clock", () => {
  // Allowed 00:01-01:01 only. At 01:01 EDT on the night New York falls back, the next allowed minute
  // is 01:00 EST, an hour of real time later (06:00Z), not 00:01 the next night. fast-check found it.
  const now = at("2026-11-01T05:01:00Z");
  assert.equal(nextAllowedTime(now, ["America/New_York"], { start: 61, end: 1 }), at("2026-11-01T06:00:00Z"));
  // Lord Howe puts its clock back half an hour (02:00 summer time is 01:30 standard time, 15:00Z).
  assert.equal(
    nextAllowedTime(at("2026-04-04T14:45:00Z"), ["Australia/Lord_Howe"], { start: 105, end: 90 }),
    at("2026-04-04T15:00:00Z"),
  );
});

test("the zones a lead's timeZoneId is read in: Windows ids as IANA, EST and MST with the US region too, an unreadable id as unknown", () => {
  const nyNumber = "+12125550100";
  assert.deepEqual(recipientZones("Europe/Paris", nyNumber), ["Europe/Paris"]);
  assert.deepEqual(recipientZones("Eastern Standard Time", nyNumber), ["America/New_York"]);
  assert.deepEqual(recipientZones("EST", nyNumber), ["EST", "America/New_York"]);
  assert.deepEqual(recipientZones("MST", "+16025550100"), ["MST", "America/Denver"]);
  assert.deepEqual(recipientZones("HST", "+18085550100"), ["HST"], "Hawaii keeps no summer time");
  assert.deepEqual(recipientZones("Mars/Olympus_Mons", nyNumber), zonesForNumber(nyNumber));
  assert.deepEqual(recipientZones(null, nyNumber), ["America/New_York"]);
  // "EST" in July: 21:30 EDT is 20:30 EST. Fixed EST alone would allow it; read with New York's zone, the
  // message waits for 08:00 in both (13:00Z).
  const night = window("21:00-08:00");
  const evening = at("2026-07-02T01:30:00Z");
  assert.equal(nextAllowedTime(evening, ["EST"], night), evening);
  assert.equal(nextAllowedTime(evening, recipientZones("EST", nyNumber), night), at("2026-07-02T13:00:00Z"));
});

test("a lead's postal address is a place the person may be: read with the number's zones where the two disagree", () => {
  const address = (state: string, country?: string) => ({ line1: "1 Main St", state, country });
  const newYork = "+12125550100";
  // A New York number, a California address: both are read.
  assert.deepEqual(recipientZones(null, newYork, address("CA", "US")), [
    "America/New_York",
    "America/Los_Angeles",
  ]);
  assert.deepEqual(recipientZones(null, newYork, address("California")), [
    "America/New_York",
    "America/Los_Angeles",
  ]);
  assert.deepEqual(recipientZones(null, newYork, { province: "british columbia", country: "CA" }), [
    "America/New_York",
    "America/Vancouver",
    "America/Edmonton",
  ]);
  // Where they share a zone the number narrows a state split between zones: Dallas is not El Paso.
  assert.deepEqual(recipientZones(null, "+12145550100", address("TX")), ["America/Chicago"]);
  assert.deepEqual(recipientZones(null, "+18504321234", address("FL")), ["America/Chicago"], "Pensacola");
  // A zone of the number's own that keeps the region's time is shared: Juneau is on Anchorage's
  // time, and an Alaska address does not add the Aleutians' hour.
  assert.deepEqual(recipientZones(null, "+19072221234", address("AK")), ["America/Juneau"]);
  // A number with no zone of its own (toll-free) yields to the address.
  assert.deepEqual(recipientZones(null, "+18005550199", address("WA")), ["America/Los_Angeles"]);
  // An explicit zone is the person's word; an address abroad or naming no known region is not read.
  assert.deepEqual(recipientZones("America/Denver", newYork, address("CA")), ["America/Denver"]);
  assert.deepEqual(recipientZones(null, newYork, address("WA", "AU")), ["America/New_York"]);
  assert.deepEqual(recipientZones(null, newYork, address("Narnia")), ["America/New_York"]);
  assert.deepEqual(recipientZones(null, newYork, null), ["America/New_York"]);
  // Every region's zones are zones this Node reads.
  for (const code of [...Object.values(REGION_CODES), "PR", "VI", "GU", "MP", "AS"]) {
    const zones = zonesOfRegion(code);
    assert.ok(zones && zones.length > 0, code);
    for (const zone of zones) assert.equal(ianaTimeZone(zone), zone, `${code}: ${zone}`);
  }
  // 08:30 in New York is 05:30 in Los Angeles: the message waits for 08:00 there (15:00Z).
  assert.equal(
    nextAllowedTime(
      at("2026-07-01T12:30:00Z"),
      recipientZones(null, newYork, address("CA")),
      window("21:00-08:00"),
    ),
    at("2026-07-01T15:00:00Z"),
  );
});

forEachEngine("quiet hours where the lead lives", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "21:00-08:00" } });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
  });
  after(() => api.close());

  test("a New York number whose lead's address is in California waits for 08:00 in California", async () => {
    const { conversationId } = await addLead(api, "+12125550171", {
      streetAddress: { line1: "1 Market St", city: "San Francisco", state: "CA", country: "US" },
    });
    const res = await api.call("POST", "/sms/send", { conversationId, text: "Good morning!" });
    assert.equal(res.statusCode, 201, res.body);
    // 08:30 in New York, 05:30 in San Francisco (a clock ahead of the real one, so that it is due).
    const now = at("2027-07-01T12:30:00Z");
    const worker = new Worker(api.db.store.db, {
      engine,
      config: api.pipeline.config,
      provider: new SimulatorProvider(api.pipeline),
      now: () => now,
    });
    await worker.runOnce();
    const sms = (await api.call("GET", `/events/${res.json().id}`)).json();
    assert.equal(sms.status, "Scheduled", JSON.stringify(sms));
    assert.equal(sms.scheduledReason, "QuietHours");
    assert.equal(sms.scheduledFor, "2027-07-01T15:00:00.000Z");
  });
});

forEachEngine("quiet hours that leave no common hour", (engine) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi(engine, { env: { LEADTRAIL_QUIET_HOURS: "09:00-08:00" } });
    await addSenderNumber(api);
    await createWallet(api.db.store.db, api.org.organizationId, 10_000_000);
    startSimulator(api);
  });
  after(() => api.close());

  test("a message to such a recipient is Blocked with a reason, and the worker goes on with the others", async () => {
    // +61 8 9… is listed under both Adelaide's and Perth's zones.
    const unresolvable = await addLead(api, "+61891234567");
    const known = await addLead(api, "+61891234568", { timeZoneId: "Australia/Perth" });
    const send = async (conversationId: string) => {
      const res = await api.call("POST", "/sms/send", { conversationId, text: "Hello" });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id as string;
    };
    const blockedId = await send(unresolvable.conversationId);
    const knownId = await send(known.conversationId);
    const blocked = await waitForEvent(api, blockedId, isFinal);
    assert.equal(blocked.status, "Blocked");
    assert.equal(blocked.complianceAction, "QuietHours");
    assert.match(String(blocked.statusReason), /contact\.timeZoneId/);
    assert.equal(blocked.billingStatus, "NotBilled");
    // One zone: deferred to its next allowed hour, like any message in quiet hours (or sent in it).
    const other = await waitForEvent(api, knownId, (e) => e.status === "Scheduled" || isFinal(e));
    assert.ok(other.status === "Scheduled" || other.status === "Delivered", other.status);
  });

  test("a stored timeZoneId this Node cannot read is taken as unknown: the number's zones, and the worker goes on", async () => {
    const lead = await addLead(api, "+61891234570", { timeZoneId: "Australia/Perth" });
    // Written straight into the database, as another version or a hand edit could leave it.
    await editStoredLead(api, lead.leadId, (doc) => ({
      ...doc,
      contact: { ...(doc.contact as object), timeZoneId: "Mars/Olympus_Mons" },
    }));
    const res = await api.call("POST", "/sms/send", { conversationId: lead.conversationId, text: "Hello" });
    assert.equal(res.statusCode, 201, res.body);
    // The number's zones (Adelaide's and Perth's, which never agree on an hour): Blocked with the
    // usual reason, not left Queued by a worker round that failed.
    const sms = await waitForEvent(api, res.json().id, isFinal);
    assert.equal(sms.status, "Blocked", `${sms.status} ${sms.statusReason}`);
    assert.equal(sms.complianceAction, "QuietHours");
  });

  test("a Windows time zone id (the subset allows one) is taken, kept as sent and read as its IANA zone", async () => {
    // "W. Australia Standard Time" is Windows' name for Australia/Perth.
    const windows = await addLead(api, "+61891234569", { timeZoneId: "W. Australia Standard Time" });
    const lead = (await api.call("GET", `/leads/${windows.leadId}`)).json();
    assert.equal(lead.contact.timeZoneId, "W. Australia Standard Time");
    const res = await api.call("POST", "/sms/send", {
      conversationId: windows.conversationId,
      text: "Hello",
    });
    assert.equal(res.statusCode, 201, res.body);
    // One zone, Perth's: deferred or sent, not Blocked for zones that never agree (Adelaide's and Perth's).
    const sms = await waitForEvent(api, res.json().id, (e) => e.status === "Scheduled" || isFinal(e));
    assert.ok(sms.status === "Scheduled" || sms.status === "Delivered", `${sms.status} ${sms.statusReason}`);
  });
});
