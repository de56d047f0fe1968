import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadMessagingConfig } from "../src/config.js";
import { SimulatorProvider } from "../src/messaging/providers/simulator.js";
import { Worker } from "../src/messaging/worker.js";
import { openConnection } from "../src/store/database.js";

// A worker whose database is down fails every round. It must neither spin nor flood the log: it
// waits longer after each failure and logs the first failure and then only at powers of two.

test("a worker on a database that is down backs off and logs the failures sparingly", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "leadtrail-worker-down-"));
  const conn = openConnection({ sqlitePath: join(dir, "down.db") });
  // Never migrated: every round fails ("no such table"), as it would with the database gone.
  const logged: string[] = [];
  t.mock.method(console, "error", (...args: unknown[]) => {
    logged.push(args.map(String).join(" "));
  });
  const provider = new SimulatorProvider({ receipt: async () => {}, inbound: async () => {} }, 0);
  const worker = new Worker(conn.db, {
    engine: "sqlite",
    config: loadMessagingConfig({}),
    provider,
    pollMs: 10,
  });
  try {
    worker.start();
    // At a 10 ms poll, 1.5 s would be over a hundred failed rounds, each logged, without backoff.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  } finally {
    await worker.stop();
    await provider.close();
    await conn.close();
    t.mock.restoreAll();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(logged.length >= 1, "the failure is logged");
  assert.match(logged[0]!, /^leadtrail worker \(failed round 1\): /);
  assert.ok(logged.length <= 5, `logged ${logged.length} times: ${logged.join(" | ")}`);
  for (const line of logged.slice(1)) assert.match(line, /failed round (2|4|8|16)\)/);
});
