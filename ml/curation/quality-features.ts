// Hashed n-gram features for the quality classifier, each hashed into a fixed number of buckets with
// a hash-derived sign (so collisions cancel on average), weighted log(1 + |count|), unit L2 norm:
// - word 1..n-grams of the lowercase words (runs of letters, digits, _: what the text is about);
// - 1..3-grams of token shapes: function words kept as themselves, other words reduced to their
//   shape (Xx, x, 9), punctuation kept. These generalise across topics and separate prose from
//   word salad, keyword lists and boilerplate even with few training examples.
import { hashString } from "./hash.ts";

export interface FeatureConfig {
  /** Number of hash buckets (the weight vector's length). */
  buckets: number;
  /** Longest word n-gram (2 = unigrams and bigrams). */
  ngrams: number;
}

/** A sparse feature vector: bucket indices (ascending, distinct) and their values. */
export interface SparseVector {
  idx: Uint32Array;
  val: Float64Array;
}

const FUNCTION_WORDS = new Set(
  "a an the of in on at to for from by with and or but not no is are was were be been has have had do does did it its this that these those he she they we you i his her their our which who whom what when where as than then so if".split(
    " ",
  ),
);

const SHAPE_NGRAMS = 3;

function shapeOf(token: string): string {
  const lower = token.toLowerCase();
  if (FUNCTION_WORDS.has(lower)) return lower;
  if (/^\d+$/.test(token)) return "9";
  if (/^[\p{L}\p{N}_]+$/u.test(token)) return /^\p{Lu}/u.test(token) ? "Xx" : "x";
  return token;
}

function addNgrams(tokens: readonly string[], maxN: number, seed: number, buckets: number, counts: Map<number, number>): void {
  for (let n = 1; n <= maxN; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const h = hashString(n === 1 ? tokens[i]! : tokens.slice(i, i + n).join(" "), seed + n);
      const bucket = h % buckets;
      counts.set(bucket, (counts.get(bucket) ?? 0) + (h & 0x80000000 ? -1 : 1));
    }
  }
}

export function featurize(text: string, config: FeatureConfig): SparseVector {
  const counts = new Map<number, number>();
  addNgrams(text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [], config.ngrams, 0x9747b28c, config.buckets, counts);
  addNgrams((text.match(/[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]/gu) ?? []).map(shapeOf), SHAPE_NGRAMS, 0x1b873593, config.buckets, counts);
  const idx = Uint32Array.from([...counts.keys()].sort((a, b) => a - b));
  const val = Float64Array.from(idx, (b) => {
    const c = counts.get(b)!;
    return Math.sign(c) * Math.log1p(Math.abs(c));
  });
  let norm = 0;
  for (const v of val) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < val.length; i++) val[i] = val[i]! / norm;
  return { idx, val };
}
