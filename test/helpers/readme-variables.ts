import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

/** The names README's Configuration table documents (a row may name several: `HOST`, `PORT`). */
export function readmeVariables(): Set<string> {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.split("\n## Configuration\n")[1]?.split("\n## ")[0] ?? "";
  const rows = section.split("\n\n").find((part) => part.trimStart().startsWith("| variable |")) ?? "";
  const names = new Set<string>();
  for (const row of rows.split("\n").filter((line) => line.startsWith("| `"))) {
    for (const [, name] of row.split(" | ")[0]!.matchAll(/`([^`]+)`/g)) names.add(name!);
  }
  assert.ok(names.size > 10, "README.md has a Configuration table");
  return names;
}
