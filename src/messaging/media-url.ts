// What POST /sms/send accepts as a media URL. The provider fetches it from the public internet
// (the contract: "Public HTTPS media URLs"), and the URL is stored and handed over exactly as
// written, so one the provider cannot fetch is refused up front rather than failing the MMS later.

// Loopback, private, link-local, carrier-grade NAT and "this network" IPv4 ranges: [first octets, prefix].
const PRIVATE_IPV4: ReadonlyArray<readonly [number, number]> = [
  [0x00000000, 8],
  [0x0a000000, 8],
  [0x64400000, 10],
  [0x7f000000, 8],
  [0xa9fe0000, 16],
  [0xac100000, 12],
  [0xc0a80000, 16],
];

/** Whether a host (as the URL parser writes it: dotted decimal for any IPv4 form) is a non-public IPv4. */
function isPrivateIpv4(host: string): boolean {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return false;
  const address = parts.reduce((sum, p) => sum * 256 + Number(p), 0);
  return PRIVATE_IPV4.some(
    ([base, bits]) => Math.floor(address / 2 ** (32 - bits)) === base / 2 ** (32 - bits),
  );
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Why `raw` is no media URL the provider could fetch, or null when it is one. */
export function mediaUrlProblem(raw: string): string | null {
  // The URL parser forgives a missing slash ("https:/x"), surrounding spaces and tabs or newlines
  // inside; the stored string would still carry them.
  if (!/^https:\/\/[^\s/?#]/i.test(raw) || /\s/.test(raw) || hasControlCharacter(raw)) {
    return "must be an absolute https URL (https://host/path), with no spaces.";
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute https URL (https://host/path), with no spaces.";
  }
  const host = url.hostname.toLowerCase();
  if (host.startsWith("[")) {
    const v6 = host.slice(1, -1);
    if (v6 === "::" || v6 === "::1" || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) || v6.startsWith("::ffff:"))
      return "must be a public URL: the provider cannot fetch a loopback, private or link-local address.";
    return null;
  }
  if (isPrivateIpv4(host))
    return "must be a public URL: the provider cannot fetch a loopback, private or link-local address.";
  if (host === "localhost" || host.endsWith(".localhost") || !host.includes("."))
    return "must be a public URL: the provider cannot fetch localhost or a name without a domain.";
  return null;
}
