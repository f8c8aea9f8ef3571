// Megatron's paired tensor-parallel communication helpers ("mappings"), over one TP group.
//   copy-to-TP:     forward identity (every shard reads the same replicated input),
//                   backward all-reduce (each shard holds only its part of d(input)).
//   reduce-from-TP: forward all-reduce (each shard holds a partial sum of the output),
//                   backward identity (d(output) is already replicated).
// A column-parallel layer sits between a copy and the attention/MLP core; a row-parallel layer ends in a reduce,
// so a transformer layer costs two all-reduces forward and two backward. A group of one rank does nothing.
import type { Collectives } from "../../runtime/collectives/types.ts";

export interface TpMapping {
  forward(x: Float32Array): Promise<void>;
  backward(dx: Float32Array): Promise<void>;
}

const identity = async (): Promise<void> => {};

function allReduceIn(group: Collectives): (x: Float32Array) => Promise<void> {
  return group.size === 1 ? identity : (x) => group.allReduce(x, "sum");
}

/** Forward identity, backward all-reduce (in place). */
export function copyToTp(group: Collectives): TpMapping {
  return { forward: identity, backward: allReduceIn(group) };
}

/** Forward all-reduce (in place), backward identity. */
export function reduceFromTp(group: Collectives): TpMapping {
  return { forward: allReduceIn(group), backward: identity };
}
