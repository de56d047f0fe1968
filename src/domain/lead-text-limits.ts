import { exceedsCharacters } from "./plain-text.js";

// The subset gives a lead's free text no maximum length; these are far above anything a lead vendor
// sends (README, "A lead's text has limits"), so that one lead cannot store a 900 kB city. The typed
// fields have their own, smaller limits in LeadRequest's schema (http/schemas/lead.ts).

/** The longest string a lead holds: a URL's length, and any unknown property's value's. */
export const MAX_LEAD_TEXT_LENGTH = 2048;

/** The longest property name a lead's unknown or sourceMetadata properties may have. */
export const MAX_PROPERTY_NAME_LENGTH = 200;

/** A value too long for a lead: `field` names it as a problem's `errors` do (`customer.notes[2]`). */
export interface TextLimitBreach {
  field: string;
  message: string;
}

/**
 * The first string or property name under `value` (a lead's metadata, contact or customer, unknown
 * properties at any depth included) that is longer than the limits above, counted in code points as
 * JSON Schema's maxLength counts them; undefined when there is none.
 */
export function findOverlongText(value: unknown, field: string): TextLimitBreach | undefined {
  if (typeof value === "string") {
    return exceedsCharacters(value, MAX_LEAD_TEXT_LENGTH)
      ? { field, message: `${field} must be at most ${MAX_LEAD_TEXT_LENGTH} characters.` }
      : undefined;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const breach = findOverlongText(item, `${field}[${i}]`);
      if (breach) return breach;
    }
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (exceedsCharacters(key, MAX_PROPERTY_NAME_LENGTH)) {
      return {
        field,
        message: `${field} has a property name longer than ${MAX_PROPERTY_NAME_LENGTH} characters ('${key.slice(0, 40)}…').`,
      };
    }
    const breach = findOverlongText(item, `${field}.${key}`);
    if (breach) return breach;
  }
  return undefined;
}
