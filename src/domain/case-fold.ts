/**
 * Case folding for list search, the same on both engines: each character lower-cased on its own (as
 * PostgreSQL's lower() does), with the word-final ς read as σ and İ as i. JavaScript's toLowerCase
 * looks at context (Σ at the end of a word becomes ς) and writes İ as i + U+0307, neither of which
 * PostgreSQL's lower() does: a term folded that way missed the very text it was copied from.
 */
export function foldCase(text: string): string {
  let folded = "";
  for (const character of text) folded += character === "\u0130" ? "i" : character.toLowerCase();
  return folded.replaceAll("ς", "σ");
}

/**
 * The characters outside ASCII that foldCase makes ASCII letters: İ (U+0130) i, and the Kelvin sign
 * (U+212A) k. An ASCII term can match them, so a fold that leaves non-ASCII text alone (SQLite's
 * LIKE and lower(), which fold ASCII only) must map these first for such a term to find what
 * PostgreSQL's lower() finds.
 */
export const FOLDED_INTO_ASCII: ReadonlyArray<readonly [string, string]> = [
  ["\u0130", "i"],
  ["\u212a", "k"],
];
