// SMS segment counting (GSM 03.38): a message that fits the GSM-7 alphabet is 160 characters in one
// segment, 153 per segment when split (the user-data header takes 7); characters of the extension
// table (^{}\[]~|€ and form feed) take two septets. Anything else forces UCS-2: 70 in one segment,
// 67 per segment when split, counted in UTF-16 code units. Split parts are filled whole characters
// at a time (partsFilled).

const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION = "^{}\\[~]|€\f";

const basic = new Set(GSM_BASIC);
const extension = new Set(GSM_EXTENSION);

export type SmsEncoding = "GSM-7" | "UCS-2";

export interface SegmentCount {
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  segments: number;
}

export function countSegments(text: string): SegmentCount {
  let septets = 0;
  for (const ch of text) {
    if (basic.has(ch)) septets += 1;
    else if (extension.has(ch)) septets += 2;
    else return ucs2Segments(text);
  }
  const segments = septets <= 160 ? 1 : partsFilled(text, 153, (ch) => (basic.has(ch) ? 1 : 2));
  return { encoding: "GSM-7", units: septets, segments };
}

function ucs2Segments(text: string): SegmentCount {
  const units = text.length;
  return { encoding: "UCS-2", units, segments: units <= 70 ? 1 : partsFilled(text, 67, (ch) => ch.length) };
}

/**
 * The parts of a split message, each filled as far as it goes. An extension character's escape and
 * its character (GSM-7), or a surrogate pair (UCS-2), never straddle two parts: the phone could not
 * put them back together, so senders (and the provider that bills the parts) start a new part
 * instead, and a part may hold one unit less than its capacity.
 */
function partsFilled(text: string, capacity: number, unitsOf: (ch: string) => number): number {
  let parts = 1;
  let used = 0;
  for (const ch of text) {
    const units = unitsOf(ch);
    if (used + units > capacity) {
      parts += 1;
      used = 0;
    }
    used += units;
  }
  return parts;
}
