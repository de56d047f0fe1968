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
  // Read the authority the way the URL parser does: it trims C0 controls and spaces at either end
  // and drops every tab and newline. Anything but scheme://authority at the start (`jdbc:postgresql://`,
  // `postgres: //`, `postgres:/`) gives the parser a path that would hold the password.
  const asParsed = trimC0ControlsAndSpaces(databaseUrl).replace(/[\t\n\r]/g, "");
  const parts = /^[a-z][a-z0-9+.-]*:\/\/([^/?#\\]*)(.*)$/is.exec(asParsed);
  // An unencoded '/', '?', '#' or '\' in the password ends the authority inside it: the parser then
  // reads the rest of the password as the port or the path. An '@' after the authority shows that.
  if (!parts || parts[2]?.includes("@")) return "a URL that cannot be shown without its password";
  const user = url.username ? `${url.username}@` : "";
  return `${url.protocol}//${user}${url.host}${url.pathname}`;
}

function trimC0ControlsAndSpaces(text: string): string {
  const isC0OrSpace = (index: number) => text.charCodeAt(index) <= 0x20;
  let start = 0;
  let end = text.length;
  while (start < end && isC0OrSpace(start)) start += 1;
  while (end > start && isC0OrSpace(end - 1)) end -= 1;
  return text.slice(start, end);
}
