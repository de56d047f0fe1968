import { parsePhoneNumberFromString } from "libphonenumber-js";
import { placeOfNumber, timeZonesOfNumber } from "./number-geo-data.js";
import { localMinutes } from "./quiet-hours.js";
import { addressRegion, REGION_CODES, zonesOfRegion } from "./region-zones.js";
import { ianaTimeZone } from "./windows-zones.js";

// Where a number is: its time zone(s) and its US state / Canadian province, from Google
// libphonenumber's geocoding and timezone data.
//
// The recipient's time zone(s): the lead's contact.timeZoneId when known, else the zones of the
// number's longest listed prefix in Google libphonenumber's timezone map: an area code, or an
// exchange where an area code spans zones (208-230 is Denver's, 208-660 Los Angeles'). Not cached by
// area code for that reason; the lookup is a few property reads of a table decoded once.

/**
 * Used when a number maps to no zone at all, or (a NANP toll-free, premium or other non-geographic
 * number) only to the +1 country's 42 zones, from Guam to Samoa, whose allowed hours never overlap:
 * the middle of the continental US, a conservative guess.
 */
export const FALLBACK_ZONE = "America/Chicago";

/** The zones libphonenumber lists for the number, or null when it lists none (see FALLBACK_ZONE). */
function listedZonesOfNumber(e164: string): string[] | null {
  const parsed = parsePhoneNumberFromString(e164);
  // "1" alone is the whole NANP: a +1 number must match at least its first area-code digit.
  const minDigits = parsed?.countryCallingCode === "1" ? 2 : 1;
  const zones = parsed ? (timeZonesOfNumber(parsed.number, minDigits) ?? []) : [];
  return zones.length > 0 ? zones : null;
}

export function zonesForNumber(e164: string): string[] {
  return listedZonesOfNumber(e164) ?? [FALLBACK_ZONE];
}

/**
 * IANA ids of a fixed offset that US lead vendors write for a region that keeps summer time: "EST"
 * meant as Eastern would put the quiet window an hour late all summer (a text at 21:30 EDT). Both
 * zones are read, so a minute is allowed only when it is allowed in each: the conservative reading.
 */
const US_FIXED_OFFSET_IDS: Readonly<Record<string, string>> = {
  EST: "America/New_York",
  MST: "America/Denver",
};

/**
 * The zones a number and the region of the lead's postal address (a US state or Canadian province)
 * leave the person in. A number keeps its area code when the person moves or ports it, so where the
 * two disagree (a New York number, a California address) the person may be in either, and both are
 * read; where they share a zone (one keeping the same time), the number narrows a region split
 * between zones (a Dallas number in Texas is not on El Paso's time). A number with no listed zone
 * (toll-free) yields to the address.
 */
function zonesOfNumberAndAddress(e164: string, address: Readonly<Record<string, unknown>> | null): string[] {
  const byNumber = listedZonesOfNumber(e164);
  const region = addressRegion(address);
  const byAddress = region === null ? null : zonesOfRegion(region);
  if (byAddress === null) return byNumber ?? [FALLBACK_ZONE];
  if (byNumber === null) return [...byAddress];
  if (byNumber.some((zone) => byAddress.some((other) => sameClock(zone, other)))) return byNumber;
  return [...byNumber, ...byAddress];
}

/** sameClock's answers by year and pair of zones: a few hundred pairs at most (zones of the table). */
const sameClockByPair = new Map<string, boolean>();

/**
 * Whether two zones keep the same time in winter and in summer: libphonenumber names some places by
 * a zone of their own (America/Juneau, America/Boise) that keeps Anchorage's or Denver's time.
 */
function sameClock(a: string, b: string): boolean {
  if (a === b) return true;
  const year = new Date().getUTCFullYear();
  // The gate asks for every message with an address: four Intl look-ups a pair, so remembered.
  const key = `${year} ${a} ${b}`;
  let same = sameClockByPair.get(key);
  if (same === undefined) {
    same = [Date.UTC(year, 0, 15, 12), Date.UTC(year, 6, 15, 12)].every(
      (at) => localMinutes(at, a) === localMinutes(at, b),
    );
    sameClockByPair.set(key, same);
  }
  return same;
}

/**
 * The zones quiet hours are read in: the lead's contact.timeZoneId (a Windows id as the IANA zone it
 * stands for), else the number's together with the lead's postal address's (zonesOfNumberAndAddress).
 * A stored id this Node cannot read (written by another version, or straight into the database)
 * counts as unknown, rather than an error that would stop the worker's round for every organization.
 */
export function recipientZones(
  leadTimeZone: string | null | undefined,
  e164: string,
  address: Readonly<Record<string, unknown>> | null = null,
): string[] {
  const zone = leadTimeZone ? ianaTimeZone(leadTimeZone) : null;
  if (zone === null) return zonesOfNumberAndAddress(e164, address);
  const regional = US_FIXED_OFFSET_IDS[zone.toUpperCase()];
  return regional ? [zone, regional] : [zone];
}

/**
 * The +1 countries whose carriers enforce 10DLC registration: the US with its territories (Puerto
 * Rico, the US Virgin Islands, Guam, the Northern Marianas, American Samoa: libphonenumber gives each
 * a country code of its own, but their carriers are US carriers under the same rules) and Canada.
 */
const TEN_DLC_COUNTRIES = new Set(["US", "CA", "PR", "VI", "GU", "MP", "AS"]);

/** US (territories included) and Canadian recipients need a sender with a registered 10DLC campaign. */
export function needsTenDlc(e164: string): boolean {
  const country = parsePhoneNumberFromString(e164)?.country;
  return country !== undefined && TEN_DLC_COUNTRIES.has(country);
}

/** "CA", "NY", "ON"… for a NANP number, or null when the data does not say. */
export function regionOfNumber(e164: string): string | null {
  if (!e164.startsWith("+1")) return null;
  const parsed = parsePhoneNumberFromString(e164);
  const place = parsed ? placeOfNumber(parsed.countryCallingCode, parsed.nationalNumber) : null;
  let region: string | null = null;
  if (place) {
    const suffix = /,\s*([A-Z]{2})$/.exec(place);
    region = suffix ? suffix[1]! : (REGION_CODES[place] ?? null);
  }
  return region;
}

/** The NANP area code (NPA) of a +1 number. */
export function areaCode(e164: string): string | null {
  return e164.startsWith("+1") && e164.length === 12 ? e164.slice(2, 5) : null;
}
