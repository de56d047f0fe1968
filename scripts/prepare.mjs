// npm's `prepare` step: compiles src/ to dist/ so that `npx leadtrail` works right after
// `npm install`. TypeScript is a dev dependency: an install without them (`npm ci --omit=dev`, for
// instance in a container image that copies a dist/ built earlier) keeps the dist/ it finds.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));

let tsc;
try {
  tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
} catch {
  if (existsSync(join(root, "dist", "cli", "main.js"))) {
    console.log(
      "leadtrail: TypeScript is not installed (dev dependencies omitted); keeping the dist/ already built.",
    );
    process.exit(0);
  }
  console.error(
    "leadtrail: cannot build: TypeScript is a dev dependency and dist/ is not built. Run `npm install` " +
      "with dev dependencies, or build first (`npm ci && npm run build`) and then `npm prune --omit=dev`.",
  );
  process.exit(1);
}
const build = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
  stdio: "inherit",
});
process.exit(build.status ?? 1);
