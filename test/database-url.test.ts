import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { describeDatabaseUrl } from "../src/database-url.js";

test("a database URL is shown as user@host:port/database, never with a password", () => {
  const cases: Array<[string, string]> = [
    ["postgres://postgres@127.0.0.1:5432/test", "postgres://postgres@127.0.0.1:5432/test"],
    ["postgres://app:s3cret@db.internal/leads", "postgres://app@db.internal/leads"],
    ["postgres://db.internal/leads", "postgres://db.internal/leads"],
    // In the query string node-postgres reads passwords too.
    ["postgres://app@db/leads?password=s3cret&sslpassword=s3cret", "postgres://app@db/leads"],
    // An unencoded '@' in the password: the last '@' ends it.
    ["postgres://app:s3@cret@db/leads", "postgres://app@db/leads"],
    // An unencoded '/', '?' or '#' in it ends the authority early: part would show as port or path.
    ["postgresql://postgres:/s3cret@127.0.0.1:5432/test", "a URL that cannot be shown without its password"],
    [
      "postgresql://postgres:12/s3cret@127.0.0.1:5432/test",
      "a URL that cannot be shown without its password",
    ],
    [
      "postgresql://postgres:12?s3cret@127.0.0.1:5432/test",
      "a URL that cannot be shown without its password",
    ],
    [
      "postgresql://postgres:12#s3cret@127.0.0.1:5432/test",
      "a URL that cannot be shown without its password",
    ],
    ["postgres://postgres:secret@127.0.0.1:99999/x", "a value that is not a valid URL"],
    // Anything but scheme://authority at the start puts the password in what the parser calls the path.
    [
      "jdbc:postgresql://app:s3cret@db.internal:5432/leads",
      "a URL that cannot be shown without its password",
    ],
    ["postgres: //app:s3cret@db/leads", "a URL that cannot be shown without its password"],
    ["postgres:/app:s3cret@db//leads", "a URL that cannot be shown without its password"],
    // A special scheme reads '\\' as '/'; the parser drops tabs and newlines before it reads.
    ["http://app:12\\s3cret@db/leads", "a URL that cannot be shown without its password"],
    ["mysql:/\t/app:/s3cret@db//leads", "a URL that cannot be shown without its password"],
    ["  postgres://app:s3cret@db/leads\n", "postgres://app@db/leads"],
    ["app:s3cret@db", "a URL that cannot be shown without its password"],
    ["notaurl", "a value that is not a valid URL"],
  ];
  for (const [url, shown] of cases) {
    const described = describeDatabaseUrl(url);
    assert.equal(described, shown, url);
    assert.doesNotMatch(described, /s3|cret/, url);
  }
});

test("no password written into a database URL, however it is punctuated, is ever shown", () => {
  // The marker stands for the password; around it, and before the URL, characters the URL parser
  // treats specially (or drops) mixed with ordinary ones.
  const punctuation = [..."/\\?#@:%.;+ \t\n\r\u0000\u0001"];
  const noise = fc.string({ unit: fc.constantFrom(...punctuation, "a", "j", "1"), maxLength: 6 });
  fc.assert(
    fc.property(
      noise,
      noise,
      noise,
      fc.constantFrom("postgres", "postgresql", "mysql", "http"),
      (prefix, before, after, scheme) => {
        const url = `${prefix}${scheme}://app:${before}ZQXJ${after}@db.internal:5432/leads`;
        assert.doesNotMatch(describeDatabaseUrl(url), /ZQXJ/i, JSON.stringify(url));
      },
    ),
    { numRuns: 5000 },
  );
});
