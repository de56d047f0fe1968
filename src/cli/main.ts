import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { Command } from "commander";
import { type Config, loadConfig } from "../config.js";
import { microsToUsd, parseUsd } from "../domain/money.js";
import { isValidEmail } from "../domain/phone.js";
import { environmentHelp } from "../environment.js";
import { buildApp } from "../http/app.js";
import { Messaging } from "../messaging/messaging.js";
import { checkProviderSettings, createProvider } from "../messaging/providers/index.js";
import { addCredit } from "../store/billing-repo.js";
import {
  addApiKey,
  addUser,
  countOrganizations,
  createOrganization,
  findUser,
  revokeApiKeys,
} from "../store/orgs-repo.js";
import type { Store } from "../store/store.js";
import { unknownVariableWarnings } from "../unknown-variables.js";
import { baseUrlOf } from "./base-url.js";
import { benchSeed } from "./bench-seed.js";
import { demoInstructions, noDemoInstructions, seedDemo } from "./demo.js";
import { seedDemoMessaging, waitForDemoMessages } from "./demo-messaging.js";
import { listenError } from "./listen-error.js";
import { openStore } from "./open-store.js";
import { settingsLine } from "./settings-line.js";
import { refuseRepeatedOptions } from "./single-options.js";

const program = new Command();
program
  .name("leadtrail")
  .description("Lead activity timeline and SMS event service (Leadping v1 compatible)")
  .version(packageVersion())
  // Every command reads its database (and serve its address) from the environment, not from flags.
  .addHelpText("after", environmentHelp());

// Before any command's action (not for --help or --version): a misspelled LEADTRAIL_… is ignored,
// so say so, on stderr, where a command's --json output is not.
program.hook("preAction", () => {
  for (const warning of unknownVariableWarnings(process.env)) console.error(`leadtrail: ${warning}`);
});

/** The package's version, from the package.json beside dist/ (read, not imported: no JSON modules). */
function packageVersion(): string {
  const file = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

program
  .command("serve")
  .description("serve the HTTP API (SQLite at LEADTRAIL_DB, or PostgreSQL with DATABASE_URL)")
  .option("--demo-if-empty", "create the demo organization when the database has none")
  .addHelpText("after", environmentHelp())
  .action(async (options: { demoIfEmpty?: boolean }) => {
    const config = loadConfig();
    // Settings that can refuse to start come before the database is opened (and migrated).
    checkProviderSettings(config.messaging);
    console.log(settingsLine(config));
    const store = await openStore(config);
    const pipeline = new Messaging(store.db, store.engine, config.messaging);
    // The port too comes before anything else is written or sent: a server that cannot listen must
    // not have seeded a demo or begun sending.
    const provider = createProvider(config.messaging, pipeline, store.webhookUrlSecret);
    const app = await buildApp({
      store,
      rateLimitPerMinute: config.rateLimitPerMinute,
      authFailuresPerMinute: config.authFailuresPerMinute,
      trustProxy: config.trustProxy,
      logLevel: config.logLevel,
      messaging: config.messaging,
      pipeline,
    });
    let stopping = false;
    // The port accepts connections before listen() resolves: a signal may come before it does.
    const listening = app.listen({ host: config.host, port: config.port }).then(() => {});
    /** The demo and the worker, begun once the port is open; a signal meanwhile waits for them. */
    let startup: Promise<void> = Promise.resolve();
    const shutdown = async () => {
      if (stopping) return;
      stopping = true;
      // The whole shutdown, requests and the worker's calls in flight, ends within the grace.
      const graceEndsAt = Date.now() + config.shutdownGraceMs;
      // A server that could not listen is closed (and the error reported) by the code below; one
      // that could has begun its startup by now (it resumes first), which a signal waits for.
      const listened = await listening.then(
        () => true,
        () => false,
      );
      if (!listened) return;
      await startup.catch(() => {});
      // Node stops enforcing the request timeout once the server closes, so a client still sending
      // a request would keep the process alive: past the grace period its connection is cut.
      const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs);
      await app.close();
      clearTimeout(cut);
      await pipeline.stop(graceEndsAt - Date.now());
      await store.close();
      process.exit(0);
    };
    process.once("SIGINT", shutdown);
    process.once("SIGTERM", shutdown);
    try {
      await listening;
    } catch (error) {
      await app.close();
      await provider.close();
      await store.close();
      throw listenError(error, baseUrlOf(config).replace("http://", ""));
    }
    // PORT=0 lets the system choose: say which port it chose.
    const baseUrl = baseUrlOf({ host: config.host, port: (app.server.address() as AddressInfo).port });
    startup = (async () => {
      if (options.demoIfEmpty && (await countOrganizations(store.db)) === 0) {
        const demo = await seedDemo(store.db, undefined, config.messaging.startingCreditMicros);
        // With the simulator the demo's messages are sent by this server's worker as it starts.
        if (config.messaging.provider === "simulator") await seedDemoMessaging(store.db, demo, pipeline);
        console.log(demoInstructions(demo, baseUrl));
      } else if (options.demoIfEmpty) console.log(noDemoInstructions());
      pipeline.startWorker(provider);
    })();
    await startup;
    console.log(`leadtrail listening on ${baseUrl} (${store.engine}); API reference at ${baseUrl}/docs`);
  });

program
  .command("worker")
  .description("run only the outbound messaging worker (any number may run against one PostgreSQL)")
  .addHelpText("after", environmentHelp())
  .action(async () => {
    const config = loadConfig();
    checkProviderSettings(config.messaging);
    console.log(settingsLine(config));
    const store = await openStore(config);
    const pipeline = new Messaging(store.db, store.engine, config.messaging);
    pipeline.startWorker(createProvider(config.messaging, pipeline, store.webhookUrlSecret));
    const shutdown = async () => {
      await pipeline.stop(config.shutdownGraceMs);
      await store.close();
      process.exit(0);
    };
    process.once("SIGINT", shutdown);
    process.once("SIGTERM", shutdown);
    console.log(`leadtrail worker running on ${store.engine} with the ${config.messaging.provider} provider`);
  });

program
  .command("migrate")
  .description("apply pending database migrations")
  .action(async () => {
    const migrated = await withStore(
      async (store) => `${store.engine} database to ${await store.migrationVersion()}`,
    );
    console.log(`migrated ${migrated}`);
  });

/** A USD amount flag in exact micro-dollars (domain/money.ts parseUsd), or an error saying what it takes. */
function usdOption(value: string, flag: string, allowZero: boolean): number {
  const micros = parseUsd(value);
  if (micros === null) {
    throw new Error(
      `${flag} must be an amount in USD from ${allowZero ? 0 : 0.000001} to 1000000000 such as 25 or 12.50 (at most 6 decimals), got '${value}'`,
    );
  }
  if (!allowZero && micros === 0) throw new Error(`${flag} must be more than 0`);
  return micros;
}

/** Micro-dollars as "12.50" (two decimals at least, up to six when there are sub-cent amounts). */
function formatUsd(micros: number): string {
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(micros);
  const fraction = String(abs % 1_000_000)
    .padStart(6, "0")
    .replace(/0{1,4}$/, "");
  return `${sign}${Math.floor(abs / 1_000_000)}.${fraction.padEnd(2, "0")}`;
}

/**
 * Runs `work` on the configured database, and closes it whatever happens. `existing`: the command
 * acts on records already there (see openStore).
 */
async function withStore<T>(
  work: (store: Store) => Promise<T>,
  options: { config?: Config; existing?: boolean } = {},
): Promise<T> {
  const store = await openStore(options.config ?? loadConfig(), options);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** A command's result: one JSON line with --json (for scripts), else lines for a person. */
function report(json: boolean | undefined, result: unknown, lines: () => string[]): void {
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else for (const line of lines()) console.log(line);
}

const org = program.command("org").description("manage organizations");
org
  .command("create")
  .description("create an organization with its first user, API key and wallet")
  .requiredOption("--name <name>", "organization name")
  .option("--json", "print only {organizationId,userId,apiKey} as JSON")
  .option("--credit <usd>", "the wallet's starting credit in USD (default: LEADTRAIL_STARTING_CREDIT, or 10)")
  .action(async (options: { name: string; json?: boolean; credit?: string }) => {
    if (options.name.trim() === "") program.error("leadtrail: --name must not be empty");
    const credit = options.credit === undefined ? undefined : usdOption(options.credit, "--credit", true);
    const config = loadConfig();
    const startingCreditMicros = credit ?? config.messaging.startingCreditMicros;
    const created = await withStore(
      (store) => createOrganization(store.db, options.name.trim(), { startingCreditMicros }),
      { config },
    );
    report(options.json, created, () => [
      `organization ${created.organizationId} created`,
      `user         ${created.userId}`,
      `API key      ${created.apiKey}   (shown once)`,
      `wallet       ${formatUsd(startingCreditMicros)} USD`,
    ]);
  });

const user = program.command("user").description("manage an organization's users");
user
  .command("add")
  .description("add a user with their own API key to an organization")
  .requiredOption("--org <id>", "organization id (org_…)")
  .requiredOption("--name <name>", "the user's name (events they write carry it)")
  .option("--email <email>", "the user's email")
  .option("--json", "print only {organizationId,userId,apiKey} as JSON")
  .action(async (options: { org: string; name: string; email?: string; json?: boolean }) => {
    const name = options.name.trim();
    if (name === "") program.error("leadtrail: --name must not be empty");
    const email = options.email?.trim();
    if (email !== undefined && !isValidEmail(email))
      program.error(`leadtrail: --email '${email}' is not an email address`);
    const added = await withStore((store) => addUser(store.db, options.org, { name, email: email ?? null }), {
      existing: true,
    });
    if (!added) throw new Error(`organization '${options.org}' was not found`);
    report(options.json, added, () => [
      `user    ${added.userId} added to ${added.organizationId}`,
      `API key ${added.apiKey}   (shown once)`,
    ]);
  });

const key = program.command("key").description("manage API keys");
key
  .command("create")
  .description("a new API key for an existing user (to rotate one: create, switch, then revoke the old)")
  .requiredOption("--user <id>", "user id (usr_…)")
  .option("--json", "print only {organizationId,userId,apiKey} as JSON")
  .action(async (options: { user: string; json?: boolean }) => {
    const created = await withStore((store) => addApiKey(store.db, options.user.trim()), { existing: true });
    if (!created) throw new Error(`user '${options.user}' was not found`);
    report(options.json, created, () => [
      `API key ${created.apiKey}   (shown once) for ${created.userId} of ${created.organizationId}`,
    ]);
  });
key
  .command("revoke")
  .description(
    "revoke an organization API key (sk_…), or every one of a user (a running server refuses it within a minute); source keys belong to their sources",
  )
  .option(
    "--key <apiKey>",
    "the key itself (sk_…), or - to read it from standard input (kept out of shell history)",
  )
  .option("--user <id>", "every key of this user (usr_…)")
  .option("--json", "print {organizationId,userId,keyPrefixes} as JSON")
  .action(async (options: { key?: string; user?: string; json?: boolean }) => {
    if ((options.key === undefined) === (options.user === undefined)) {
      program.error("leadtrail: give either --key or --user");
    }
    const apiKey = options.key === "-" ? readFileSync(0, "utf8") : options.key;
    if (apiKey !== undefined && apiKey.trim() === "") {
      program.error(`leadtrail: ${options.key === "-" ? "standard input held no key" : "--key is empty"}`);
    }
    // A source's key is live until its source is re-keyed or deleted: "unknown or already revoked"
    // would send the user looking for a mistyped key.
    if (apiKey?.trim().startsWith("lp_src_")) {
      program.error(
        "leadtrail: that is a lead source's key (lp_src_…), which belongs to its source: re-key the source " +
          "(PUT /sources/{id} with regenerateApiKey: true) or delete it (DELETE /sources/{id}) to stop it",
      );
    }
    const target: { apiKey: string } | { userId: string } =
      apiKey !== undefined ? { apiKey: apiKey.trim() } : { userId: options.user!.trim() };
    const { revoked, unknownUser } = await withStore(
      async (store) => {
        const revoked = await revokeApiKeys(store.db, target);
        // Nothing revoked for a user: a mistyped id, or a user with no live key?
        const unknownUser = !revoked && "userId" in target && !(await findUser(store.db, target.userId));
        return { revoked, unknownUser };
      },
      { existing: true },
    );
    if (unknownUser) throw new Error(`user '${options.user!.trim()}' was not found`);
    if (!revoked && "userId" in target) {
      // The user is there ("unknown" would send them checking the id): their keys are all revoked.
      throw new Error(
        `user '${target.userId}' has no live API key: every one is revoked already ` +
          `(leadtrail key create --user ${target.userId} makes a new one)`,
      );
    }
    if (!revoked) throw new Error("no live API key matched: it is unknown or already revoked");
    report(options.json, revoked, () => [
      `revoked ${revoked.keyPrefixes.map((p) => `${p}…`).join(", ")} of ${revoked.userId} (${revoked.organizationId})`,
    ]);
  });

const wallet = program.command("wallet").description("manage organization wallets");
wallet
  .command("credit")
  .description("add credit to an organization's wallet")
  .requiredOption("--org <id>", "organization id (org_…)")
  .requiredOption("--amount <usd>", "amount to add, in USD (e.g. 25 or 12.50)")
  .option("--json", "print {organizationId,walletId,balance,amountPurchased,currency} as JSON")
  .action(async (options: { org: string; amount: string; json?: boolean }) => {
    const micros = usdOption(options.amount, "--amount", false);
    const credited = await withStore((store) => addCredit(store.db, options.org, micros), { existing: true });
    if (!credited) throw new Error(`organization '${options.org}' was not found`);
    const result = {
      organizationId: credited.organization_id,
      walletId: credited.id,
      balance: microsToUsd(credited.balance_micros),
      amountPurchased: microsToUsd(credited.purchased_micros),
      currency: "USD",
    };
    report(options.json, result, () => [
      `credited ${formatUsd(micros)} USD to ${credited.organization_id}; balance ${formatUsd(credited.balance_micros)} USD`,
    ]);
  });

program
  .command("demo")
  .description(
    "create a demo organization with leads, conversations, notes, updates and messages in every status",
  )
  .action(async () => {
    const config = loadConfig();
    const store = await openStore(config);
    const created = await seedDemo(store.db, undefined, config.messaging.startingCreditMicros);
    const pipeline = new Messaging(store.db, store.engine, config.messaging);
    if (config.messaging.provider === "simulator") {
      // Send the demo's messages through the simulator now, so the timeline shows their outcomes.
      pipeline.startWorker(createProvider(config.messaging, pipeline, store.webhookUrlSecret));
      await seedDemoMessaging(store.db, created, pipeline);
      await waitForDemoMessages(store.db, created.organizationId);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the simulator's last receipts
      await pipeline.stop();
    }
    await store.close();
    console.log(demoInstructions(created, baseUrlOf(config)));
  });

program
  .command("bench-seed")
  .description("create an organization and bulk-write N realistic events into it (for benchmarks)")
  .requiredOption("--events <n>", "number of events to write")
  .option("--json", "print {organizationId,apiKey} as the last line")
  .action(async (options: { events: string; json?: boolean }) => {
    const n = /^\d{1,10}$/.test(options.events.trim()) ? Number(options.events.trim()) : 0;
    if (n < 1) throw new Error(`--events must be a positive integer, got '${options.events}'`);
    const store = await openStore(loadConfig());
    const result = await benchSeed(store, n, { progress: process.stderr.isTTY === true });
    await store.close();
    const line = JSON.stringify({ organizationId: result.organizationId, apiKey: result.apiKey });
    if (options.json) process.stdout.write(`${line}\n`);
    else
      console.log(
        `wrote ${n} events in ${result.seconds.toFixed(2)} s (${Math.round(n / result.seconds)}/s)\n${line}`,
      );
  });

refuseRepeatedOptions(program);
program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`leadtrail: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
