import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js";

/** Normalizes a human-entered phone number to E.164, or returns null when it is not a valid number. */
export function toE164(input: string, defaultRegion: CountryCode = "US"): string | null {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 40) return null;
  const parsed = parsePhoneNumberFromString(trimmed, defaultRegion);
  if (!parsed?.isValid()) return null;
  return parsed.number;
}

// Deliberately modest: a single @, no spaces, a dot in the domain. Full RFC 5322 is not useful for leads.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isValidEmail(input: string): boolean {
  return input.length <= 254 && EMAIL.test(input);
}
