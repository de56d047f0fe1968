import { exceedsCharacters } from "./plain-text.js";
import { MAX_SELLER_LEAD_ID_LENGTH } from "./sources.js";

// The subset gives a lead's free text no maximum length; these are far above anything a lead vendor
// sends (README, "A lead's text has limits"), so that one lead cannot store a 900 kB city. They are
// checked here rather than by LeadRequest's schema (which documents them, http/schemas/lead.ts): a
// value the lead already holds, stored before a limit existed, passes when an update sends it back
// unchanged, so a client that reads a lead and writes it back with one change is not refused.

/** The longest string a lead holds: a URL's length, and any unknown property's value's. */
export const MAX_LEAD_TEXT_LENGTH = 2048;

/** The longest property name a lead's unknown or sourceMetadata properties may have. */
export const MAX_PROPERTY_NAME_LENGTH = 200;

/** The text limits of a part of a lead (an object). */
export interface TextLimits {
  /** Named properties' limits: a string's longest length, or the limits of the object there. */
  readonly fields?: Readonly<Record<string, number | TextLimits>>;
  /** The longest any other string under it may be, at any depth (MAX_LEAD_TEXT_LENGTH unless said). */
  readonly other?: number;
  /** How many properties it may have at most. */
  readonly maxEntries?: number;
}

const each = (limit: number, names: readonly string[]): Record<string, number> =>
  Object.fromEntries(names.map((name) => [name, limit]));

export const METADATA_TEXT_LIMITS = {
  fields: {
    ...each(500, ["utmSource", "utmMedium", "utmCampaign", "utmTerm", "utmContent"]),
    ...each(200, [
      "subId",
      "pubId",
      "ipAddress",
      "externalId",
      "product",
      "vertical",
      "complianceStatus",
      "origin",
      "importBatchId",
      "assignedPhoneNumberId",
      "smsConsentStatus",
      "smsConsentPhoneNumber",
      "userId",
      "organizationId",
    ]),
    ...each(1000, ["userAgent", "complianceBlockedReason"]),
    // URLs, as long as contact.avatarUrl's.
    ...each(MAX_LEAD_TEXT_LENGTH, ["referrer", "landingPage", "trustedFormUrl"]),
    // On every path, not only a source's deliveries (where it is the lead's repeat key).
    sellerLeadId: MAX_SELLER_LEAD_ID_LENGTH,
    sourceMetadata: { maxEntries: 200, other: 1000 },
  },
} as const satisfies TextLimits;

export const STREET_ADDRESS_TEXT_LIMITS = {
  fields: {
    ...each(200, ["line1", "line2", "city", "state", "province", "region", "postalCode", "country"]),
    additionalInfo: 1000,
  },
} as const satisfies TextLimits;

/** contact.phone's; its number is at most 40 by LeadRequest's schema, and is stored in E.164. */
export const PHONE_TEXT_LIMITS = {
  fields: { type: 50, phoneIdentityId: 200 },
} as const satisfies TextLimits;

/**
 * contact's. Its email (254, and checked as an email) and timeZoneId (64, and checked as a zone) are
 * limited by LeadRequest's schema: a stored one cannot be longer.
 */
export const CONTACT_TEXT_LIMITS = {
  fields: {
    firstName: 200,
    lastName: 200,
    avatarUrl: MAX_LEAD_TEXT_LENGTH,
    phone: PHONE_TEXT_LIMITS,
    streetAddress: STREET_ADDRESS_TEXT_LIMITS,
  },
} as const satisfies TextLimits;

/** Each part of a lead's text, by its name in LeadRequest. */
export const LEAD_TEXT_LIMITS: Readonly<Record<"metadata" | "contact" | "customer", TextLimits>> = {
  metadata: METADATA_TEXT_LIMITS,
  contact: CONTACT_TEXT_LIMITS,
  customer: {},
};

/** A value too long for a lead: `field` names it as a problem's `errors` do (`customer.notes[2]`). */
export interface TextLimitBreach {
  field: string;
  message: string;
}

/** `stored`'s own property `key`, when it is an object (or array) that has one. */
function storedAt(stored: unknown, key: string | number): unknown {
  return stored !== null && typeof stored === "object" && Object.hasOwn(stored, key)
    ? (stored as Record<string | number, unknown>)[key]
    : undefined;
}

/**
 * The first string or property name under `value` (a lead's metadata, contact or customer, unknown
 * properties at any depth included) that is longer than `limits` allow, counted in code points as
 * JSON Schema's maxLength counts them; undefined when there is none. `stored`: the same part of the
 * lead before an update; a string equal to the one stored at the same place, a property name it has
 * there, or more properties than allowed but none it lacks, pass (a lead stored before a limit).
 */
export function findOverlongText(
  value: unknown,
  field: string,
  limits: number | TextLimits = {},
  stored?: unknown,
): TextLimitBreach | undefined {
  const own: TextLimits = typeof limits === "number" ? { other: limits } : limits;
  if (typeof value === "string") {
    const max = typeof limits === "number" ? limits : (limits.other ?? MAX_LEAD_TEXT_LENGTH);
    return exceedsCharacters(value, max) && value !== stored
      ? { field, message: `${field} must be at most ${max} characters.` }
      : undefined;
  }
  // What is under a property or item that has no limit of its own: the parent's `other`.
  const inherited: TextLimits = own.other === undefined ? {} : { other: own.other };
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const breach = findOverlongText(item, `${field}[${i}]`, inherited, storedAt(stored, i));
      if (breach) return breach;
    }
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  const keys = Object.keys(value);
  if (own.maxEntries !== undefined && keys.length > own.maxEntries) {
    if (keys.some((key) => storedAt(stored, key) === undefined)) {
      return { field, message: `${field} must have at most ${own.maxEntries} properties.` };
    }
  }
  for (const [key, item] of Object.entries(value)) {
    if (exceedsCharacters(key, MAX_PROPERTY_NAME_LENGTH) && storedAt(stored, key) === undefined) {
      return {
        field,
        message: `${field} has a property name longer than ${MAX_PROPERTY_NAME_LENGTH} characters ('${key.slice(0, 40)}…').`,
      };
    }
    const named = own.fields && Object.hasOwn(own.fields, key) ? own.fields[key] : undefined;
    const breach = findOverlongText(item, `${field}.${key}`, named ?? inherited, storedAt(stored, key));
    if (breach) return breach;
  }
  return undefined;
}
