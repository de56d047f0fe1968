import { toE164 } from "../domain/phone.js";
import { hasControlCharacters } from "../domain/plain-text.js";
import { badRequest } from "../domain/problem.js";

// Checks of single request fields shared by route plugins, each a 400 naming the field.

/** Control characters (NUL above all: PostgreSQL cannot store it) are a 400 on both engines. */
export function assertPlainText(value: string, field: string): void {
  if (hasControlCharacters(value)) {
    throw badRequest(`${field} must not contain control characters.`, field);
  }
}

/** A phone number as E.164 ("(415) 555-0142" → "+14155550142"), or a 400 naming the field. */
export function requirePhoneNumber(value: string, field: string): string {
  assertPlainText(value, field);
  const e164 = toE164(value);
  if (!e164) {
    throw badRequest(
      `${field} must be a valid phone number, preferably in E.164 form such as +14155550142.`,
      field,
    );
  }
  return e164;
}
