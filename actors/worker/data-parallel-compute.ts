// One data-parallel replica of the single-rank model: accumulate this replica's micro-batches with the
// gradient scale 1 / (micro-batches of the whole step), then sum the gradients over the DP group in
// buckets (fixed order, so every run reduces bit for bit the same way). A replica holds the whole model:
// it writes and loads whole checkpoints, and keeps its model and optimizer when it rejoins a new communicator.
// With ZeRO-1 (parallel.zero: 1) the optimizer reduce-scatters the gradients instead of the buckets' all-reduce
// and holds the moments of its shard (ml/optim/zero-adamw.ts); an elastic resize re-shards them on rejoin.
import type { CheckpointWriter, PendingWrite } from "../../ml/checkpoint/async-save.ts";
import { checkpointInfo, type CheckpointSource } from "../../ml/checkpoint/build-manifest.ts";
import { copyTensorsInto, loadCheckpoint } from "../../ml/checkpoint/store.ts";
import { isZero } from "../../ml/optim/zero-adamw.ts";
import { GradientBuckets } from "../../runtime/collectives/grad-buckets.ts";
import type { Collectives, CollectivesWorld } from "../../runtime/collectives/types.ts";
import type { GptModel, NamedTensor, Optimizer } from "../../ml/model/types.ts";
import { validationLoss } from "../../ml/train/step.ts";
import type { TrainingData } from "../../ml/train/types.ts";
import { allFinite } from "../../ml/model/finite.ts";
import { WorkerProtocolError } from "./errors.ts";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";
import {
  checkpointMoments,
  gatherShards,
  loadMoments,
  momentsFor,
  momentsOfShards,
  patchBeforeRejoin,
  zeroShardContents,
} from "./optimizer-state.ts";
import type { RankCompute, RankStepResult, ShardSave, StepWork } from "./rank-compute.ts";

type NormSquared = { gradNormSquared?: () => Promise<number> };

/** How a replica's DP group is taken from a world communicator (fault hooks included). */
export type DpGroupOf = (world: CollectivesWorld) => Collectives;

export class DataParallelCompute implements RankCompute {
  private readonly dpGroup: Collectives;
  private readonly optimizer: Optimizer;

  constructor(
    private readonly model: GptModel,
    optimizer: Optimizer,
    private readonly data: TrainingData,
    private readonly dpGroupOf: DpGroupOf,
    private readonly world: CollectivesWorld,
  ) {
    this.dpGroup = dpGroupOf(world);
    // ZeRO-1 on a communicator of another size (an elastic shrink or grow) re-shards its moments
    this.optimizer = isZero(optimizer) ? optimizer.on(this.dpGroup) : optimizer;
  }

  async runStep(w: StepWork): Promise<RankStepResult> {
    const started = performance.now();
    await this.model.zeroGrad();
    let lossSum = 0;
    for (let m = 0; m < w.microBatches; m++) {
      const { inputs, targets } = this.data.trainBatch(w.firstSample + m * w.microBatch, w.microBatch);
      const { loss } = await this.model.forwardBackward(inputs, targets, w.microBatch, 1 / w.totalMicroBatches);
      lossSum += loss;
    }
    // measured before the all-reduce spreads it: which replica's own gradients went NaN/inf
    const nonFinite = !Number.isFinite(lossSum) || !allFinite(this.model.gradients());
    const reduceStarted = performance.now();
    if (isZero(this.optimizer)) await this.optimizer.reduceGradients();
    else if (this.dpGroup.size > 1) {
      // backward finishes gradients last-to-first; register them in that order
      const grads = this.model
        .gradients()
        .map((g) => g.data)
        .reverse();
      const buckets = new GradientBuckets(this.dpGroup, grads);
      for (let i = 0; i < grads.length; i++) buckets.markReady(i);
      await buckets.finish();
    }
    // busy = the step minus the all-reduce (where a fast replica waits for the slowest): everything before it
    const busyMs = reduceStarted - started;
    return { lossSum, gradNormSquared: await this.normSquared(), nonFinite, busyMs };
  }

  private async normSquared(): Promise<number> {
    const o = this.optimizer as Optimizer & NormSquared;
    if (o.gradNormSquared) return o.gradNormSquared();
    const n = await o.gradNorm();
    return n * n;
  }

  apply(lr: number, clipScale: number): Promise<void> {
    return this.optimizer.step(lr, clipScale);
  }

  validationLoss(batches: number, microBatch: number, step: number): Promise<number> {
    return validationLoss(this.model, this.data, batches, microBatch, step);
  }

  parameters(): NamedTensor[] {
    return this.model.parameters();
  }

  optimizerState(): NamedTensor[] {
    return this.optimizer.state();
  }

  optimizerStateFor(to: number): NamedTensor[] {
    return momentsFor(this.optimizer, to);
  }

  momentsOfShards(indices: readonly number[]): NamedTensor[] {
    return momentsOfShards(this.optimizer, indices);
  }

  gatherShards(): Promise<void> {
    return gatherShards(this.optimizer);
  }

  async reshard(fresh: boolean): Promise<RankCompute> {
    if (!isZero(this.optimizer)) throw new WorkerProtocolError("re-shard asked of a replica whose moments are whole (zero 0)");
    const next = await this.optimizer.reshardOn(this.dpGroup, { fresh });
    return new DataParallelCompute(this.model, next, this.data, this.dpGroupOf, this.world);
  }

  get optimizerStepCount(): number {
    return this.optimizer.stepCount;
  }

  set optimizerStepCount(n: number) {
    this.optimizer.stepCount = n;
  }

  /**
   * The same model and optimizer on the new communicator: nothing to copy, except that ZeRO-1 moments are re-sharded
   * when the replicas changed (an elastic resize, dp ≤ 2: every rank holds them whole). ZeRO-1 at dp > 2 first
   * takes its neighbour's region of the parameters from the backup copy (a gather broken by the loss).
   */
  async rejoin(world: CollectivesWorld): Promise<RankCompute> {
    patchBeforeRejoin(this.optimizer);
    return new DataParallelCompute(this.model, this.optimizer, this.data, this.dpGroupOf, world);
  }

  loadCheckpoint(dir: string): number {
    const ckpt = loadCheckpoint(dir);
    copyTensorsInto(this.parameters(), ckpt.params, `checkpoint ${dir} (model)`);
    loadMoments(this.optimizer, ckpt.optimizerState, `checkpoint ${dir} (optimizer)`);
    this.optimizerStepCount = ckpt.manifest.optimizer.stepCount;
    return ckpt.manifest.step;
  }

  saveCheckpoint(
    writer: CheckpointWriter,
    root: string,
    source: Omit<CheckpointSource, "optimizerStepCount">,
    keep: number,
  ): Promise<PendingWrite<string>> {
    const info = checkpointInfo({ ...source, optimizerStepCount: this.optimizerStepCount });
    return writer.save(root, { ...info, params: this.parameters(), optimizerState: checkpointMoments(this.optimizer) }, { keep });
  }

  /**
   * ZeRO-1 with dp > 2: the dp shards `zeroShards` of the whole model (stage 0, tp rank 0 of the layout 1 × 1); an
   * elastic ZeRO-1 job down to 2 replicas or fewer: the whole model as that one shard, from one replica.
   */
  async saveShard(writer: CheckpointWriter, staging: string, step: number, zeroShards?: readonly number[]): Promise<ShardSave> {
    const { config } = this.model;
    const layout = { pp: 1, tp: 1, layersPerStage: [config.layers], heads: config.heads };
    const globalShapes = new Map(gptParameterLayout(config).map((p) => [p.name, p.shape]));
    const coord = { stage: 0, tpRank: 0 };
    const pending = zeroShards
      ? await writer.saveZeroShards(staging, zeroShardContents(this.optimizer, coord, zeroShards, step), layout, globalShapes)
      : await writer.saveShard(
          staging,
          {
            coord,
            params: this.parameters(),
            optimizerState: checkpointMoments(this.optimizer),
            step,
            optimizerStepCount: this.optimizerStepCount,
          },
          layout,
          globalShapes,
        );
    return { written: pending.written, optimizerStepCount: this.optimizerStepCount, layersPerStage: [config.layers] };
  }
}
