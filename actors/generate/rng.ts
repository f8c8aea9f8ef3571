// A small seeded generator (SplitMix32 mixing of a counter), so sampling and few-shot draws are
// reproducible from a seed and independent of Math.random.

/** Deterministic pseudo-random numbers from a 32-bit seed. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    this.state = seed >>> 0;
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`nextInt needs a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }
}

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
