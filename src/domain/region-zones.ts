// US states (and territories) and Canadian provinces: their two-letter codes, and the time zones each
// spans, for reading a lead's postal address as a place the person may be (quiet hours). Zones are
// named as libphonenumber's number data names them, so a number and an address can be compared.

import { US_STATE_CODES, US_TERRITORY_CODES } from "./us-address.js";

/** Two-letter codes by English name, as libphonenumber's geocoding and lead vendors write them. */
export const REGION_CODES: Readonly<Record<string, string>> = {
  ...US_STATE_CODES,
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

const NY = "America/New_York";
const CHICAGO = "America/Chicago";
const DENVER = "America/Denver";
const LOS_ANGELES = "America/Los_Angeles";

/**
 * Every zone in use somewhere in each region: a state split between zones lists both (El Paso is on
 * Mountain time, the Florida panhandle on Central, Arizona's Navajo Nation keeps summer time).
 */
const ZONES_BY_REGION: Readonly<Record<string, readonly string[]>> = {
  AL: [CHICAGO],
  AK: ["America/Anchorage", "America/Adak"],
  AZ: ["America/Phoenix", DENVER],
  AR: [CHICAGO],
  CA: [LOS_ANGELES],
  CO: [DENVER],
  CT: [NY],
  DE: [NY],
  DC: [NY],
  FL: [NY, CHICAGO],
  GA: [NY],
  HI: ["Pacific/Honolulu"],
  ID: [DENVER, LOS_ANGELES],
  IL: [CHICAGO],
  IN: [NY, CHICAGO],
  IA: [CHICAGO],
  KS: [CHICAGO, DENVER],
  KY: [NY, CHICAGO],
  LA: [CHICAGO],
  ME: [NY],
  MD: [NY],
  MA: [NY],
  MI: [NY, CHICAGO],
  MN: [CHICAGO],
  MS: [CHICAGO],
  MO: [CHICAGO],
  MT: [DENVER],
  NE: [CHICAGO, DENVER],
  NV: [LOS_ANGELES],
  NH: [NY],
  NJ: [NY],
  NM: [DENVER],
  NY: [NY],
  NC: [NY],
  ND: [CHICAGO, DENVER],
  OH: [NY],
  OK: [CHICAGO],
  OR: [LOS_ANGELES, DENVER],
  PA: [NY],
  RI: [NY],
  SC: [NY],
  SD: [CHICAGO, DENVER],
  TN: [CHICAGO, NY],
  TX: [CHICAGO, DENVER],
  UT: [DENVER],
  VT: [NY],
  VA: [NY],
  WA: [LOS_ANGELES],
  WV: [NY],
  WI: [CHICAGO],
  WY: [DENVER],
  PR: ["America/Puerto_Rico"],
  VI: ["America/St_Thomas"],
  GU: ["Pacific/Guam"],
  MP: ["Pacific/Saipan"],
  AS: ["Pacific/Pago_Pago"],
  AB: ["America/Edmonton"],
  BC: ["America/Vancouver", "America/Edmonton"],
  MB: ["America/Winnipeg"],
  NB: ["America/Halifax"],
  NL: ["America/St_Johns", "America/Halifax"],
  NS: ["America/Halifax"],
  ON: ["America/Toronto", "America/Winnipeg"],
  PE: ["America/Halifax"],
  QC: ["America/Toronto", "America/Halifax"],
  SK: ["America/Regina", "America/Edmonton"],
  NT: ["America/Edmonton"],
  NU: ["America/Toronto", "America/Winnipeg", "America/Edmonton"],
  YT: ["America/Whitehorse"],
};

const CODE_BY_LOWER_CASE_NAME = new Map(
  Object.entries({ ...REGION_CODES, ...US_TERRITORY_CODES }).map(([name, code]) => [
    name.toLowerCase(),
    code,
  ]),
);

/** Countries whose addresses name a region of this table: none written (most US leads), the US, Canada. */
const COUNTRIES_OF_THE_TABLE = new Set(["", "US", "USA", "UNITED STATES", "CA", "CAN", "CANADA"]);

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

/**
 * The US state, territory or Canadian province a lead's postal address names (its `state`, else
 * `province`, else `region`: a two-letter code or the English name, any case), or null. An address
 * in another country is not read: "WA" is Western Australia there, not Washington.
 */
export function addressRegion(address: Readonly<Record<string, unknown>> | null | undefined): string | null {
  if (!address || !COUNTRIES_OF_THE_TABLE.has(text(address.country).toUpperCase())) return null;
  const written = text(address.state) || text(address.province) || text(address.region);
  const code =
    written.length === 2 ? written.toUpperCase() : CODE_BY_LOWER_CASE_NAME.get(written.toLowerCase());
  return code !== undefined && ZONES_BY_REGION[code] !== undefined ? code : null;
}

const CANADIAN_REGIONS = new Set([
  "AB",
  "BC",
  "MB",
  "NB",
  "NL",
  "NS",
  "ON",
  "PE",
  "QC",
  "SK",
  "NT",
  "NU",
  "YT",
]);

/**
 * Whether an address that names no country names a Canadian province or territory (ON, Ontario):
 * a lead vendor may leave Canada out as it leaves the US out, and such an address is no US one.
 */
export function isCountrylessCanadianAddress(address: Readonly<Record<string, unknown>>): boolean {
  if (text(address.country) !== "") return false;
  const region = addressRegion(address);
  return region !== null && CANADIAN_REGIONS.has(region);
}

/** The zones a region spans (addressRegion's code), or null for none this table knows. */
export function zonesOfRegion(code: string): readonly string[] | null {
  return ZONES_BY_REGION[code] ?? null;
}
