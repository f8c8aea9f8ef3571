// Cutting a rank's shard out of a global tensor, following ml/parallel/shard-spec.ts (which says which boxes
// of each tensor a (stage, TP rank) holds: qkv per head group, fc by rows, projections by columns, wte by
// vocabulary rows, the rest replicated), and the vocabulary range of a wte shard.
import type { ShardBlock, TensorShard } from "../parallel/shard-spec.ts";
import { ParallelModelError } from "./errors.ts";

/** Copies the shard's blocks of the row-major global tensor into `out`, stacked along dimension 0. */
export function sliceShard(shard: TensorShard, global: Float32Array, out: Float32Array): void {
  const shape = shard.globalShape;
  const total = shape.reduce((a, b) => a * b, 1);
  if (global.length !== total)
    throw new ParallelModelError(`${shard.name}: global tensor has ${global.length} elements, expected ${total}`);
  let at = 0;
  for (const b of shard.blocks) at = copyBlock(shape, b, global, out, at);
  if (at !== out.length) throw new ParallelModelError(`${shard.name}: shard has ${at} elements but the local tensor ${out.length}`);
}

function copyBlock(shape: readonly number[], b: ShardBlock, global: Float32Array, out: Float32Array, at: number): number {
  if (shape.length === 1) {
    out.set(global.subarray(b.globalOffset[0]!, b.globalOffset[0]! + b.shape[0]!), at);
    return at + b.shape[0]!;
  }
  const cols = shape[1]!,
    [r0, c0] = b.globalOffset as [number, number],
    [rows, width] = b.shape as [number, number];
  for (let r = 0; r < rows; r++, at += width) out.set(global.subarray((r0 + r) * cols + c0, (r0 + r) * cols + c0 + width), at);
  return at;
}

/** First vocabulary row of a rank's wte shard, and the shard's row count. */
export function vocabRange(vocabSize: number, tpRank: number, tpSize: number): { start: number; size: number } {
  if (vocabSize % tpSize !== 0)
    throw new ParallelModelError(`vocabSize ${vocabSize} is not divisible by tp ${tpSize} (vocab-parallel embedding)`);
  const size = vocabSize / tpSize;
  return { start: tpRank * size, size };
}
