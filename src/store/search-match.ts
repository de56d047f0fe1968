import { type RawBuilder, sql } from "kysely";
import { FOLDED_INTO_ASCII } from "../domain/case-fold.js";

// List search's SQL per engine: "this column, folded as foldCase folds it, contains the pattern".
// The pattern is a LIKE pattern, already folded, with its own % _ \ escaped by a backslash.

export interface SearchMatch {
  /** For a term of ASCII characters only. */
  ascii: (column: RawBuilder<unknown>, pattern: string) => RawBuilder<unknown>;
  /** For any other term. */
  unicode: (column: RawBuilder<unknown>, pattern: string) => RawBuilder<unknown>;
}

const like = (text: RawBuilder<unknown>, pattern: string) => sql`${text} like ${pattern} escape '\\'`;

/**
 * PostgreSQL's lower() folds all of Unicode (by the database's locale), one character at a time;
 * ς, which no upper-case letter gives, is made σ as foldCase does.
 */
export const POSTGRES_SEARCH: SearchMatch = {
  ascii: (column, pattern) => like(sql`lower(${column})`, pattern),
  unicode: (column, pattern) => like(sql`translate(lower(${column}), 'ς', 'σ')`, pattern),
};

/**
 * SQLite: a term that is not ASCII goes through `unicodeLower`, a function registered on the
 * connection (foldCase in JavaScript). An ASCII term needs no fold of the column at all: SQLite's
 * LIKE ignores the case of ASCII letters itself, in half the time of lower() and LIKE. Only the few
 * letters outside ASCII that fold into an ASCII letter of the term (İ into i: "istanbul" finds
 * "İstanbul") are replaced, in the rows that hold one; about as fast as lower() and LIKE were.
 */
export function sqliteSearch(unicodeLower: string): SearchMatch {
  return {
    ascii: (column, pattern) => {
      const folding = FOLDED_INTO_ASCII.filter(([, to]) => pattern.includes(to));
      if (folding.length === 0) return like(column, pattern);
      // LIKE, not instr(), which counts characters: a third of the time.
      const holdsOne = sql.join(
        folding.map(([from]) => like(column, `%${from}%`)),
        sql` or `,
      );
      const replaced = folding.reduce((text, [from, to]) => sql`replace(${text}, ${from}, ${to})`, column);
      return sql`(${like(column, pattern)} or ((${holdsOne}) and ${like(replaced, pattern)}))`;
    },
    unicode: (column, pattern) => like(sql`${sql.raw(unicodeLower)}(${column})`, pattern),
  };
}
