// Pure pieces of the reductions: how a buffer is split among members, and how contributions combine.
import { CollectiveError } from "./errors.ts";
import type { ReduceOp } from "./types.ts";

/** [start, end) of chunk `i` when `length` elements are split over `parts` members (earlier chunks one longer). */
export function chunkBounds(length: number, parts: number, i: number): [number, number] {
  const base = Math.floor(length / parts);
  const extra = length % parts;
  const start = i * base + Math.min(i, extra);
  return [start, start + base + (i < extra ? 1 : 0)];
}

/** acc ∘= x, elementwise in fp32 (every intermediate rounds to fp32, as the sequential reference does). */
export function combineInto(acc: Float32Array, x: Float32Array, op: ReduceOp): void {
  const n = acc.length;
  if (op === "sum") for (let i = 0; i < n; i++) acc[i]! += x[i]!;
  else if (op === "max") for (let i = 0; i < n; i++) acc[i] = Math.max(acc[i]!, x[i]!);
  else for (let i = 0; i < n; i++) acc[i] = Math.min(acc[i]!, x[i]!);
}

export function checkOp(op: string): asserts op is ReduceOp {
  if (op !== "sum" && op !== "max" && op !== "min") throw new CollectiveError(`unknown reduce op '${op}' (sum, max or min)`);
}
