import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { loadConfig } from "../src/config.js";
import { ApiKeyAuthenticator, FailedAuthenticationGuard } from "../src/http/auth.js";
import { createOrganization } from "../src/store/orgs-repo.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { forEachEngine } from "./helpers/engines.js";

// Clients whose requests keep failing authentication are throttled per address
// (LEADTRAIL_AUTH_FAILURES_PER_MINUTE), without locking out keys this process already knows.

const badKey = () => `sk_${randomBytes(32).toString("base64url")}`;

forEachEngine("failed authentications per client address", (engine) => {
  let api: TestApi;
  const LIMIT = 3;
  before(async () => {
    api = await startTestApi(engine, { authFailuresPerMinute: LIMIT });
  });
  after(() => api.close());

  let addressCounter = 10;
  const newAddress = () => `203.0.113.${addressCounter++}`;

  const get = (address: string, authorization?: string, headers: Record<string, string> = {}) =>
    api.app.inject({
      method: "POST",
      url: "/events/all/my",
      remoteAddress: address,
      headers: {
        "content-type": "application/json",
        ...(authorization === undefined ? {} : { authorization }),
        ...headers,
      },
      payload: "{}",
    });

  test("past the limit an address gets 429 with Retry-After; other addresses still get 401", async () => {
    const address = newAddress();
    // Every kind of 401 counts: a missing header, a malformed one, an unknown key.
    const failures = [undefined, "Basic abc", `Bearer ${badKey()}`];
    for (const authorization of failures) {
      const res = await get(address, authorization);
      assert.equal(res.statusCode, 401, res.body);
    }
    const refused = await get(address, `Bearer ${badKey()}`);
    assert.equal(refused.statusCode, 429, refused.body);
    assert.match(String(refused.headers["content-type"]), /^application\/problem\+json/);
    const retryAfter = Number(refused.headers["retry-after"]);
    // Counted in one-second slots: the window may reach one slot further back.
    assert.ok(retryAfter >= 1 && retryAfter <= 61, String(retryAfter));
    const problem = refused.json();
    assert.equal(problem.status, 429);
    assert.match(problem.detail, /This client address is limited to 3 failed authentications per 60 seconds/);
    assert.equal(
      (await get(newAddress(), `Bearer ${badKey()}`)).statusCode,
      401,
      "another address is not held back",
    );
  });

  test("a throttled address still gets in with a key this process has accepted; a new key waits", async () => {
    const address = newAddress();
    assert.equal((await get(address, `Bearer ${api.org.apiKey}`)).statusCode, 200);
    for (let i = 0; i < LIMIT; i++) assert.equal((await get(address, `Bearer ${badKey()}`)).statusCode, 401);
    assert.equal((await get(address, `Bearer ${badKey()}`)).statusCode, 429);
    const known = await get(address, `Bearer ${api.org.apiKey}`);
    assert.equal(known.statusCode, 200, known.body);
    // A valid key this process has not seen yet would need the database lookup the limit saves.
    const other = await createOrganization(api.db.store.db, "Newcomer");
    assert.equal((await get(address, `Bearer ${other.apiKey}`)).statusCode, 429);
    assert.equal((await get(newAddress(), `Bearer ${other.apiKey}`)).statusCode, 200);
  });

  test("accepted requests and other errors never count as failed authentications", async () => {
    const address = newAddress();
    for (let i = 0; i < LIMIT * 3; i++) {
      assert.equal((await get(address, `Bearer ${api.org.apiKey}`)).statusCode, 200);
      const bad = await api.app.inject({
        method: "POST",
        url: "/events/all/my",
        remoteAddress: address,
        headers: { authorization: `Bearer ${api.org.apiKey}`, "content-type": "application/json" },
        payload: '{"pageSize": 0}',
      });
      assert.equal(bad.statusCode, 400, bad.body);
    }
    assert.equal((await get(address, `Bearer ${badKey()}`)).statusCode, 401);
  });

  test("a key in use keeps working past the key cache's minute while a bad client loops; a revoked one stops", async () => {
    // The guard and the authenticator as app.ts builds them, on this database, with a clock we move.
    let now = Date.UTC(2026, 0, 1);
    const clock = () => now;
    const authenticator = new ApiKeyAuthenticator(
      {
        organizationKey: (hash) => api.db.store.findApiKeyOwner(hash),
        sourceKey: (hash) => api.db.store.findSourceKeyOwner(hash),
      },
      clock,
    );
    const guard = new FailedAuthenticationGuard(authenticator, LIMIT, clock);
    const address = newAddress();
    const status = (header: string) =>
      guard.authenticate(header, address).then(
        () => 200,
        (error: { status?: number }) => error.status,
      );
    /** The looping client's bad keys until the address is throttled. */
    const throttle = async () => {
      for (let i = 0; i <= LIMIT; i++) if ((await status(`Bearer ${badKey()}`)) === 429) return;
      assert.fail("the address was never throttled");
    };
    const team = await createOrganization(api.db.store.db, "Team behind the same address");
    assert.equal(await status(`Bearer ${team.apiKey}`), 200);
    // Ten minutes of work every 20 s beside the loop: the key cache's minute runs out many times.
    for (let i = 0; i < 30; i++) {
      now += 20_000;
      await throttle();
      assert.equal(await status(`Bearer ${team.apiKey}`), 200, `after ${(i + 1) * 20} s`);
    }
    // A valid key this process has not accepted waits while the address is throttled.
    const newcomer = await createOrganization(api.db.store.db, "Newcomer at the same address");
    assert.equal(await status(`Bearer ${newcomer.apiKey}`), 429);
    // In use is not valid: once revoked, the key is refused at its next lookup.
    await api.db.store.db
      .updateTable("api_keys")
      .set({ revoked_at: now })
      .where("organization_id", "=", team.organizationId)
      .execute();
    now += 61_000;
    await throttle();
    assert.equal(await status(`Bearer ${team.apiKey}`), 401);
    // …and from then on it is not in use: a client looping on it is throttled like any other.
    await throttle();
    assert.equal(await status(`Bearer ${team.apiKey}`), 429);
    // Ten minutes unused, a key is no longer in use.
    const quiet = await createOrganization(api.db.store.db, "Quiet team");
    now += 120_000;
    assert.equal(await status(`Bearer ${quiet.apiKey}`), 200);
    now += 10 * 60_000;
    await throttle();
    assert.equal(await status(`Bearer ${quiet.apiKey}`), 429);
  });

  test("without LEADTRAIL_TRUST_PROXY, X-Forwarded-For does not name a new client", async () => {
    const address = newAddress();
    for (let i = 0; i < LIMIT; i++) {
      const res = await get(address, `Bearer ${badKey()}`, { "x-forwarded-for": `198.51.100.${i}` });
      assert.equal(res.statusCode, 401);
    }
    const res = await get(address, `Bearer ${badKey()}`, { "x-forwarded-for": "198.51.100.99" });
    assert.equal(res.statusCode, 429);
  });
});

forEachEngine("failed authentications behind a trusted proxy", (engine) => {
  let api: TestApi;
  const PROXY = "10.0.0.5";
  before(async () => {
    api = await startTestApi(engine, { authFailuresPerMinute: 2, trustProxy: "10.0.0.0/8" });
  });
  after(() => api.close());

  const fromProxy = (client: string, remoteAddress = PROXY) =>
    api.app.inject({
      method: "POST",
      url: "/events/all/my",
      remoteAddress,
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${badKey()}`,
        "x-forwarded-for": client,
      },
      payload: "{}",
    });

  test("the client named by a trusted proxy is counted, not the proxy", async () => {
    for (let i = 0; i < 2; i++) assert.equal((await fromProxy("198.51.100.1")).statusCode, 401);
    assert.equal((await fromProxy("198.51.100.1")).statusCode, 429);
    assert.equal((await fromProxy("198.51.100.2")).statusCode, 401, "another client behind the same proxy");
  });

  test("an untrusted peer cannot name another client to escape the limit", async () => {
    const peer = "192.0.2.7";
    for (let i = 0; i < 2; i++) assert.equal((await fromProxy(`198.51.100.${50 + i}`, peer)).statusCode, 401);
    assert.equal((await fromProxy("198.51.100.60", peer)).statusCode, 429);
  });
});

test("LEADTRAIL_AUTH_FAILURES_PER_MINUTE and LEADTRAIL_TRUST_PROXY: defaults, values and refusals", () => {
  assert.equal(loadConfig({}).authFailuresPerMinute, 60);
  assert.equal(loadConfig({ LEADTRAIL_AUTH_FAILURES_PER_MINUTE: "0" }).authFailuresPerMinute, 0);
  assert.throws(() => loadConfig({ LEADTRAIL_AUTH_FAILURES_PER_MINUTE: "-1" }), /AUTH_FAILURES_PER_MINUTE/);
  assert.throws(() => loadConfig({ LEADTRAIL_AUTH_FAILURES_PER_MINUTE: "ten" }), /AUTH_FAILURES_PER_MINUTE/);
  assert.equal(loadConfig({}).trustProxy, false);
  assert.equal(loadConfig({ LEADTRAIL_TRUST_PROXY: "false" }).trustProxy, false);
  assert.equal(loadConfig({ LEADTRAIL_TRUST_PROXY: "true" }).trustProxy, true);
  assert.equal(
    loadConfig({ LEADTRAIL_TRUST_PROXY: "127.0.0.1, 10.0.0.0/8,::1,fd00::/8,loopback" }).trustProxy,
    "127.0.0.1, 10.0.0.0/8,::1,fd00::/8,loopback",
  );
  for (const bad of [
    "2",
    "yes",
    "10.0.0.0/8;drop",
    "proxy.example.com",
    "10.0.0.0/33",
    "10.0.0.1/8/1",
    "1.2.3.4,",
  ]) {
    assert.throws(() => loadConfig({ LEADTRAIL_TRUST_PROXY: bad }), /LEADTRAIL_TRUST_PROXY/, bad);
  }
});
