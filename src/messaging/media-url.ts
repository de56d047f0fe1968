import { BlockList, isIP } from "node:net";
import { hasControlCharacters } from "../domain/plain-text.js";

// What POST /sms/send accepts as a media URL. The provider fetches it from the public internet
// (the contract: "Public HTTPS media URLs"), and the URL is stored and handed over exactly as
// written, so one the provider cannot fetch is refused up front rather than failing the MMS later.

/**
 * Addresses the provider cannot reach: "this network", private, carrier-grade NAT, loopback and
 * link-local IPv4 (169.254.169.254 included), and IPv6's unspecified, loopback, unique-local and
 * link-local ones. Node's BlockList also matches an IPv4-mapped IPv6 address by its IPv4 rules.
 */
const UNREACHABLE = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
] as const) {
  UNREACHABLE.addSubnet(network, prefix, "ipv4");
}
UNREACHABLE.addAddress("::", "ipv6");
UNREACHABLE.addAddress("::1", "ipv6");
UNREACHABLE.addSubnet("fc00::", 7, "ipv6");
UNREACHABLE.addSubnet("fe80::", 10, "ipv6");

/** Why `raw` is no media URL the provider could fetch, or null when it is one. */
export function mediaUrlProblem(raw: string): string | null {
  // The URL parser forgives a missing slash ("https:/x"), surrounding spaces and tabs or newlines
  // inside; the stored string would still carry them.
  if (!/^https:\/\/[^\s/?#]/i.test(raw) || /\s/.test(raw) || hasControlCharacters(raw)) {
    return "must be an absolute https URL (https://host/path), with no spaces.";
  }
  // WHATWG reads a backslash as "/", an RFC 3986 parser (the provider's, perhaps) as part of the
  // authority: "https://8.8.8.8\@169.254.169.254/" is 8.8.8.8 here and 169.254.169.254 there.
  if (raw.includes("\\")) {
    return "must not contain a backslash: URL parsers disagree on where a host written with one ends.";
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute https URL (https://host/path), with no spaces.";
  }
  // A user name or password would be handed to the provider and shown on the lead's timeline to
  // every API key of the organization. An empty one ("https://@host") is refused alike: the
  // authority as written is what is stored.
  const authority = raw.slice("https://".length).split(/[/?#]/, 1)[0]!;
  if (url.username !== "" || url.password !== "" || authority.includes("@")) {
    return "must not carry a user name or password (user:pass@): the provider would receive it and it would be stored on the lead's timeline, readable with every API key of the organization.";
  }
  const host = url.hostname.toLowerCase();
  // The parser writes every IPv4 form as dotted decimal, and an IPv6 address in brackets.
  const address = host.startsWith("[") ? host.slice(1, -1) : host;
  const family = isIP(address);
  if (family !== 0) {
    return UNREACHABLE.check(address, family === 6 ? "ipv6" : "ipv4")
      ? "must be a public URL: the provider cannot fetch a loopback, private or link-local address."
      : null;
  }
  if (host === "localhost" || host.endsWith(".localhost") || !host.includes("."))
    return "must be a public URL: the provider cannot fetch localhost or a name without a domain.";
  return null;
}
