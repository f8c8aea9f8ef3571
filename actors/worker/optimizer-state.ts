// The optimizer state of a rank as checkpoints and peer restore see it, whether its moments are whole (AdamW) or
// sharded over the data-parallel group (ZeRO-1, ml/optim/zero-adamw.ts). Checkpoints hold whole moments per
// parameter (ZeRO-1 at dp > 2: each rank's shard as pieces of the global tensors), so a checkpoint loads into any
// layout and any zero setting.
import type { TensorEntry } from "../../ml/checkpoint/safetensors.ts";
import type { ZeroShardContent } from "../../ml/checkpoint/shard-files.ts";
import { copyTensorsInto } from "../../ml/checkpoint/store.ts";
import type { NamedTensor, Optimizer } from "../../ml/model/types.ts";
import type { ShardCoord } from "../../ml/parallel/shard-spec.ts";
import { isZero } from "../../ml/optim/zero-adamw.ts";
import { WorkerProtocolError } from "./errors.ts";

/** The whole moments of this rank's parameters, named `<param>.exp_avg` / `.exp_avg_sq` (ZeRO-1: assembled from the shards held). */
export function checkpointMoments(o: Optimizer): NamedTensor[] {
  return isZero(o) ? o.fullState() : o.state();
}

/** Loads whole moments (a checkpoint's, of any layout) into the optimizer: ZeRO-1 keeps its shards of them. */
export function loadMoments(o: Optimizer, source: Map<string, TensorEntry>, what: string): void {
  if (!isZero(o)) return copyTensorsInto(o.state(), source, what);
  const whole = o.fullStateTemplate();
  copyTensorsInto(whole, source, what);
  o.loadFullState(whole);
}

/** The moments the DP peer at world rank `to` holds, from this rank's (peer restore at dp ≤ 2, or without ZeRO-1). */
export function momentsFor(o: Optimizer, to: number): NamedTensor[] {
  return isZero(o) ? o.stateForRank(to) : o.state();
}

/** ZeRO-1 with dp > 2: the moments are cut into dp shards, and a rank holds two of them. */
function shardsMoments(o: Optimizer): boolean {
  return isZero(o) && o.gathers;
}

/** The moments of the ZeRO-1 shards `indices` (held by this rank), in the order a replacement holds them. */
export function momentsOfShards(o: Optimizer, indices: readonly number[]): NamedTensor[] {
  if (!isZero(o)) throw new WorkerProtocolError(`asked for the moments of ZeRO-1 shards ${indices.join(", ")}, but the moments are whole`);
  return o.momentsOf(indices);
}

/** ZeRO-1 with dp > 2: the updated parameters of every shard from its owner (a no-op otherwise). */
export async function gatherShards(o: Optimizer): Promise<void> {
  if (isZero(o) && o.gathers) await o.gatherShards();
}

/** Before a rank rejoins after a loss: its neighbour's region of the parameters from the backup copy (ZeRO-1, dp > 2). */
export function patchBeforeRejoin(o: Optimizer): void {
  if (isZero(o) && o.gathers) o.patchBackupParams();
}

/** What a sharded checkpoint holds of the ZeRO-1 shards `indices` of this (stage, tp rank). */
export function zeroShardContents(o: Optimizer, coord: ShardCoord, indices: readonly number[], step: number): ZeroShardContent[] {
  if (!shardsMoments(o) || !isZero(o))
    throw new WorkerProtocolError("ZeRO-1 shard files are written only with parallel.zero: 1 and dp > 2");
  return indices.map((index) => ({ coord, index, pieces: o.shardTensors(index), step, optimizerStepCount: o.stepCount }));
}
