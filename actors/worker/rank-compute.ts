// What a worker runs for its part of a step, behind one interface so the data-parallel replica
// (data-parallel-compute.ts) and the tensor/pipeline stage model (stage-parallel-compute.ts) plug into the same
// worker. The two differ in how they checkpoint: a replica holds the whole model and writes whole checkpoints,
// a stage holds one shard and writes shard files; each refuses the other's kind.
import type { CheckpointWriter, PendingWrite } from "../../ml/checkpoint/async-save.ts";
import type { CheckpointSource } from "../../ml/checkpoint/build-manifest.ts";
import type { ShardDescription } from "../../ml/checkpoint/shard-files.ts";
import type { NamedTensor } from "../../ml/model/types.ts";
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";

export interface StepWork {
  step: number;
  firstSample: number;
  microBatches: number;
  microBatch: number;
  totalMicroBatches: number;
}

export interface RankStepResult {
  /** Sum of the losses of this rank's micro-batches (0 on ranks that compute no loss). */
  lossSum: number;
  /** Sum of squared gradients held by this rank after all gradient reductions. */
  gradNormSquared: number;
  /** This rank's own gradients or loss were NaN/inf before any reduction (absent: not measured). */
  nonFinite?: boolean;
  /** Wall time of the step minus the time blocked in collectives, ms (absent: not measured). */
  busyMs?: number;
}

/** A shard whose tensors are copied: its files are written when `written` resolves. */
export interface ShardSave {
  written: Promise<ShardDescription>;
  optimizerStepCount: number;
  layersPerStage: number[];
}

export interface RankCompute {
  /** Forward/backward of this rank's micro-batches and every gradient reduction of the step. */
  runStep(work: StepWork): Promise<RankStepResult>;
  /** Optimizer step with the gradients multiplied by `clipScale`. */
  apply(lr: number, clipScale: number): Promise<void>;
  /** Mean loss over the first `batches` held-out micro-batches (forward only). */
  validationLoss(batches: number, microBatch: number, step: number): Promise<number>;
  parameters(): NamedTensor[];
  /** This rank's optimizer moments (ZeRO-1: its shard's and its ring neighbour's). */
  optimizerState(): NamedTensor[];
  /** The moments the DP peer at world rank `to` holds, from this rank's (peer restore; in its optimizerState order). */
  optimizerStateFor(to: number): NamedTensor[];
  /** ZeRO-1 with dp > 2: the moments of these shards of the data-parallel group (each held by this rank). */
  momentsOfShards(indices: readonly number[]): NamedTensor[];
  /** ZeRO-1 with dp > 2: all-gather the updated parameters of every shard from its owner (a no-op otherwise). */
  gatherShards(): Promise<void>;
  /**
   * An elastic ZeRO-1 job: this rank with its moments and parameters re-sharded over its current communicator, with
   * every rank of it taking part (`fresh`: it holds no moments yet).
   */
  reshard(fresh: boolean): Promise<RankCompute>;
  /** AdamW's step count (bias correction); set when the state comes from a peer or a checkpoint. */
  optimizerStepCount: number;
  /**
   * This rank on the communicator of a new epoch: parameters, moments and step count carried over; gradients and
   * activations start afresh.
   */
  rejoin(world: CollectivesWorld): Promise<RankCompute>;
  /** Loads this rank's part of the checkpoint in `dir` (saved with any layout); returns the checkpoint's step. */
  loadCheckpoint(dir: string): number;
  /** A whole checkpoint of this rank's state under `root` (data parallel): returns once the tensors are copied. */
  saveCheckpoint(
    writer: CheckpointWriter,
    root: string,
    source: Omit<CheckpointSource, "optimizerStepCount">,
    keep: number,
  ): Promise<PendingWrite<string>>;
  /**
   * This rank's shard of a sharded checkpoint into `staging` (pp or tp > 1), or with `zeroShards` (ZeRO-1, dp > 2)
   * those dp shards of its (stage, tp rank): returns once the tensors are copied.
   */
  saveShard(writer: CheckpointWriter, staging: string, step: number, zeroShards?: readonly number[]): Promise<ShardSave>;
}

/** Carries parameters, AdamW moments and the step count from one compute to another of the same shard. */
export function copyState(from: RankCompute, to: RankCompute): void {
  const pairs = [
    [from.parameters(), to.parameters()],
    [from.optimizerState(), to.optimizerState()],
  ] as const;
  for (const [src, dst] of pairs) dst.forEach((t, i) => t.data.set(src[i]!.data));
  to.optimizerStepCount = from.optimizerStepCount;
}
