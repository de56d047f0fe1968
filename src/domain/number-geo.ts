import { parsePhoneNumberFromString } from "libphonenumber-js";
import { placeOfNumber, timeZonesOfNumber } from "./number-geo-data.js";
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

export function zonesForNumber(e164: string): string[] {
  const parsed = parsePhoneNumberFromString(e164);
  // "1" alone is the whole NANP: a +1 number must match at least its first area-code digit.
  const minDigits = parsed?.countryCallingCode === "1" ? 2 : 1;
  const zones = parsed ? (timeZonesOfNumber(parsed.number, minDigits) ?? []) : [];
  return zones.length > 0 ? zones : [FALLBACK_ZONE];
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
 * The zones quiet hours are read in: the lead's contact.timeZoneId (a Windows id as the IANA zone it
 * stands for), else the number's. A stored id this Node cannot read (written by another version, or
 * straight into the database) counts as unknown: the number's zones, rather than an error that would
 * stop the worker's round for every organization.
 */
export function recipientZones(leadTimeZone: string | null | undefined, e164: string): string[] {
  const zone = leadTimeZone ? ianaTimeZone(leadTimeZone) : null;
  if (zone === null) return zonesForNumber(e164);
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

const REGION_CODES: Record<string, string> = {
  Alabama: "AL",
  Alaska: "AK",
  Arizona: "AZ",
  Arkansas: "AR",
  California: "CA",
  Colorado: "CO",
  Connecticut: "CT",
  Delaware: "DE",
  "District of Columbia": "DC",
  Florida: "FL",
  Georgia: "GA",
  Hawaii: "HI",
  Idaho: "ID",
  Illinois: "IL",
  Indiana: "IN",
  Iowa: "IA",
  Kansas: "KS",
  Kentucky: "KY",
  Louisiana: "LA",
  Maine: "ME",
  Maryland: "MD",
  Massachusetts: "MA",
  Michigan: "MI",
  Minnesota: "MN",
  Mississippi: "MS",
  Missouri: "MO",
  Montana: "MT",
  Nebraska: "NE",
  Nevada: "NV",
  "New Hampshire": "NH",
  "New Jersey": "NJ",
  "New Mexico": "NM",
  "New York": "NY",
  "North Carolina": "NC",
  "North Dakota": "ND",
  Ohio: "OH",
  Oklahoma: "OK",
  Oregon: "OR",
  Pennsylvania: "PA",
  "Rhode Island": "RI",
  "South Carolina": "SC",
  "South Dakota": "SD",
  Tennessee: "TN",
  Texas: "TX",
  Utah: "UT",
  Vermont: "VT",
  Virginia: "VA",
  Washington: "WA",
  "Washington D.C.": "DC",
  "West Virginia": "WV",
  Wisconsin: "WI",
  Wyoming: "WY",
  Alberta: "AB",
  "British Columbia": "BC",
  Manitoba: "MB",
  "New Brunswick": "NB",
  "Newfoundland and Labrador": "NL",
  "Nova Scotia": "NS",
  Ontario: "ON",
  "Prince Edward Island": "PE",
  Quebec: "QC",
  Saskatchewan: "SK",
  "Northwest Territories": "NT",
  Nunavut: "NU",
  Yukon: "YT",
};

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
