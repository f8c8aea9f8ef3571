// The optimizer state of a rank as checkpoints and peer restore see it, whether its moments are whole (AdamW) or
// sharded over the data-parallel group (ZeRO-1, ml/optim/zero-adamw.ts). Checkpoints hold whole moments per
// parameter either way, so a checkpoint loads into any layout and any zero setting.
import type { TensorEntry } from "../../ml/checkpoint/safetensors.ts";
import { copyTensorsInto } from "../../ml/checkpoint/store.ts";
import type { NamedTensor, Optimizer } from "../../ml/model/types.ts";
import { isZero } from "../../ml/optim/zero-adamw.ts";

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

/** The moments the DP peer at world rank `to` (same stage and TP rank) holds, from this rank's (peer restore). */
export function momentsFor(o: Optimizer, to: number): NamedTensor[] {
  return isZero(o) ? o.stateForRank(to) : o.state();
}
