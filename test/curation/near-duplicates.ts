// Generates corpora with planted near-duplicates at known character-5-gram Jaccard similarities.
// Shared by the fuzzy-dedup tests and the dedup benchmark.
import { SeededRandom } from "../../ml/data/seeded-random.ts";
import { jaccard, shingleSet } from "../../ml/curation/minhash.ts";

export function randomWord(rng: SeededRandom): string {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  let w = "";
  const len = 3 + rng.nextInt(7);
  for (let i = 0; i < len; i++) w += letters[rng.nextInt(26)];
  return w;
}

export function randomDoc(rng: SeededRandom, words: number): string {
  return Array.from({ length: words }, () => randomWord(rng)).join(" ");
}

/**
 * A variant of `text` whose exact 5-gram Jaccard with it is close to `target`: words are replaced
 * one at a time (in a random order) until the similarity drops to the target.
 */
export function nearDuplicate(text: string, target: number, rng: SeededRandom): { text: string; jaccard: number } {
  const words = text.split(" ");
  const order = rng.shuffle(Array.from({ length: words.length }, (_, i) => i));
  const base = shingleSet(text, 5);
  let lo = 0;
  let hi = words.length;
  const variantWith = (k: number): string => {
    const w = words.slice();
    const r = new SeededRandom(k * 7919 + words.length);
    for (let i = 0; i < k; i++) w[order[i]!] = randomWord(r);
    return w.join(" ");
  };
  // Similarity falls (almost) monotonically with the number of replaced words: binary search.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (jaccard(base, shingleSet(variantWith(mid), 5)) > target) lo = mid + 1;
    else hi = mid;
  }
  const candidates = [Math.max(0, lo - 1), lo].map((k) => {
    const t = variantWith(k);
    return { text: t, jaccard: jaccard(base, shingleSet(t, 5)) };
  });
  candidates.sort((a, b) => Math.abs(a.jaccard - target) - Math.abs(b.jaccard - target));
  return candidates[0]!;
}

export interface PlantedPair {
  a: number;
  b: number;
  jaccard: number;
}

/** `originals` random documents, each followed by near-duplicates at the given target similarities. */
export function plantedCorpus(
  seed: number,
  originals: number,
  words: number,
  targets: number[],
): { texts: string[]; pairs: PlantedPair[] } {
  const rng = new SeededRandom(seed);
  const texts: string[] = [];
  const pairs: PlantedPair[] = [];
  for (let o = 0; o < originals; o++) {
    const base = randomDoc(rng, words);
    const a = texts.length;
    texts.push(base);
    const target = targets[o % targets.length]!;
    const dup = nearDuplicate(base, target, rng);
    pairs.push({ a, b: texts.length, jaccard: dup.jaccard });
    texts.push(dup.text);
  }
  return { texts, pairs };
}
