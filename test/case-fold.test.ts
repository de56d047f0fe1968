import assert from "node:assert/strict";
import { test } from "node:test";
import { FOLDED_INTO_ASCII, foldCase } from "../src/domain/case-fold.js";

test("FOLDED_INTO_ASCII names every character outside ASCII that foldCase makes ASCII", () => {
  // SQLite's search of an ASCII term maps exactly these before its ASCII-only lower(): one missing
  // here is a letter an ASCII term finds on PostgreSQL and not on SQLite.
  const found: Array<[string, string]> = [];
  for (let code = 0x80; code <= 0x10ffff; code++) {
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const character = String.fromCodePoint(code);
    const folded = foldCase(character);
    if ([...folded].every((c) => c.charCodeAt(0) < 0x80)) found.push([character, folded]);
  }
  assert.deepEqual(found, FOLDED_INTO_ASCII);
});
