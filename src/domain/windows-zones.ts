import { WINDOWS_TO_IANA_MAP } from "windows-iana";

// Windows time zone ids and the IANA zone each stands for: CLDR windowsZones.xml as the windows-iana
// package carries it, territory "001" (the zone Windows means by the id; the first IANA name listed
// is CLDR's canonical one). The Leadping subset lets contact.timeZoneId be "an IANA or Windows time
// zone identifier". Matched in any case, as Windows itself compares the ids.

const BY_LOWER_CASE = new Map(
  Object.values(WINDOWS_TO_IANA_MAP)
    .filter((zone) => zone.territory === "001" && zone.iana.length > 0)
    .map((zone) => [zone.windowsName.toLowerCase(), zone.iana[0]!]),
);

function isIanaZone(id: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: id });
    return true;
  } catch {
    return false;
  }
}

/** The IANA zone a Windows time zone id (any case) stands for; undefined when it is none. */
function windowsToIana(id: string): string | undefined {
  return BY_LOWER_CASE.get(id.trim().toLowerCase());
}

/** Ids already resolved: the gate asks for every message, and Intl's check builds a formatter. */
const resolved = new Map<string, string | null>();

/** The IANA zone a time zone id names: itself when IANA, else the Windows id's; null when neither. */
export function ianaTimeZone(id: string): string | null {
  const known = resolved.get(id);
  if (known !== undefined) return known;
  const zone = isIanaZone(id) ? id : (windowsToIana(id) ?? null);
  // Zones are a few hundred names; a bound keeps arbitrary strings from growing it without end.
  if (resolved.size >= 2000) resolved.clear();
  resolved.set(id, zone);
  return zone;
}
