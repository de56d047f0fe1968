import { VARIABLE_NAMES, type VariableName } from "./environment.js";

// A LEADTRAIL_… variable leadtrail does not read is most likely a misspelled setting, which would
// otherwise be ignored without a word (the default in its place).

/**
 * Variables read by tooling around leadtrail, not by leadtrail: the test suite's
 * (LEADTRAIL_TEST_…, LEADTRAIL_PROPERTY_…, LEADTRAIL_SOAK_…) and the benchmarks' (BENCH_…, outside the prefix anyway).
 */
const NOT_SETTINGS = /^LEADTRAIL_(TEST|PROPERTY|SOAK)_/;

/**
 * A warning for each LEADTRAIL_… variable leadtrail does not know, naming the closest known one. A
 * warning, not a refusal: another version of leadtrail may know it.
 */
export function unknownVariableWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = new Set<string>(VARIABLE_NAMES);
  return Object.keys(env)
    .filter((name) => name.toUpperCase().startsWith("LEADTRAIL_") && !known.has(name))
    .filter((name) => !NOT_SETTINGS.test(name))
    .sort()
    .map(
      (name) =>
        `warning: ${name} is not a setting of this leadtrail and is ignored; did you mean ${closestName(name)}?`,
    );
}

/** Without the prefix too: LEADTRAIL_DATABASE_URL, LEADTRAIL_PORT mean DATABASE_URL and PORT. */
function closestName(name: string): VariableName {
  const spelled = name.toUpperCase();
  const unprefixed = spelled.slice("LEADTRAIL_".length);
  let best: VariableName = VARIABLE_NAMES[0]!;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of VARIABLE_NAMES) {
    const distance = Math.min(editDistance(spelled, candidate), editDistance(unprefixed, candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance (insertions, deletions and substitutions of one character each). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}
