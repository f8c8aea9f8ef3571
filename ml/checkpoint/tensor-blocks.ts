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

/** A piece of a local tensor that is a box of the global one: elements [localStart, localStart + length) of the local tensor. */
export interface FlatRangeBox extends Box {
  localStart: number;
  length: number;
}

/**
 * The elements [start, end) of a shard's local tensor (row-major, as a ZeRO-1 shard cuts the flattened tensors) as
 * boxes of the global tensor: per block it overlaps, a partial first row, the whole rows, a partial last row. Tensors
 * of rank 3 or more are refused (a range there is not a union of few boxes; the GPT's tensors have rank ≤ 2).
 */
export function flatRangeBoxes(shard: TensorShard, start: number, end: number): FlatRangeBox[] {
  const out: FlatRangeBox[] = [];
  for (const r of localBlockRanges(shard)) {
    let a = Math.max(start, r.start) - r.start;
    const b = Math.min(end, r.start + r.length) - r.start;
    if (b <= a) continue;
    const { shape, globalOffset } = r.block;
    if (shape.length > 2) throw new RangeError(`${shard.name}: a flat range of a rank-${shape.length} tensor is not a few boxes`);
    const push = (row: number, col: number, rows: number, cols: number, from: number) =>
      out.push({
        offset: shape.length === 1 ? [globalOffset[0]! + col] : [globalOffset[0]! + row, globalOffset[1]! + col],
        shape: shape.length === 1 ? [cols] : [rows, cols],
        localStart: r.start + from,
        length: rows * cols,
      });
    if (shape.length < 2) {
      push(0, a, 1, b - a, a);
      continue;
    }
    const perRow = shape[1]!;
    if (a % perRow !== 0) {
      const cols = Math.min(perRow - (a % perRow), b - a);
      push(Math.floor(a / perRow), a % perRow, 1, cols, a);
      a += cols;
    }
    const rows = Math.floor((b - a) / perRow);
    if (rows > 0) {
      push(a / perRow, 0, rows, perRow, a);
      a += rows * perRow;
    }
    if (b > a) push(a / perRow, 0, 1, b - a, a);
  }
  return out;
}
