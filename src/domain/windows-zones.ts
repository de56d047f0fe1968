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
export function windowsToIana(id: string): string | undefined {
  return BY_LOWER_CASE.get(id.trim().toLowerCase());
}

/** The IANA zone a time zone id names: itself when IANA, else the Windows id's; null when neither. */
export function ianaTimeZone(id: string): string | null {
  if (isIanaZone(id)) return id;
  return windowsToIana(id) ?? null;
}
