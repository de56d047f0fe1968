/**
 * A database URL as it may be shown in a message: scheme://user@host:port/database. The password is
 * left out, and so is the query string (node-postgres reads `password` and `sslpassword` there too).
 */
export function describeDatabaseUrl(databaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return "a value that is not a valid URL";
  }
  // An unencoded '/', '?' or '#' in the password ends the URL's authority inside it: the parser then
  // reads the rest of the password as the port or the path. An '@' after the authority shows that.
  const afterScheme = databaseUrl.slice(databaseUrl.indexOf("//") + 2);
  const authority = afterScheme.split(/[/?#]/, 1)[0] ?? "";
  if (!databaseUrl.includes("//") || afterScheme.includes("@", authority.length)) {
    return "a URL that cannot be shown without its password";
  }
  const user = url.username ? `${url.username}@` : "";
  return `${url.protocol}//${user}${url.host}${url.pathname}`;
}
