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
  // Whatever surrounds the word on a phone's keyboard: quotes, a comma, an ellipsis, an emoji, a
  // zero-width character, or the full-width letters of an East Asian input method.
  for (const text of [
    "ＳＴＯＰ",
    "Ｓｔｏｐ。",
    '"STOP"',
    "'stop'",
    "\u201cStop\u201d",
    "STOP,",
    "Stop;",
    "stop\u2026",
    "(stop)",
    "*STOP*",
    "stop \u{1F6D1}",
    "\u270b\ufe0f Stop",
    "STOP\u200b",
    "\u200bUnsubscribe",
    "\u00bfCancel?",
    // A phone's autocorrect turns the hyphen into a typographic dash.
    "Opt\u2013out",
    "OPT\u2014OUT",
  ]) {
    assert.equal(keywordAction(text), "opt-out", JSON.stringify(text));
  }
  assert.equal(keywordAction("ＳＴＡＲＴ"), "opt-in");
  assert.equal(keywordAction('"Help"'), "help");
  assert.equal(keywordAction("start"), "opt-in");
  assert.equal(keywordAction("Help?"), "help");
  for (const text of [
    "please stop texting me",
    "stopped",
    "STOP STOP",
    "opt",
    "?",
    "\u{1F6D1}",
    "stop, please",
    "don't stop",
    "constructor",
    "__proto__",
    "",
  ]) {
    assert.equal(keywordAction(text), null, text);
  }
});
