import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { forEachEngine } from "./helpers/engines.js";
import {
  cliEnv as baseCliEnv,
  type CliDatabase,
  createCliDatabase,
  FROM_SOURCE,
  type RunningServer,
  cli as runCli,
  cliOk as runCliOk,
  startServer,
} from "./helpers/processes.js";

// `leadtrail org create --credit` and `leadtrail wallet credit` as child processes against a fresh
// SQLite file or PostgreSQL database, checked through a running `leadtrail serve` and the tables.
// The CLI runs from source through tsx (the same code dist/ is compiled from) rather than bin/ on
// dist/: test/cli.test.ts may be rebuilding dist/ at the same moment, and a half-written dist/ must
// not fail these tests.

/** The CLI environment without a starting credit inherited from the shell running the tests. */
function cliEnv(database: Record<string, string>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = baseCliEnv(database, extra);
  if (!("LEADTRAIL_STARTING_CREDIT" in extra)) delete env.LEADTRAIL_STARTING_CREDIT;
  return env;
}

const cli = (args: string[], env: NodeJS.ProcessEnv) => runCli(args, env, FROM_SOURCE);
const cliOk = (args: string[], env: NodeJS.ProcessEnv) => runCliOk(args, env, FROM_SOURCE);

async function walletOf(baseUrl: string, apiKey: string) {
  const res = await fetch(`${baseUrl}/wallets/me`, { headers: { authorization: `Bearer ${apiKey}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as { balance: number; amountPurchased: number; organizationId: string };
}

describe("leadtrail wallet CLI basics", () => {
  test("--help lists the wallet command and org create --credit", async () => {
    const { stdout } = await cliOk(["--help"], cliEnv({}));
    assert.match(stdout, /^\s+wallet\b/m);
    assert.match(
      (await cliOk(["wallet", "credit", "--help"], cliEnv({}))).stdout,
      /--org <id>[\s\S]*--amount <usd>/,
    );
    assert.match((await cliOk(["org", "create", "--help"], cliEnv({}))).stdout, /--credit <usd>/);
  });
});

forEachEngine("leadtrail wallet CLI", (engine) => {
  let db: CliDatabase;
  let server: RunningServer | undefined;
  before(async () => {
    db = await createCliDatabase(engine);
    delete db.env.LEADTRAIL_STARTING_CREDIT; // the default (10) unless a test sets it
    await cliOk(["migrate"], db.env);
    server = await startServer([], db.env, FROM_SOURCE);
  });
  after(async () => {
    await server?.stop();
    await db?.cleanup();
  });

  const orgCount = async () =>
    Number((await db.query<{ n: number | string }>("select count(*) as n from organizations"))[0]?.n);

  test("org create --credit 25 --json, then wallet credit --amount 5: GET /wallets/me shows 30", async () => {
    const { stdout } = await cliOk(
      ["org", "create", "--name", "Wallet Co", "--credit", "25", "--json"],
      db.env,
    );
    assert.match(stdout, /^\{[^\n]*\}\n$/);
    const created = JSON.parse(stdout);
    assert.deepEqual(Object.keys(created).sort(), ["apiKey", "organizationId", "userId"]);
    const start = await walletOf(server!.baseUrl, created.apiKey);
    assert.equal(start.balance, 25);
    assert.equal(start.amountPurchased, 25);
    assert.equal(start.organizationId, created.organizationId);

    const credited = await cliOk(
      ["wallet", "credit", "--org", created.organizationId, "--amount", "5", "--json"],
      db.env,
    );
    assert.match(credited.stdout, /^\{[^\n]*\}\n$/);
    const result = JSON.parse(credited.stdout);
    assert.equal(result.organizationId, created.organizationId);
    assert.equal(result.balance, 30);
    assert.equal(result.amountPurchased, 30);
    assert.equal(result.currency, "USD");
    assert.match(result.walletId, /^wal_/);

    const wallet = await walletOf(server!.baseUrl, created.apiKey);
    assert.equal(wallet.balance, 30);
    assert.equal(wallet.amountPurchased, 30);
    const [row] = await db.query<{ balance_micros: number | string }>(
      "select balance_micros from wallets where organization_id = $1",
      [created.organizationId],
    );
    assert.equal(Number(row?.balance_micros), 30_000_000);

    // Without --json: one human line; cents and sub-cent amounts are exact.
    const human = await cliOk(
      ["wallet", "credit", "--org", created.organizationId, "--amount", "0.125"],
      db.env,
    );
    assert.equal(human.stdout, `credited 0.125 USD to ${created.organizationId}; balance 30.125 USD\n`);
    assert.equal((await walletOf(server!.baseUrl, created.apiKey)).balance, 30.125);
  });

  test("without --credit the wallet starts with LEADTRAIL_STARTING_CREDIT, or 10; --credit overrides it", async () => {
    const plain = JSON.parse((await cliOk(["org", "create", "--name", "Default", "--json"], db.env)).stdout);
    assert.equal((await walletOf(server!.baseUrl, plain.apiKey)).balance, 10);

    const envCredit = { ...db.env, LEADTRAIL_STARTING_CREDIT: "7.5" };
    const configured = JSON.parse(
      (await cliOk(["org", "create", "--name", "Env", "--json"], envCredit)).stdout,
    );
    assert.equal((await walletOf(server!.baseUrl, configured.apiKey)).balance, 7.5);

    const overridden = JSON.parse(
      (await cliOk(["org", "create", "--name", "Zero", "--credit", "0", "--json"], envCredit)).stdout,
    );
    assert.equal((await walletOf(server!.baseUrl, overridden.apiKey)).balance, 0);

    const human = await cliOk(["org", "create", "--name", "Human", "--credit", "12.5"], db.env);
    assert.match(human.stdout, /^wallet\s+12\.50 USD$/m);
  });

  test("wallet credit for an unknown organization exits 1 with a message on stderr", async () => {
    const result = await cli(
      ["wallet", "credit", "--org", "org_01HZZZZZZZZZZZZZZZZZZZZZZZ", "--amount", "5"],
      db.env,
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^leadtrail: organization 'org_01HZZZZZZZZZZZZZZZZZZZZZZZ' was not found/m);
    const [wallets] = await db.query<{ n: number | string }>(
      "select count(*) as n from wallets where organization_id = $1",
      ["org_01HZZZZZZZZZZZZZZZZZZZZZZZ"],
    );
    assert.equal(Number(wallets?.n), 0);
  });

  test("a repeated --amount or --org exits 1 and credits nothing, rather than taking the last one", async () => {
    const org = JSON.parse((await cliOk(["org", "create", "--name", "Twice", "--json"], db.env)).stdout);
    const other = JSON.parse((await cliOk(["org", "create", "--name", "Other", "--json"], db.env)).stdout);
    for (const [args, option] of [
      [["--org", org.organizationId, "--amount", "5", "--amount", "50"], "--amount"],
      [["--org", org.organizationId, "--amount=5", "--amount=50"], "--amount"],
      [["--org", org.organizationId, "--org", other.organizationId, "--amount", "5"], "--org"],
    ] as const) {
      const result = await cli(["wallet", "credit", ...args, "--json"], db.env);
      assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, new RegExp(`^leadtrail: ${option} was given more than once`, "m"));
    }
    assert.equal((await walletOf(server!.baseUrl, org.apiKey)).balance, 10);
    assert.equal((await walletOf(server!.baseUrl, other.apiKey)).balance, 10);
    // A flag without a value means the same however often it comes.
    const flags = await cliOk(
      ["wallet", "credit", "--org", org.organizationId, "--amount", "5", "--json", "--json"],
      db.env,
    );
    assert.equal(JSON.parse(flags.stdout).balance, 15);
  });

  test("bad amounts exit 1 naming the option and change nothing", async () => {
    const before = await orgCount();
    for (const credit of ["-1", "abc", "1.2345678", "1e3", "", "1000000000.000001", "0x10"]) {
      const result = await cli(["org", "create", "--name", "Bad", `--credit=${credit}`, "--json"], db.env);
      assert.equal(result.code, 1, `--credit=${credit}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /--credit/);
    }
    assert.equal(await orgCount(), before);

    const org = JSON.parse((await cliOk(["org", "create", "--name", "Amounts", "--json"], db.env)).stdout);
    for (const amount of ["0", "-5", "five"]) {
      const result = await cli(
        ["wallet", "credit", "--org", org.organizationId, `--amount=${amount}`],
        db.env,
      );
      assert.equal(result.code, 1, `--amount=${amount}: ${result.stderr}`);
      assert.match(result.stderr, /--amount/);
    }
    assert.equal((await walletOf(server!.baseUrl, org.apiKey)).balance, 10);
    // A wallet holds at most a billion dollars (SQLite reads integers past 2^53 micro-dollars wrong).
    const over = await cli(
      ["wallet", "credit", "--org", org.organizationId, "--amount", "999999999"],
      db.env,
    );
    assert.equal(over.code, 1, over.stderr);
    assert.match(over.stderr, /a wallet holds at most 1000000000 USD/);
    assert.equal((await walletOf(server!.baseUrl, org.apiKey)).balance, 10);
    const upTo = await cli(
      ["wallet", "credit", "--org", org.organizationId, "--amount", "999999990"],
      db.env,
    );
    assert.equal(upTo.code, 0, upTo.stderr);
    assert.equal((await walletOf(server!.baseUrl, org.apiKey)).balance, 1_000_000_000);
    const missing = await cli(["wallet", "credit", "--amount", "5"], db.env);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /--org/);
  });
});
