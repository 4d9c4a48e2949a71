/**
 * Refuse a key that is no option, as TypeScript does for an object literal: from plain JavaScript a typo such
 * as `timeOut: 5` would otherwise be dropped without a word, and the default used.
 *
 * @param keys The keys given (`Object.keys(options)`).
 * @param known Every key the options may have.
 * @param prefix Put before a key in the message: `limits.` for a nested object.
 * @throws TypeError naming the first unknown key and the nearest known one, or all of them when none is near.
 */
export function validateKnownKeys(keys: readonly string[], known: readonly string[], prefix = ''): void {
  for (const key of keys) {
    if (known.includes(key)) continue;
    const nearest = findNearestName(key, known);
    const hint =
      nearest === undefined
        ? `the options are ${known.map((name) => prefix + name).join(', ')}`
        : `did you mean "${prefix}${nearest}"?`;
    throw new TypeError(`Unknown option "${prefix}${key}": ${hint}`);
  }
}

/**
 * The candidate a misspelt name most likely meant, by the rule TypeScript uses for its "did you mean"
 * (a case-insensitive match first; otherwise the fewest edits, fewer than 0.4 per character plus one).
 */
export function findNearestName(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.floor(name.length * 0.4) + 1;
  for (const candidate of candidates) {
    const distance = countEdits(lower, candidate.toLowerCase());
    if (distance === 0) return candidate;
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Edits to turn `a` into `b`: insertions, deletions, substitutions, and swaps of two neighbours (the optimal
 * string alignment distance), since `prot` for `port` is one slip of the fingers, not two.
 */
function countEdits(a: string, b: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let edits = Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        edits = Math.min(edits, (beforePrevious[j - 2] as number) + 1);
      current[j] = edits;
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] as number;
}
