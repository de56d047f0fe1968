// Carrier-standard SMS keywords (CTIA), plus the FCC's 2025 revocation words (REVOKE, OPT OUT):
// matched against the whole message, any case, with surrounding spaces and trailing punctuation
// ("Stop." and "stop!" are a STOP) ignored. A longer message that merely contains one is not a keyword.

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

export function keywordAction(text: string): KeywordAction | null {
  const word = text
    .trim()
    .replace(/[.!?]+$/, "")
    .replace(/[\s-]+/g, " ")
    .trim()
    .toUpperCase();
  return Object.hasOwn(KEYWORDS, word) ? KEYWORDS[word]! : null;
}
