// A seeded pseudo-random permutation of 0..n-1 evaluated one index at a time, in O(1) memory: a
// 4-round Feistel network on the smallest even-bit square domain ≥ n, with cycle-walking back into
// [0, n). Being a pure function of (n, key, i), it needs no stored shuffle and no state to resume.
import { DataOptionError } from "./errors.ts";
import { hashInts, mix32 } from "./seeded-random.ts";

const ROUNDS = 4;

export class WindowPermutation {
  private readonly halfBits: number;
  private readonly halfMask: number;
  private readonly roundKeys: number[];

  /** Permutation of 0..n-1 (1 ≤ n < 2^52) chosen by `key` (a list of integers, e.g. [seed, epoch]). */
  constructor(
    readonly n: number,
    key: readonly number[],
  ) {
    if (!Number.isInteger(n) || n < 1 || n >= 2 ** 52)
      throw new DataOptionError(`permutation size must be an integer in [1, 2^52), got ${n}`);
    const bits = Math.max(2, Math.ceil(Math.log2(n)));
    this.halfBits = Math.ceil(bits / 2);
    this.halfMask = 2 ** this.halfBits - 1;
    this.roundKeys = Array.from({ length: ROUNDS }, (_, r) => hashInts(...key, r));
  }

  /** The image of `i` (0 ≤ i < n). */
  at(i: number): number {
    let x = i;
    do x = this.feistel(x);
    while (x >= this.n);
    return x;
  }

  private feistel(x: number): number {
    const base = this.halfMask + 1;
    let left = Math.floor(x / base);
    let right = x % base;
    for (const k of this.roundKeys) {
      // Halves are ≤ 26 bits, so `right ^ k` is exact; the low bits of a 32-bit mix are uniform enough.
      const f = mix32((right ^ k) >>> 0) % base;
      [left, right] = [right, (left + f) % base];
    }
    return left * base + right;
  }
}
