import { parsePhoneNumberFromString } from "libphonenumber-js";
import { placeOfNumber, timeZonesOfNumber } from "./number-geo-data.js";

// Where a number is: its time zone(s) and its US state / Canadian province, from Google
// libphonenumber's geocoding and timezone data.
//
// The recipient's time zone(s): the lead's contact.timeZoneId when known, else the zones of the
// number's area code (Google libphonenumber's timezone map). Cached per country code + area code.

const byPrefix = new Map<string, string[]>();
/** Used when a number maps to no zone at all: the middle of the continental US, a conservative guess. */
export const FALLBACK_ZONE = "America/Chicago";

export function zonesForNumber(e164: string): string[] {
  const prefix = e164.slice(0, 5);
  const cached = byPrefix.get(prefix);
  if (cached) return cached;
  const parsed = parsePhoneNumberFromString(e164);
  const zones = parsed ? (timeZonesOfNumber(parsed.number) ?? []) : [];
  const result = zones.length > 0 ? zones : [FALLBACK_ZONE];
  if (e164.startsWith("+1")) byPrefix.set(prefix, result);
  return result;
}

export function recipientZones(leadTimeZone: string | null | undefined, e164: string): string[] {
  if (leadTimeZone) return [leadTimeZone];
  return zonesForNumber(e164);
}

/** US and Canada (NANP +1 numbers in those two countries) need a registered 10DLC campaign. */
export function needsTenDlc(e164: string): boolean {
  const parsed = parsePhoneNumberFromString(e164);
  return parsed?.country === "US" || parsed?.country === "CA";
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

const regionByPrefix = new Map<string, string | null>();

/** "CA", "NY", "ON"… for a NANP number, or null when the data does not say. */
export function regionOfNumber(e164: string): string | null {
  if (!e164.startsWith("+1")) return null;
  const prefix = e164.slice(0, 5);
  const cached = regionByPrefix.get(prefix);
  if (cached !== undefined) return cached;
  const parsed = parsePhoneNumberFromString(e164);
  const place = parsed ? placeOfNumber(parsed.countryCallingCode, parsed.nationalNumber) : null;
  let region: string | null = null;
  if (place) {
    const suffix = /,\s*([A-Z]{2})$/.exec(place);
    region = suffix ? suffix[1]! : (REGION_CODES[place] ?? null);
  }
  regionByPrefix.set(prefix, region);
  return region;
}

/** The NANP area code (NPA) of a +1 number. */
export function areaCode(e164: string): string | null {
  return e164.startsWith("+1") && e164.length === 12 ? e164.slice(2, 5) : null;
}
