import assert from "node:assert/strict";
import { test } from "node:test";
import { keywordAction } from "../src/domain/keywords.js";

test("keywords are the whole message, in any case, trailing punctuation aside; words inside a message are not", () => {
  for (const text of [
    "STOP",
    "stop.",
    " Stop! ",
    "revoke",
    "Opt out",
    "OPT-OUT",
    "optout",
    "unsubscribe?",
    "STOP ALL",
    "stop  all",
  ]) {
    assert.equal(keywordAction(text), "opt-out", text);
  }
  assert.equal(keywordAction("start"), "opt-in");
  assert.equal(keywordAction("Help?"), "help");
  for (const text of [
    "please stop texting me",
    "stopped",
    "STOP STOP",
    "opt",
    "constructor",
    "__proto__",
    "",
  ]) {
    assert.equal(keywordAction(text), null, text);
  }
});
