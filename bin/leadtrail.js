#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (the package's `prepare` script).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";

// Before any of our code runs: V8's allocation-site pretenuring, once it decides (early, at random
// under load) that an allocation site's objects live long, allocates them straight in the old
// generation. A server's per-request objects do not live long, so they pile up there as garbage until
// the next mark-compact: in about one run in three the heap went from 60 to 130 MB and the process
// past 200 MB. Without pretenuring they die young. (bench/RESULTS.md, "Seventh session".)
setFlagsFromString("--no-allocation-site-pretenuring");

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error("leadtrail is not built yet: run `npm install` (or `npm run build`) in the project folder.");
  process.exit(1);
}
await import(entry.href);
