// Telnyx's error codes that say the recipient opted out, so no message will reach them from us.
//
// 40300 "Blocked due to STOP message" (HTTP 409 to POST /v2/messages): the recipient texted STOP
// (or END, QUIT, UNSUBSCRIBE…) to one of our numbers, and Telnyx holds a block rule for them,
// profile-wide, until they text START. It is the only such code: 40003 "Blocked as spam -
// permanent" blocks the sending number, not the recipient's consent, and 40001 "Not routable" is a
// landline. Any of an answer's or a webhook's errors may carry it.

const OPT_OUT_CODES: ReadonlySet<string> = new Set(["40300"]);

/** Whether any of `errors` (as they came off the wire: anything but an array says nothing) is one. */
export function isTelnyxOptOut(errors: unknown): boolean {
  return (
    Array.isArray(errors) &&
    errors.some((e: unknown) => {
      const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
      return (typeof code === "string" || typeof code === "number") && OPT_OUT_CODES.has(String(code));
    })
  );
}
