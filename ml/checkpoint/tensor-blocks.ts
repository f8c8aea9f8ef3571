// Copying boxes between row-major tensors that are pieces of one global tensor. A buffer is described by the
// box of the global tensor it holds (global offset + shape); copies name a region in global coordinates.
import type { ShardBlock, TensorShard } from "../parallel/shard-spec.ts";

export interface Box {
  offset: readonly number[];
  shape: readonly number[];
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The common part of two boxes of the same rank, or undefined when they do not overlap. */
export function intersectBoxes(a: Box, b: Box): Box | undefined {
  const offset: number[] = [];
  const shape: number[] = [];
  for (let d = 0; d < a.shape.length; d++) {
    const lo = Math.max(a.offset[d]!, b.offset[d]!);
    const hi = Math.min(a.offset[d]! + a.shape[d]!, b.offset[d]! + b.shape[d]!);
    if (hi <= lo) return undefined;
    offset.push(lo);
    shape.push(hi - lo);
  }
  return { offset, shape };
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1]! * shape[d + 1]!;
  return s;
}

/** Copies `region` (global coordinates, inside both boxes) from `src` (holding srcBox) into `dst` (holding dstBox). */
export function copyRegion(src: Float32Array, srcBox: Box, dst: Float32Array, dstBox: Box, region: Box): void {
  const rank = region.shape.length;
  if (rank === 0) {
    dst[0] = src[0]!;
    return;
  }
  const ss = strides(srcBox.shape);
  const ds = strides(dstBox.shape);
  const row = region.shape[rank - 1]!;
  const rows = elementCount(region.shape) / row;
  const index = new Array<number>(rank).fill(0);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    let t = 0;
    for (let d = 0; d < rank; d++) {
      const g = region.offset[d]! + index[d]!;
      s += (g - srcBox.offset[d]!) * ss[d]!;
      t += (g - dstBox.offset[d]!) * ds[d]!;
    }
    dst.set(src.subarray(s, s + row), t);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d]! < region.shape[d]!) break;
      index[d] = 0;
    }
  }
}

export const blockBox = (b: ShardBlock): Box => ({ offset: b.globalOffset, shape: b.shape });

/**
 * Where each block of a shard lies in the local tensor: blocks are stacked along dimension 0, so block k is the
 * contiguous element range starting at `start` (rows before it × elements per row).
 */
export function localBlockRanges(shard: TensorShard): { block: ShardBlock; localRow: number; start: number; length: number }[] {
  let row = 0;
  return shard.blocks.map((block) => {
    const length = elementCount(block.shape);
    const perRow = elementCount(block.shape.slice(1));
    const out = { block, localRow: row, start: row * perRow, length };
    row += block.shape[0] ?? 1;
    return out;
  });
}

/** This shard's local tensor cut out of the whole global tensor. */
export function extractShard(global: Float32Array, shard: TensorShard): Float32Array {
  const local = new Float32Array(elementCount(shard.localShape));
  const whole: Box = { offset: shard.globalShape.map(() => 0), shape: shard.globalShape };
  for (const r of localBlockRanges(shard))
    copyRegion(global, whole, local.subarray(r.start, r.start + r.length), blockBox(r.block), blockBox(r.block));
  return local;
}
