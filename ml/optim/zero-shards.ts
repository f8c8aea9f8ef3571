// How ZeRO-1 splits a rank's parameters over its data-parallel group (Megatron's distributed optimizer): the
// tensors, concatenated in parameters() order, form one flat buffer; dp rank i owns chunk i of it (the bounds of
// the reduce-scatter, chunkBounds), and a chunk may cut a tensor anywhere. The bounds
// are pure arithmetic; a Shard adds the moments ZeroAdamW keeps for one, and the helpers below work on Shards.
import { chunkBounds } from "../../runtime/collectives/reduce.ts";
import type { Backend } from "../../native/backend.ts";
import { KernelProgram } from "../../native/ops.ts";
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
  /** where the piece starts in its shard */
  at: number;
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

/** Whole moments per parameter (`<name>.exp_avg`, `.exp_avg_sq`) holding these shards' values, zeros elsewhere. */
export function wholeMoments(params: readonly NamedTensor[], shards: readonly Shard[]): NamedTensor[] {
  const out = params.flatMap((p) => [
    { name: `${p.name}.exp_avg`, shape: [...p.shape], data: new Float32Array(p.data.length) },
    { name: `${p.name}.exp_avg_sq`, shape: [...p.shape], data: new Float32Array(p.data.length) },
  ]);
  for (const s of shards)
    for (const seg of s.segments) {
      out[2 * seg.tensor]!.data.set(s.expAvg.subarray(seg.at, seg.at + seg.end - seg.start), seg.start);
      out[2 * seg.tensor + 1]!.data.set(s.expAvgSq.subarray(seg.at, seg.at + seg.end - seg.start), seg.start);
    }
  return out;
}

/** A shard's moments taken out of whole ones (wholeMoments' order). */
export function cutMoments(full: readonly NamedTensor[], s: Shard): void {
  for (const seg of s.segments) {
    s.expAvg.set(full[2 * seg.tensor]!.data.subarray(seg.start, seg.end), seg.at);
    s.expAvgSq.set(full[2 * seg.tensor + 1]!.data.subarray(seg.start, seg.end), seg.at);
  }
}

/** A shard's tensor pieces with their parameter values (from `scratch`, the shard's own copy, when given) and moments. */
export function shardPieces(params: readonly NamedTensor[], s: Shard, scratch?: Float32Array): ShardTensorPiece[] {
  return s.segments.map((seg) => {
    const n = seg.end - seg.start;
    const p = params[seg.tensor]!;
    return {
      name: p.name,
      localShape: p.shape,
      start: seg.start,
      end: seg.end,
      at: seg.at,
      param: scratch ? scratch.subarray(seg.at, seg.at + n) : p.data.subarray(seg.start, seg.end),
      expAvg: s.expAvg.subarray(seg.at, seg.at + n),
      expAvgSq: s.expAvgSq.subarray(seg.at, seg.at + n),
    };
  });
}

/** Squared norm of each shard's reduced gradient over the tensors `counts` marks, as one kernel program. */
export async function sumSquaresPerShard(
  backend: Backend,
  counts: readonly boolean[],
  shards: readonly { shard: Shard; grad: (s: Segment) => Float32Array }[],
): Promise<number[]> {
  const program = new KernelProgram();
  const counted = shards.map(({ shard, grad }) => {
    const segs = shard.segments.filter((s) => counts[s.tensor]);
    for (const s of segs) program.add("sumSquares", { x: grad(s), n: s.end - s.start });
    return segs.length;
  });
  const results = await program.run(backend);
  let at = 0;
  return counted.map((k) => {
    let sum = 0;
    for (const r of results.slice(at, (at += k))) sum += r;
    return sum;
  });
}
