import v8 from "node:v8";

/**
 * How much V8's old generation may grow between full collections, as a percentage of what the last
 * one left alive (LEADTRAIL_HEAP_GROWTH_PERCENT; 0 = V8's own policy).
 *
 * On a machine whose heap limit is 2 GB or more, V8 lets the old generation grow to up to 4× its
 * live size before the next mark-compact. The server keeps about 25 MB alive, but every request
 * promotes a little short-lived data (rows and records still in flight when a scavenge runs), so
 * under list load the heap reached ~120 MB and the process ~190 MB, almost all of it garbage.
 * Doubling at most keeps it near 80 MB (RSS ~140 MB) for a few more incremental mark-compacts,
 * which with a live set this small take milliseconds. (50% saved another ~10 MB for twice the
 * mark-compacts, and once, in a GET run, fell into 159 of them in a minute; 100% never did.)
 *
 * The flag is read by V8 at every full collection, so setting it at start-up takes effect.
 */
export function applyHeapGrowthPolicy(percent: number): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
