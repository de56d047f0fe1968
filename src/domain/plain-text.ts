/**
 * Whether `value` holds a control character (U+0000–U+001F, U+007F): NUL above all, which PostgreSQL
 * cannot store, and line breaks or tabs where one line of text is meant.
 */
export function hasControlCharacters(value: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return /[\u0000-\u001f\u007f]/.test(value);
}
