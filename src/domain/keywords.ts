// Carrier-standard SMS keywords (CTIA), plus the FCC's 2025 revocation words (REVOKE, OPT OUT):
// matched against the whole message, any case and in full-width letters, with surrounding spaces,
// punctuation, emoji and invisible characters ("Stop.", '"stop"', "STOP," are a STOP) ignored. A longer
// message that merely contains one is not a keyword.

export type KeywordAction = "opt-out" | "opt-in" | "help";

const KEYWORDS: Record<string, KeywordAction> = {
  STOP: "opt-out",
  STOPALL: "opt-out",
  // Telnyx's default block rule takes "STOP ALL" as well: the provider would then refuse our
  // messages while the timeline still took the sender for subscribed.
  "STOP ALL": "opt-out",
  UNSUBSCRIBE: "opt-out",
  CANCEL: "opt-out",
  END: "opt-out",
  QUIT: "opt-out",
  REVOKE: "opt-out",
  OPTOUT: "opt-out",
  "OPT OUT": "opt-out",
  START: "opt-in",
  UNSTOP: "opt-in",
  HELP: "help",
  INFO: "help",
};

/**
 * What may surround the word and still leave it the whole message: spaces, punctuation (quotes, a
 * comma, an ellipsis, "¿…?"), symbols and emoji, and invisible characters (a zero-width space, an
 * emoji's variation selector) that keyboards and copy-paste add.
 */
const EDGES = /^[\s\p{P}\p{S}\p{M}\p{Cf}]+|[\s\p{P}\p{S}\p{M}\p{Cf}]+$/gu;

export function keywordAction(text: string): KeywordAction | null {
  const word = text
    // Full-width letters (an East Asian input method's "ＳＴＯＰ") and other compatibility forms.
    .normalize("NFKC")
    .replace(EDGES, "")
    // Inner spaces and dashes of any kind ("Opt-out", "Opt–out" from autocorrect, "opt  out").
    .replace(/[\s\p{Pd}]+/gu, " ")
    .toUpperCase();
  return Object.hasOwn(KEYWORDS, word) ? KEYWORDS[word]! : null;
}
