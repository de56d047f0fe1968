import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import semver from "semver";

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

test("every installed package supports the Node versions package.json promises", () => {
  // A dependency that needs a newer Node than ours installs with only a warning and may fail at
  // run time (better-sqlite3 13 needs Node 22 and crashes on 20). package.json's `overrides` pin
  // light-my-request and @fastify/static to releases whose own dependencies still support Node 20.
  const ours = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    engines: { node: string };
  };
  const oldestPromised = semver.minVersion(ours.engines.node)?.version;
  assert.ok(oldestPromised, `engines.node ${ours.engines.node} names a version`);
  assert.ok(
    semver.satisfies(process.version, ours.engines.node),
    `this Node (${process.version}) is one we promise`,
  );
  const lock = JSON.parse(readFileSync(new URL("../package-lock.json", import.meta.url), "utf8")) as {
    packages: Record<string, { engines?: { node?: string } | string[] }>;
  };
  const refusing = Object.entries(lock.packages).flatMap(([path, entry]) => {
    const wanted = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (path === "" || wanted === undefined) return [];
    const fits = [oldestPromised, process.version].every((version) => semver.satisfies(version, wanted));
    return fits ? [] : [`${path} needs node ${wanted}`];
  });
  assert.ok(Object.keys(lock.packages).length > 100, "package-lock.json lists the installed tree");
  assert.deepEqual(refusing, []);
});

test("prepare without TypeScript (npm ci --omit=dev) keeps a built dist/, and says how to build when there is none", () => {
  // The script alone in a folder with no node_modules: TypeScript cannot be found there.
  const dir = mkdtempSync(join(tmpdir(), "leadtrail-prepare-"));
  try {
    mkdirSync(join(dir, "scripts"));
    copyFileSync(new URL("../scripts/prepare.mjs", import.meta.url), join(dir, "scripts", "prepare.mjs"));
    writeFileSync(join(dir, "package.json"), '{"name":"copy","type":"module"}');
    const prepare = () =>
      spawnSync(process.execPath, [join(dir, "scripts", "prepare.mjs")], {
        encoding: "utf8",
        timeout: 30_000,
      });
    const unbuilt = prepare();
    assert.equal(unbuilt.status, 1, unbuilt.stdout);
    assert.match(unbuilt.stderr, /TypeScript is a dev dependency and dist\/ is not built/);
    assert.match(unbuilt.stderr, /npm prune --omit=dev/);
    mkdirSync(join(dir, "dist", "cli"), { recursive: true });
    writeFileSync(join(dir, "dist", "cli", "main.js"), "");
    const built = prepare();
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stdout, /keeping the dist\/ already built/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
