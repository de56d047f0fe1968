import { type CountryCode, isSupportedCountry } from "libphonenumber-js";
import { findOverlongText, LEAD_TEXT_LIMITS } from "./lead-text-limits.js";
import { microsToUsd, usdToMicros } from "./money.js";
import { isValidEmail, senderId, toE164 } from "./phone.js";
import { isCountrylessCanadianAddress } from "./region-zones.js";
import { normalizeTagName, type TagRef, tagIdForName, tagIdSet } from "./tags.js";
import { parseRfc3339, toIso } from "./time.js";
import { isUsCountry, isUsZipCode, usStateCode } from "./us-address.js";
import { ianaTimeZone } from "./windows-zones.js";

// A lead as the API stores it: the LeadRequest document with its phone normalized to E.164.
// Only the parts the system reads are typed; everything else a client sends is kept as sent.

export interface LeadPhone {
  number: string;
  type?: string | null;
  phoneIdentityId?: string | null;
  [key: string]: unknown;
}

export interface LeadContact {
  firstName?: string | null;
  lastName?: string | null;
  email?: string | null;
  phone?: LeadPhone | null;
  timeZoneId?: string | null;
  streetAddress?: { country?: string | null; [key: string]: unknown } | null;
  [key: string]: unknown;
}

export interface LeadDocument {
  metadata: Record<string, unknown>;
  contact: LeadContact;
  customer: Record<string, unknown>;
  enabled: boolean;
  tagIds: string[];
  tagNames: string[];
  /** The tags tagNames and tagIds resolved to when the lead was written (tags-repo.ts resolveTags). */
  tags?: TagRef[];
  /** The source that delivered the lead with its key (the server's record; kept by updates). */
  intakeSourceId?: string;
}

/** LeadMetadata's date-time fields: every `format: date-time` property of LeadRequest in the subset. */
export const LEAD_DATE_TIME_FIELDS = [
  "createdAt",
  "smsOptOutAt",
  "smsOptInAt",
  "smsHelpRequestedAt",
  "trustedFormCheckedAt",
] as const;

/** An RFC 3339 instant in the form the contract answers (UTC, Z, milliseconds); null when it is none. */
function utcForm(value: string): string | null {
  return toIso(parseRfc3339(value));
}

/**
 * A lead document with its date-times in UTC form (migration 0012 rewrites the leads written before
 * these were normalized, which kept the client's offset). A value that is no instant is left as is.
 */
export function withUtcDateTimes(doc: LeadDocument): LeadDocument {
  for (const field of LEAD_DATE_TIME_FIELDS) {
    const value = doc.metadata?.[field];
    const utc = typeof value === "string" ? utcForm(value) : null;
    if (utc !== null) doc.metadata[field] = utc;
  }
  return doc;
}

export class LeadValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface LeadRequestBody {
  metadata?: Record<string, unknown> | null;
  contact?: LeadContact | null;
  customer?: Record<string, unknown> | null;
  enabled?: boolean | null;
  tagIds?: string[] | null;
  tagNames?: string[] | null;
  /** The lead's own id, as a client that sends back what it read includes it (PUT only). */
  id?: string | null;
}

/** The region a national number is read in: the address's country when libphonenumber knows it, else US. */
function regionOf(contact: LeadContact): CountryCode {
  const country = contact.streetAddress?.country;
  const code = typeof country === "string" ? country.trim().toUpperCase() : "";
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code) ? code : "US";
}

function isUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/**
 * A US address (its country the US, or not given) must name a US state and ZIP code, as a national
 * phone number is read as a US one; another country's address is kept as sent, and so is one that
 * names no country but a Canadian province (ON, Ontario). Both are kept as
 * sent (a state's name or code, in any case); an empty one is a form's empty field. `stored`: the
 * lead's address before an update, whose state or ZIP sent back unchanged passes (a lead stored
 * before these were checked can still be updated).
 */
export function checkUsAddress(
  address: LeadContact["streetAddress"],
  stored?: LeadContact["streetAddress"],
): void {
  if (!address || !isUsCountry(address.country) || isCountrylessCanadianAddress(address)) return;
  const { state, postalCode } = address;
  const unchanged = (value: unknown, before: unknown) => stored !== undefined && value === before;
  if (
    typeof state === "string" &&
    state.trim() !== "" &&
    usStateCode(state) === null &&
    !unchanged(state, stored?.state)
  ) {
    throw new LeadValidationError(
      "contact.streetAddress.state",
      `contact.streetAddress.state '${state.slice(0, 40)}' is not a US state: give its two-letter code (CA) or its name, or the address's country.`,
    );
  }
  if (
    typeof postalCode === "string" &&
    postalCode.trim() !== "" &&
    !isUsZipCode(postalCode) &&
    !unchanged(postalCode, stored?.postalCode)
  ) {
    throw new LeadValidationError(
      "contact.streetAddress.postalCode",
      `contact.streetAddress.postalCode '${postalCode.slice(0, 40)}' is not a US ZIP code (94105 or 94105-1234): for another country's postal code, give the address's country.`,
    );
  }
}

/**
 * A lead's text within its limits (lead-text-limits.ts), else a LeadValidationError naming the field.
 * `stored`: the lead before an update, whose text sent back unchanged passes (a lead stored before a
 * limit existed can still be updated).
 */
export function checkLeadText(body: LeadRequestBody, stored?: LeadDocument): void {
  for (const part of ["metadata", "contact", "customer"] as const) {
    const breach = findOverlongText(body[part], part, LEAD_TEXT_LIMITS[part], stored?.[part]);
    if (breach) throw new LeadValidationError(breach.field, breach.message);
  }
}

/**
 * Validates and normalizes a LeadRequest; throws LeadValidationError naming the first bad field.
 * `acceptSenderIds`: a short code or alphanumeric sender id stands as the phone (leads made by an
 * inbound message from one); an API client's lead needs a real number.
 */
export function normalizeLeadRequest(
  body: LeadRequestBody,
  /**
   * `checkAddress: false`, `checkText: false`: the caller checks the address (checkUsAddress) or the
   * text (checkLeadText) against the stored lead.
   */
  options: { acceptSenderIds?: boolean; checkAddress?: boolean; checkText?: boolean } = {},
): LeadDocument {
  if (options.checkText !== false) checkLeadText(body);
  const contact: LeadContact = { ...(body.contact ?? {}) };
  if (contact.phone?.number !== undefined && contact.phone?.number !== null) {
    const raw = String(contact.phone.number);
    const e164 = toE164(raw, regionOf(contact)) ?? (options.acceptSenderIds ? senderId(raw) : null);
    if (!e164) {
      throw new LeadValidationError(
        "contact.phone.number",
        `contact.phone.number '${String(contact.phone.number).slice(0, 40)}' is not a valid phone number.`,
      );
    }
    contact.phone = { ...contact.phone, number: e164 };
  }
  if (typeof contact.email === "string") {
    const email = contact.email.trim();
    if (email === "") contact.email = null;
    else if (!isValidEmail(email))
      throw new LeadValidationError(
        "contact.email",
        `contact.email '${email.slice(0, 80)}' is not a valid email address.`,
      );
    else contact.email = email.toLowerCase();
  }
  // An empty avatarUrl (a form's empty field) is "no picture", which the wire writes as null.
  if (contact.avatarUrl === "") contact.avatarUrl = null;
  // An empty one is "not known" too: null, so that re-sending "" for none is no change.
  if (typeof contact.timeZoneId === "string" && contact.timeZoneId.trim() === "") contact.timeZoneId = null;
  // Kept as sent; a Windows id is read as its IANA zone where the zone is used (recipientZones).
  if (typeof contact.timeZoneId === "string" && !ianaTimeZone(contact.timeZoneId)) {
    throw new LeadValidationError(
      "contact.timeZoneId",
      `contact.timeZoneId '${contact.timeZoneId.slice(0, 60)}' is not an IANA or Windows time zone.`,
    );
  }
  if (options.checkAddress !== false) checkUsAddress(contact.streetAddress);
  const metadata = { ...(body.metadata ?? {}) };
  // The response fills these from the lead's row (its organization and creator); a client that sends
  // a lead back as it received it must not change them, nor store another organization's id.
  delete metadata.organizationId;
  delete metadata.userId;
  for (const field of ["price", "directPostPrice"] as const) {
    const value = metadata[field];
    if (value === undefined || value === null) continue;
    // Stored as integer micro-dollars: a price is a finite amount from 0 to one billion USD.
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 1e9) {
      throw new LeadValidationError(
        `metadata.${field}`,
        `metadata.${field} must be a number from 0 to 1000000000 (USD).`,
      );
    }
    // Kept to the micro-dollar, as stored (leads.price_micros): the lead and its list row then show
    // the same price (0.30000000000000004 is 0.3).
    metadata[field] = microsToUsd(usdToMicros(value));
  }
  // Stored and answered in UTC with Z (CONTRACT.md), so the same instant in another spelling is no
  // change. The schema's date-time check lets through what JavaScript cannot hold (a leap second) and
  // offsets RFC 3339 does not write (+0500).
  for (const field of LEAD_DATE_TIME_FIELDS) {
    const value = metadata[field];
    if (typeof value !== "string") continue;
    const utc = utcForm(value);
    if (utc === null) {
      throw new LeadValidationError(
        `metadata.${field}`,
        `metadata.${field} must be an RFC 3339 date-time such as 2026-03-01T14:00:00Z.`,
      );
    }
    metadata[field] = utc;
  }
  const trustedFormUrl = metadata.trustedFormUrl;
  if (typeof trustedFormUrl === "string" && trustedFormUrl !== "" && !isUrl(trustedFormUrl)) {
    throw new LeadValidationError(
      "metadata.trustedFormUrl",
      "metadata.trustedFormUrl must be an http(s) URL.",
    );
  }
  for (const [field, values] of [
    ["tagNames", body.tagNames],
    ["tagIds", body.tagIds],
  ] as const) {
    (values ?? []).forEach((value, i) => {
      if (normalizeTagName(value) === "") {
        throw new LeadValidationError(`${field}[${i}]`, `${field}[${i}] must not be empty.`);
      }
    });
  }
  return {
    metadata,
    contact,
    customer: { ...(body.customer ?? {}) },
    enabled: body.enabled ?? true,
    tagIds: [...(body.tagIds ?? [])],
    tagNames: [...(body.tagNames ?? [])],
  };
}

/** Leaf values by path (as a JSON array of keys: a key may itself contain a dot). */
function flatten(value: unknown, path: string[], out: Map<string, string>): void {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, [...path, k], out);
  } else if (value !== undefined && value !== null) {
    out.set(JSON.stringify(path), JSON.stringify(value));
  }
}

/**
 * Dotted paths of every field whose value differs (null and absent count as the same). Tags count as
 * one field, "tags", compared as the set they resolve to: naming a tag by id instead of by name, or
 * in another order, changes nothing.
 */
export function changedLeadFields(before: LeadDocument, after: LeadDocument): string[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  const { tagIds: _ai, tagNames: _an, tags: tagsBefore, ...restBefore } = before;
  const { tagIds: _bi, tagNames: _bn, tags: tagsAfter, ...restAfter } = after;
  flatten(restBefore, [], a);
  flatten(restAfter, [], b);
  const paths = new Set([...a.keys(), ...b.keys()]);
  const changed = new Set(
    [...paths].filter((p) => a.get(p) !== b.get(p)).map((p) => (JSON.parse(p) as string[]).join(".")),
  );
  if (tagIdSet(leadTags(before)) !== tagIdSet(tagsAfter ?? leadTags(after))) changed.add("tags");
  return [...changed].sort();
}

/**
 * A lead's tags. Documents written before tags were resolved (no `tags`) show their tag names, with
 * ids derived from them, as they always did.
 */
export function leadTags(doc: LeadDocument): TagRef[] {
  return doc.tags ?? doc.tagNames.map((name) => ({ id: tagIdForName(normalizeTagName(name)), name }));
}

export function leadDisplayName(doc: LeadDocument): string {
  const name = [doc.contact.firstName, doc.contact.lastName]
    .filter((p) => typeof p === "string" && p.trim())
    .join(" ");
  return name || doc.contact.phone?.number || doc.contact.email || "Unnamed lead";
}
