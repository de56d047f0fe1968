/**
 * Whether `value` holds a control character (U+0000–U+001F, U+007F): NUL above all, which PostgreSQL
 * cannot store, and line breaks or tabs where one line of text is meant.
 */
export function hasControlCharacters(value: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return /[\u0000-\u001f\u007f]/.test(value);
}

/**
 * How many characters `value` has, counted as code points, as JSON Schema's maxLength (and so every
 * schema limit of the API) counts them: an emoji is one character, not two UTF-16 units.
 */
export function characterCount(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/** Whether `value` has more than `max` characters (code points; see characterCount). */
export function exceedsCharacters(value: string, max: number): boolean {
  // A code point is one or two UTF-16 units: within `max` units, it is within `max` characters.
  return value.length > max && characterCount(value) > max;
}

/** "1 segment", "2 segments": a count with its unit, plural when it is not one. */
export function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
