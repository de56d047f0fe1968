import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js";

/** Normalizes a human-entered phone number to E.164, or returns null when it is not a valid number. */
export function toE164(input: string, defaultRegion: CountryCode = "US"): string | null {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 40) return null;
  const parsed = parsePhoneNumberFromString(trimmed, defaultRegion);
  if (!parsed?.isValid()) return null;
  return parsed.number;
}

/**
 * A sender that is no phone number a lead could have but still writes to us: a short code (3–8
 * digits) or an alphanumeric sender id (up to 11 letters, digits or spaces, with a letter). Its
 * messages, a STOP above all, must be recorded rather than refused.
 */
export function senderId(input: string): string | null {
  const trimmed = input.trim();
  if (/^\d{3,8}$/.test(trimmed)) return trimmed;
  if (/^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/.test(trimmed)) return trimmed;
  return null;
}

// Deliberately modest: a single @, no spaces, a dot in the domain. Full RFC 5322 is not useful for leads.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isValidEmail(input: string): boolean {
  return input.length <= 254 && EMAIL.test(input);
}
