// MinHash signatures over character shingles and their LSH band keys (MT-NLG / NeMo Curator:
// 5-character shingles, 20 bands × 13 rows = 260 hash functions).
import { SeededRandom } from "../data/seeded-random.ts";
import { fmix32, hashRange } from "./hash.ts";

export interface MinHashParams {
  /** Characters per shingle (5). */
  shingle: number;
  /** LSH bands (20). */
  bands: number;
  /** Hash functions per band (13). */
  rows: number;
  /** Seed of the hash family; every worker must use the same one. */
  seed: number;
}

export const MTNLG_MINHASH: MinHashParams = { shingle: 5, bands: 20, rows: 13, seed: 1 };

/** The distinct hashes of a text's k-character shingles, sorted. A text shorter than k is one shingle. */
export function shingleHashes(text: string, k: number): Uint32Array {
  const n = Math.max(1, text.length - k + 1);
  const all = new Uint32Array(n);
  for (let i = 0; i < n; i++) all[i] = hashRange(text, i, Math.min(text.length, i + k));
  all.sort();
  let w = 0;
  for (let i = 0; i < n; i++) if (i === 0 || all[i] !== all[i - 1]) all[w++] = all[i]!;
  return all.subarray(0, w);
}

/** The distinct k-character shingles themselves (for exact Jaccard). */
export function shingleSet(text: string, k: number): Set<string> {
  const set = new Set<string>();
  if (text.length <= k) {
    set.add(text);
    return set;
  }
  for (let i = 0; i + k <= text.length; i++) set.add(text.slice(i, i + k));
  return set;
}

/** Exact Jaccard similarity |A∩B| / |A∪B| of two sets. */
export function jaccard(a: Set<string>, b: Set<string>): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let inter = 0;
  for (const s of small) if (large.has(s)) inter += 1;
  const union = a.size + b.size - inter;
  return union === 0 ? 1 : inter / union;
}

/** The hash family: function i maps a shingle hash x to fmix-like(imul(x ^ xor[i], mul[i])). */
export interface HashFamily {
  xor: Uint32Array;
  mul: Uint32Array;
}

export function hashFamily(count: number, seed: number): HashFamily {
  const rng = new SeededRandom(seed);
  const xor = new Uint32Array(count);
  const mul = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    xor[i] = rng.nextUint32();
    mul[i] = rng.nextUint32() | 1; // odd: a bijection on 32-bit words
  }
  return { xor, mul };
}

/** MinHash signature: for each hash function, the minimum over the shingles. */
export function signature(shingles: Uint32Array, family: HashFamily, out?: Uint32Array): Uint32Array {
  const count = family.xor.length;
  const sig = out ?? new Uint32Array(count);
  sig.fill(0xffffffff);
  const { xor, mul } = family;
  for (let s = 0; s < shingles.length; s++) {
    const x = shingles[s]!;
    for (let i = 0; i < count; i++) {
      let v = Math.imul(x ^ xor[i]!, mul[i]!);
      v = (v ^ (v >>> 15)) >>> 0;
      if (v < sig[i]!) sig[i] = v;
    }
  }
  return sig;
}

/**
 * One key per band: a 53-bit hash of the band's `rows` signature values (two independent
 * 32-bit hashes combined, so unrelated bands practically never collide).
 */
export function bandKeys(sig: Uint32Array, bands: number, rows: number, out?: Float64Array, offset = 0): Float64Array {
  const keys = out ?? new Float64Array(bands);
  for (let b = 0; b < bands; b++) {
    let h1 = 0x811c9dc5 ^ b;
    let h2 = 0x01000193 + b;
    for (let r = 0; r < rows; r++) {
      const v = sig[b * rows + r]!;
      h1 = Math.imul(h1 ^ v, 0x01000193);
      h2 = Math.imul(h2 ^ v, 0x5bd1e995) ^ (h2 >>> 13);
    }
    keys[offset + b] = fmix32(h1) * 2097152 + (fmix32(h2) >>> 11);
  }
  return keys;
}

/** Probability that a pair with Jaccard j shares at least one band: 1 − (1 − j^rows)^bands. */
export function candidateProbability(j: number, bands: number, rows: number): number {
  return 1 - (1 - j ** rows) ** bands;
}
