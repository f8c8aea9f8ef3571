// How ZeRO-1 splits a rank's parameters over its data-parallel group (Megatron's distributed optimizer): the
// tensors, concatenated in parameters() order, form one flat buffer; dp rank i owns chunk i of it (the bounds of
// the reduce-scatter, chunkBounds), and a chunk may cut a tensor anywhere. The bounds
// are pure arithmetic; a Shard adds the moments ZeroAdamW keeps for one.
import { chunkBounds } from "../../runtime/collectives/reduce.ts";
import type { NamedTensor } from "../model/types.ts";

/** The part of one tensor that lies in a shard: elements [start, end) of the tensor, at offset `at` of the shard. */
interface ShardSegment {
  tensor: number;
  start: number;
  end: number;
  at: number;
}

export interface ShardBounds {
  index: number;
  /** [start, end) in the flat buffer */
  start: number;
  end: number;
  segments: ShardSegment[];
}

/** Offset of each tensor in the flat buffer, and the total length. */
export function flatOffsets(lengths: readonly number[]): { offsets: number[]; total: number } {
  const offsets: number[] = [];
  let total = 0;
  for (const n of lengths) {
    offsets.push(total);
    total += n;
  }
  return { offsets, total };
}

/** Shard `index` of `parts` over tensors of these lengths, with the tensor pieces it holds in flat order. */
export function shardBounds(lengths: readonly number[], parts: number, index: number): ShardBounds {
  const { offsets, total } = flatOffsets(lengths);
  const [start, end] = chunkBounds(total, parts, index);
  const segments: ShardSegment[] = [];
  lengths.forEach((n, tensor) => {
    const lo = Math.max(start, offsets[tensor]!),
      hi = Math.min(end, offsets[tensor]! + n);
    if (hi > lo) segments.push({ tensor, start: lo - offsets[tensor]!, end: hi - offsets[tensor]!, at: lo - start });
  });
  return { index, start, end, segments };
}

export type Segment = ShardBounds["segments"][number];

/** Elements [start, end) of one parameter (its name and local shape) in a shard: their values and both moments. */
export interface ShardTensorPiece {
  name: string;
  localShape: readonly number[];
  start: number;
  end: number;
  param: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/** One shard's moments and where its reduced gradient of the current step lies (per segment). */
export interface Shard extends ShardBounds {
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  grad: ((s: Segment) => Float32Array) | undefined;
}

/** Segment gradients out of one buffer holding a shard's reduced gradient. */
export const inShard =
  (buf: Float32Array) =>
  (s: Segment): Float32Array =>
    buf.subarray(s.at, s.at + s.end - s.start);

/** Shard `index` of `parts` with zeroed moments. */
export function shardOf(lengths: readonly number[], parts: number, index: number): Shard {
  const b = shardBounds(lengths, parts, index);
  const n = b.end - b.start;
  return { ...b, expAvg: new Float32Array(n), expAvgSq: new Float32Array(n), grad: undefined };
}

/** A shard's moments as tensors named `<prefix>.exp_avg` / `.exp_avg_sq`. */
export function momentTensors(s: Shard, prefix: string): NamedTensor[] {
  return [
    { name: `${prefix}.exp_avg`, shape: [s.expAvg.length], data: s.expAvg },
    { name: `${prefix}.exp_avg_sq`, shape: [s.expAvgSq.length], data: s.expAvgSq },
  ];
}
