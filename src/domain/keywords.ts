// Carrier-standard SMS keywords (CTIA): matched against the whole message, any case, trimmed.

export type KeywordAction = "opt-out" | "opt-in" | "help";

const KEYWORDS: Record<string, KeywordAction> = {
  STOP: "opt-out",
  STOPALL: "opt-out",
  UNSUBSCRIBE: "opt-out",
  CANCEL: "opt-out",
  END: "opt-out",
  QUIT: "opt-out",
  START: "opt-in",
  UNSTOP: "opt-in",
  HELP: "help",
  INFO: "help",
};

export function keywordAction(text: string): KeywordAction | null {
  return KEYWORDS[text.trim().toUpperCase()] ?? null;
}
