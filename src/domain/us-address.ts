// What a US address's state and ZIP code may be: a lead's contact.streetAddress is checked against
// these when it is a US address, and a source's allowedStates reads a state through usStateCode.

/** The 50 states and the District of Columbia, by name (USPS codes). */
export const US_STATE_CODES: Readonly<Record<string, string>> = {
  Alabama: "AL",
  Alaska: "AK",
  Arizona: "AZ",
  Arkansas: "AR",
  California: "CA",
  Colorado: "CO",
  Connecticut: "CT",
  Delaware: "DE",
  "District of Columbia": "DC",
  "Washington D.C.": "DC",
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
  "West Virginia": "WV",
  Wisconsin: "WI",
  Wyoming: "WY",
};

/** US territories, by name as an address may write them (libphonenumber gives each a country of its own). */
export const US_TERRITORY_CODES: Readonly<Record<string, string>> = {
  "Puerto Rico": "PR",
  "U.S. Virgin Islands": "VI",
  "US Virgin Islands": "VI",
  "Virgin Islands": "VI",
  Guam: "GU",
  "Northern Mariana Islands": "MP",
  "American Samoa": "AS",
};

/** The armed forces' codes, which a US postal address may also carry. */
const ARMED_FORCES_CODES: Readonly<Record<string, string>> = {
  "Armed Forces Americas": "AA",
  "Armed Forces Europe": "AE",
  "Armed Forces Pacific": "AP",
};

const CODE_BY_FOLDED_NAME = new Map(
  Object.entries({ ...US_STATE_CODES, ...US_TERRITORY_CODES, ...ARMED_FORCES_CODES }).flatMap(
    ([name, code]) => [
      [name.toLowerCase(), code],
      [code.toLowerCase(), code],
    ],
  ),
);

/** The USPS code of a state written as its code or its name, in any case ("ca", "California"); else null. */
export function usStateCode(value: string): string | null {
  return CODE_BY_FOLDED_NAME.get(value.trim().replace(/\s+/g, " ").toLowerCase()) ?? null;
}

const US_COUNTRY_NAMES = new Set([
  "us",
  "usa",
  "u.s.",
  "u.s.a.",
  "united states",
  "united states of america",
]);

/**
 * Whether an address is read as a US one: its country is the US, or not given (a lead's national
 * phone number is read in the US then too, domain/lead.ts regionOf).
 */
export function isUsCountry(country: unknown): boolean {
  if (country === undefined || country === null) return true;
  if (typeof country !== "string") return false;
  const folded = country.trim().toLowerCase();
  return folded === "" || US_COUNTRY_NAMES.has(folded);
}

/** A ZIP code (94105) or ZIP+4 (94105-1234). */
export function isUsZipCode(value: string): boolean {
  return /^\d{5}(-\d{4})?$/.test(value.trim());
}
