import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";

const require = createRequire(import.meta.url);

test("installing better-sqlite3 builds it from source and downloads nothing (.prebuild-installrc)", () => {
  // better-sqlite3's install script is `prebuild-install || node-gyp rebuild`: prebuild-install would
  // fetch a prebuilt binary from GitHub unless told to build from source. Run it as npm would, from
  // the package's folder, with no network access needed for the answer.
  const packageDir = dirname(require.resolve("better-sqlite3/package.json"));
  const bin = join(dirname(require.resolve("prebuild-install/package.json")), "bin.js");
  const run = spawnSync(process.execPath, [bin, "--verbose"], {
    cwd: packageDir,
    encoding: "utf8",
    timeout: 30_000,
  });
  const output = `${run.stdout}${run.stderr}`;
  assert.match(output, /--build-from-source specified, not attempting download/, output);
  assert.doesNotMatch(output, /http request GET/, output);
  assert.notEqual(run.status, 0, "prebuild-install gives way to node-gyp (a non-zero exit)");
});
