// A small seeded generator (SplitMix32 mixing of a counter), so sampling and few-shot draws are
// reproducible from a seed and independent of Math.random.

export { SeededRandom } from "../data/seeded-random.ts";

/** Combine a seed with further integers into one 32-bit seed (FNV-1a over the words). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const word of [seed, ...parts]) {
    let w = word >>> 0;
    for (let i = 0; i < 4; i++) {
      h = Math.imul(h ^ (w & 0xff), 0x01000193) >>> 0;
      w >>>= 8;
    }
  }
  return h;
}
