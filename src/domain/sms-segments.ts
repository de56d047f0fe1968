// SMS segment counting as Telnyx, the provider that encodes the parts and bills them, counts them
// (developers.telnyx.com, "Message encoding"): a message of its GSM-7 character set is 160 septets in
// one segment, 153 per segment when split (the user-data header takes 7); ^{}\[]~| take two septets
// (the escape and the character). Anything else forces UCS-2: 70 in one segment, 67 per segment when
// split, counted in UTF-16 code units. Split parts are filled whole characters at a time
// (partsFilled).
//
// Telnyx's set is GSM 03.38's default alphabet less the characters some carriers mishandle: the
// Greek capitals (ΔΦΓΛΩΠΨΣΘΞ), Ç, ¤, §, and of the extension table € and form feed. A message with
// any of them goes out, and is billed, as UCS-2: counted as GSM-7, a 150-character message with a €
// would be billed one segment while Telnyx sends three. Nothing is transliterated here (nor by Telnyx while the messaging profile's smart
// encoding is off, its default): a curly quote or an em dash makes the message UCS-2.

const GSM_BASIC =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\r !\"#$%&'()*+,-./:;<=>?@_£¥èéùìòØøÅåÆæßÉ¡ÄÖÑÜ¿äöñüà";
const GSM_EXTENSION = "^{}\\[~]|";

/**
 * The most segments an SMS may take. Most carriers refuse a concatenated SMS of more, and Telnyx
 * refuses it (40302 "Message too large") unless the messaging profile splits it into several
 * messages (auto_chunk_long_messages, off by default): 1,530 GSM-7 characters, 670 UCS-2 units.
 */
export const MAX_SMS_SEGMENTS = 10;

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
