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
