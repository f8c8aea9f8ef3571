// One (replica, stage, TP shard) of the 3D-parallel model (ml/parallel-model): this replica's
// micro-batches run through the pipeline schedule; the executor does the TP, pipeline, tied-embedding
// and DP gradient communication and reports the loss sum (last stage, TP rank 0) and its norm² share.
// Checkpoints are sharded: each (stage, tp rank) writes its own files and loads its slice from a
// checkpoint of any layout (ml/checkpoint). Its busy time per step is the step's wall time minus the time
// blocked in any collective (blocked-clock.ts): pipeline waits make every stage's wall time the same.
import { loadCheckpointShard, type ShardDescription } from "../../ml/checkpoint/mod.ts";
import { writeCheckpointShard } from "../../ml/checkpoint/shard-files.ts";
import { copyTensorsInto } from "../../ml/checkpoint/store.ts";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";
import { createPipelineExecutor, createStageModel, evenLayerSplit, type PipelineExecutor } from "../../ml/parallel-model/mod.ts";
import type { RankLayout } from "../../ml/parallel/ranks.ts";
import type { ShardCoord, ShardLayout } from "../../ml/parallel/shard-spec.ts";
import type { RankGroups } from "../../ml/parallel/rank-groups.ts";
import type { GptConfig, NamedTensor } from "../../ml/model/types.ts";
import type { TrainConfig } from "../../ml/train/config.ts";
import { NonFiniteLossError } from "../../ml/train/errors.ts";
import type { TrainingData } from "../../ml/train/types.ts";
import { BlockedClock } from "./blocked-clock.ts";
import type { RankCompute, RankStepResult, StepWork } from "./rank-compute.ts";

export class StageParallelCompute implements RankCompute {
  private constructor(
    private readonly executor: PipelineExecutor,
    private readonly data: TrainingData,
    private readonly model: GptConfig,
    /** How this job's tensors are split, and which piece this rank holds. */
    readonly shardLayout: ShardLayout,
    readonly shardCoord: ShardCoord,
    private readonly blocked: BlockedClock,
  ) {}

  static async create(o: {
    model: GptConfig;
    config: TrainConfig;
    layout: RankLayout;
    rank: number;
    groups: RankGroups;
    microBatches: number;
    data: TrainingData;
  }): Promise<StageParallelCompute> {
    const coord = o.layout.coords[o.rank]!;
    const { pp, tp } = o.layout.sizes;
    const layersPerStage = evenLayerSplit(o.model.layers, pp);
    const blocked = new BlockedClock();
    const groups = blocked.wrapGroups(o.groups);
    const stage = await createStageModel({ config: o.model, layout: o.layout, stage: coord.pp, tpRank: coord.tp, groups, seed: o.config.seed, microBatch: o.config.batch.microBatch, layersPerStage });
    const { beta1, beta2, eps, weightDecay } = o.config.optimizer;
    const executor = createPipelineExecutor({ model: stage, groups, schedule: "1f1b", microbatches: o.microBatches, optimizer: { beta1, beta2, eps, weightDecay } });
    const shardLayout = { pp, tp, layersPerStage, heads: o.model.heads };
    return new StageParallelCompute(executor, o.data, o.model, shardLayout, { stage: coord.pp, tpRank: coord.tp }, blocked);
  }

  async runStep(w: StepWork): Promise<RankStepResult> {
    const started = performance.now();
    this.blocked.reset();
    const inputs: Int32Array[] = [];
    const targets: Int32Array[] = [];
    for (let m = 0; m < w.microBatches; m++) {
      const b = this.data.trainBatch(w.firstSample + m * w.microBatch, w.microBatch);
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
      const b = this.data.validationBatch(i, microBatch);
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

  get optimizerStepCount(): number {
    return this.executor.optimizer.stepCount;
  }

  set optimizerStepCount(n: number) {
    this.executor.optimizer.stepCount = n;
  }

  /** Writes this rank's shard files into the staging folder of a checkpoint and describes them. */
  writeShard(staging: string, step: number): ShardDescription {
    const globalShapes = new Map(gptParameterLayout(this.model).map((p) => [p.name, p.shape]));
    const content = { coord: this.shardCoord, params: this.parameters(), optimizerState: this.optimizerState(), step, optimizerStepCount: this.optimizerStepCount };
    return writeCheckpointShard(staging, content, this.shardLayout, globalShapes);
  }

  /** Loads this rank's slice of the weights and AdamW moments from a checkpoint saved with any layout. */
  loadShard(dir: string): { step: number } {
    const shard = loadCheckpointShard(dir, { layout: this.shardLayout, coord: this.shardCoord, params: gptParameterLayout(this.model) });
    const byName = (ts: NamedTensor[]) => new Map(ts.map((t) => [t.name, { name: t.name, shape: [...t.shape], data: t.data }]));
    copyTensorsInto(this.parameters(), byName(shard.params), `checkpoint ${dir} (model)`);
    copyTensorsInto(this.optimizerState(), byName(shard.optimizerState), `checkpoint ${dir} (optimizer)`);
    this.executor.optimizer.stepCount = shard.manifest.optimizer.stepCount;
    return { step: shard.manifest.step };
  }
}
