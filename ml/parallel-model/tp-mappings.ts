// Megatron's paired tensor-parallel communication helpers ("mappings"), over one TP group.
//   copy-to-TP:     forward identity (every shard reads the same replicated input),
//                   backward all-reduce (each shard holds only its part of d(input)).
//   reduce-from-TP: forward all-reduce (each shard holds a partial sum of the output),
//                   backward identity (d(output) is already replicated).
// A column-parallel layer sits between a copy and the attention/MLP core; a row-parallel layer ends in a reduce,
// so a transformer layer costs two all-reduces forward and two backward. A group of one rank does nothing. An
// all-reduce first runs the kernels recorded on the pass's stream (ml/model/kernel-stream.ts): it sums their results.
import type { KernelStream } from "../model/kernel-stream.ts";
import type { TpMapping } from "../model/block.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";

export type { TpMapping };

/** All-reduces `x` in place over `group` after running `stream`'s recorded kernels; nothing on a group of one. */
export async function allReduceAfter(
  group: Collectives,
  x: Float32Array,
  op: "sum" | "max" | "min" = "sum",
  stream?: KernelStream,
): Promise<void> {
  if (group.size === 1) return;
  await stream?.flush();
  await group.allReduce(x, op);
}

const identity = async (): Promise<void> => {};

/** Forward identity, backward all-reduce (in place). */
export function copyToTp(group: Collectives): TpMapping {
  return { forward: identity, backward: (dx, stream) => allReduceAfter(group, dx, "sum", stream) };
}

/** Forward all-reduce (in place), backward identity. */
export function reduceFromTp(group: Collectives): TpMapping {
  return { forward: (x, stream) => allReduceAfter(group, x, "sum", stream), backward: identity };
}
