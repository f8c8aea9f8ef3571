// Deterministic test tensors and the sequential reference the collectives must match exactly.
import type { ReduceOp } from "../../runtime/collectives/types.ts";

function hash(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c + 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/** Values spread over six orders of magnitude, so the order of fp32 additions changes the rounded result. */
export function testData(seed: number, rank: number, length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => {
    const u = hash(seed, rank, i) / 2 ** 32 - 0.5;
    return u * 10 ** ((hash(seed + 1, rank, i) % 7) - 3);
  });
}

/** ((x0 ∘ x1) ∘ x2) … in fp32. */
export function sequentialReduce(parts: Float32Array[], op: ReduceOp): Float32Array {
  const acc = Float32Array.from(parts[0]!);
  for (const x of parts.slice(1)) {
    for (let i = 0; i < acc.length; i++) {
      acc[i] = op === "sum" ? acc[i]! + x[i]! : op === "max" ? Math.max(acc[i]!, x[i]!) : Math.min(acc[i]!, x[i]!);
    }
  }
  return acc;
}

export function layoutFor(worldSize: number): { dp: number; pp: number; tp: number } {
  if (worldSize === 2) return { dp: 2, pp: 1, tp: 1 };
  if (worldSize === 4) return { dp: 2, pp: 1, tp: 2 };
  if (worldSize === 8) return { dp: 2, pp: 2, tp: 2 };
  return { dp: worldSize, pp: 1, tp: 1 };
}

/** A toy virtual stage for pipeline runs: y = x·w + vs with w = 1 + vs/100 (fp32). */
function toyWeight(vs: number): number {
  return Math.fround(1 + vs / 100);
}

export function toyForward(x: Float32Array, vs: number): Float32Array {
  const w = toyWeight(vs);
  return x.map((v) => v * w + vs);
}

/** Returns dx and adds dot(dy, x) into wgrad[0] (fp32, element by element). */
export function toyBackward(dy: Float32Array, x: Float32Array, vs: number, wgrad: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) wgrad[0]! += dy[i]! * x[i]!;
  const w = toyWeight(vs);
  return dy.map((v) => v * w);
}

/** Single-process reference: weight gradient of every virtual stage after all micro-batches (in order). */
export function toyReference(virtualStages: number, microbatches: number, length: number): Float32Array[] {
  const wgrads = Array.from({ length: virtualStages }, () => new Float32Array(1));
  for (let mb = 0; mb < microbatches; mb++) {
    const inputs: Float32Array[] = [];
    let x = testData(20 + mb, 0, length);
    for (let vs = 0; vs < virtualStages; vs++) {
      inputs.push(x);
      x = toyForward(x, vs);
    }
    let dy: Float32Array = new Float32Array(length).fill(1);
    for (let vs = virtualStages - 1; vs >= 0; vs--) dy = toyBackward(dy, inputs[vs]!, vs, wgrads[vs]!);
  }
  return wgrads;
}

/** Gradient tensor lengths for the bucketed all-reduce test (one larger than the small bucket size). */
export const BUCKET_SIZES = [5, 1000, 3, 7000, 17, 400, 9];
