// How ZeRO-1 splits a rank's parameters over its data-parallel group (Megatron's distributed optimizer): the
// tensors, concatenated in parameters() order, form one flat buffer; dp rank i owns chunk i of it (the bounds of
// the reduce-scatter, chunkBounds), and a chunk may cut a tensor anywhere. Pure arithmetic.
import { chunkBounds } from "../../runtime/collectives/reduce.ts";

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
