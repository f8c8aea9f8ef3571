// One (replica, stage, TP shard) of the 3D-parallel model (ml/parallel-model): this replica's
// micro-batches run through the pipeline schedule; the executor does the TP, pipeline, tied-embedding
// and DP gradient communication and reports the loss sum (last stage, TP rank 0) and its norm² share.
// Checkpoints are sharded: each (stage, tp rank) writes its own files and loads its slice from a
// checkpoint of any layout (ml/checkpoint). On a new communicator it is a new stage model holding its
// state. Its busy time per step is the step's wall time minus the time blocked in any collective
// (blocked-clock.ts): pipeline waits make every stage's wall time the same.
import type { CheckpointWriter, PendingWrite } from "../../ml/checkpoint/async-save.ts";
import { loadCheckpointShard } from "../../ml/checkpoint/load-shard.ts";
import { copyTensorsInto } from "../../ml/checkpoint/store.ts";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";
import { createPipelineExecutor, createStageModel, evenLayerSplit, type PipelineExecutor } from "../../ml/parallel-model/mod.ts";
import type { RankLayout } from "../../ml/parallel/ranks.ts";
import type { ShardCoord, ShardLayout } from "../../ml/parallel/shard-spec.ts";
import type { RankGroups } from "../../ml/parallel/rank-groups.ts";
import type { GptConfig, NamedTensor } from "../../ml/model/types.ts";
import type { TrainConfig } from "../../ml/train/config.ts";
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";
import { NonFiniteLossError } from "../../ml/train/errors.ts";
import type { TrainingData } from "../../ml/train/types.ts";
import { BlockedClock } from "./blocked-clock.ts";
import { WorkerProtocolError } from "./errors.ts";
import {
  checkpointMoments,
  gatherShards,
  loadMoments,
  momentsFor,
  momentsOfShards,
  patchBeforeRejoin,
  zeroShardContents,
} from "./optimizer-state.ts";
import { copyState, type RankCompute, type RankStepResult, type ShardSave, type StepWork } from "./rank-compute.ts";

/** What a stage is built from: the same on every communicator it joins. */
export interface StageRecipe {
  model: GptConfig;
  config: TrainConfig;
  layout: RankLayout;
  rank: number;
  /** How this rank's groups are taken from a world communicator (fault hooks included). */
  groupsOf: (world: CollectivesWorld) => RankGroups;
  microBatches: number;
  data: TrainingData;
}

export class StageParallelCompute implements RankCompute {
  private constructor(
    private readonly recipe: StageRecipe,
    private readonly executor: PipelineExecutor,
    /** How this job's tensors are split, and which piece this rank holds. */
    private readonly shardLayout: ShardLayout,
    private readonly shardCoord: ShardCoord,
    private readonly blocked: BlockedClock,
  ) {}

  static async create(o: StageRecipe, world: CollectivesWorld): Promise<StageParallelCompute> {
    const coord = o.layout.coords[o.rank]!;
    const { pp, tp } = o.layout.sizes;
    const layersPerStage = evenLayerSplit(o.model.layers, pp);
    const blocked = new BlockedClock();
    const groups = blocked.wrapGroups(o.groupsOf(world));
    const stage = await createStageModel({
      config: o.model,
      layout: o.layout,
      stage: coord.pp,
      tpRank: coord.tp,
      groups,
      seed: o.config.seed,
      microBatch: o.config.batch.microBatch,
      layersPerStage,
    });
    const { beta1, beta2, eps, weightDecay } = o.config.optimizer;
    const executor = createPipelineExecutor({
      model: stage,
      groups,
      schedule: "1f1b",
      microbatches: o.microBatches,
      optimizer: { beta1, beta2, eps, weightDecay },
      zero: o.config.parallel.zero === 1,
      deferGather: true,
    });
    const shardLayout = { pp, tp, layersPerStage, heads: o.model.heads };
    return new StageParallelCompute(o, executor, shardLayout, { stage: coord.pp, tpRank: coord.tp }, blocked);
  }

  async runStep(w: StepWork): Promise<RankStepResult> {
    const started = performance.now();
    this.blocked.reset();
    const inputs: Int32Array[] = [];
    const targets: Int32Array[] = [];
    for (let m = 0; m < w.microBatches; m++) {
      const b = this.recipe.data.trainBatch(w.firstSample + m * w.microBatch, w.microBatch);
      inputs.push(b.inputs);
      targets.push(b.targets);
    }
    const out = await this.executor.runStep({ inputs, targets });
    return { ...out, busyMs: performance.now() - started - this.blocked.blockedMs };
  }

  apply(lr: number, clipScale: number): Promise<void> {
    return this.executor.apply(lr, clipScale);
  }

  /**
   * Forward-only pass of the held-out micro-batches through this replica's pipeline; every (stage, TP rank) of the
   * replica must take part. The mean loss on the rank that computes it (last stage, TP rank 0), 0 on the others:
   * the coordinator sums the answers.
   */
  async validationLoss(batches: number, microBatch: number, step: number): Promise<number> {
    const inputs: Int32Array[] = [];
    const targets: Int32Array[] = [];
    for (let i = 0; i < batches; i++) {
      const b = this.recipe.data.validationBatch(i, microBatch);
      inputs.push(b.inputs);
      targets.push(b.targets);
    }
    const loss = (await this.executor.evaluate({ inputs, targets })).lossSum / batches;
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(step, "validation loss", loss);
    return loss;
  }

  parameters(): NamedTensor[] {
    return this.executor.parameters();
  }

  optimizerState(): NamedTensor[] {
    return this.executor.optimizer.state();
  }

  optimizerStateFor(to: number): NamedTensor[] {
    return momentsFor(this.executor.optimizer, to);
  }

  momentsOfShards(indices: readonly number[]): NamedTensor[] {
    return momentsOfShards(this.executor.optimizer, indices);
  }

  gatherShards(): Promise<void> {
    return gatherShards(this.executor.optimizer);
  }

  async reshard(): Promise<RankCompute> {
    throw new WorkerProtocolError("holds one shard of the model (pp or tp > 1): only data-parallel replicas re-shard (elastic jobs)");
  }

  get optimizerStepCount(): number {
    return this.executor.optimizer.stepCount;
  }

  set optimizerStepCount(n: number) {
    this.executor.optimizer.stepCount = n;
  }

  /** A new stage model on the new communicator, holding this one's parameters, moments and step count. */
  async rejoin(world: CollectivesWorld): Promise<RankCompute> {
    patchBeforeRejoin(this.executor.optimizer);
    const fresh = await StageParallelCompute.create(this.recipe, world);
    copyState(this, fresh);
    return fresh;
  }

  /** Loads this rank's slice of the weights and AdamW moments from a checkpoint saved with any layout. */
  loadCheckpoint(dir: string): number {
    const shard = loadCheckpointShard(dir, {
      layout: this.shardLayout,
      coord: this.shardCoord,
      params: gptParameterLayout(this.recipe.model),
    });
    const byName = (ts: NamedTensor[]) => new Map(ts.map((t) => [t.name, { name: t.name, shape: [...t.shape], data: t.data }]));
    copyTensorsInto(this.parameters(), byName(shard.params), `checkpoint ${dir} (model)`);
    loadMoments(this.executor.optimizer, byName(shard.optimizerState), `checkpoint ${dir} (optimizer)`);
    this.optimizerStepCount = shard.manifest.optimizer.stepCount;
    return shard.manifest.step;
  }

  async saveCheckpoint(): Promise<PendingWrite<string>> {
    throw new WorkerProtocolError("holds one shard of the model (pp or tp > 1): ask for checkpointShard");
  }

  async saveShard(writer: CheckpointWriter, staging: string, step: number, zeroShards?: readonly number[]): Promise<ShardSave> {
    const globalShapes = new Map(gptParameterLayout(this.recipe.model).map((p) => [p.name, p.shape]));
    if (zeroShards) {
      const contents = zeroShardContents(this.executor.optimizer, this.shardCoord, zeroShards, step);
      const pending = await writer.saveZeroShards(staging, contents, this.shardLayout, globalShapes);
      return {
        written: pending.written,
        optimizerStepCount: this.optimizerStepCount,
        layersPerStage: [...this.shardLayout.layersPerStage],
      };
    }
    const content = {
      coord: this.shardCoord,
      params: this.parameters(),
      optimizerState: checkpointMoments(this.executor.optimizer),
      step,
      optimizerStepCount: this.optimizerStepCount,
    };
    const pending = await writer.saveShard(staging, content, this.shardLayout, globalShapes);
    return {
      written: pending.written,
      optimizerStepCount: content.optimizerStepCount,
      layersPerStage: [...this.shardLayout.layersPerStage],
    };
  }
}
