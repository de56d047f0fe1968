import assert from "node:assert/strict";
import { test } from "node:test";
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
    ["app:s3cret@db", "a URL that cannot be shown without its password"],
    ["notaurl", "a value that is not a valid URL"],
  ];
  for (const [url, shown] of cases) {
    const described = describeDatabaseUrl(url);
    assert.equal(described, shown, url);
    assert.doesNotMatch(described, /s3|cret/, url);
  }
});
