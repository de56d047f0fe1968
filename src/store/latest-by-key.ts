/**
 * The latest item per key, by `atOf` (of equal times, the one later in `items`). Batched "last
 * touched" updates write one row per key, and must write what one-by-one updates would have left.
 */
export function latestByKey<T>(
  items: Iterable<T>,
  keyOf: (item: T) => string,
  atOf: (item: T) => number,
): T[] {
  const latest = new Map<string, T>();
  for (const item of items) {
    const key = keyOf(item);
    const current = latest.get(key);
    if (current === undefined || atOf(current) <= atOf(item)) latest.set(key, item);
  }
  return [...latest.values()];
}
