// One (replica, stage, TP shard) of the 3D-parallel model (actors/parallel-model): this replica's
// micro-batches run through the pipeline schedule; the executor does the TP, pipeline, tied-embedding
// and DP gradient communication and reports the loss sum (last stage, TP rank 0) and its norm² share.
import { createPipelineExecutor, createStageModel, type PipelineExecutor } from "../parallel-model/mod.ts";
import type { RankLayout } from "../parallel/ranks.ts";
import type { RankGroups } from "../../runtime/collectives/layout-groups.ts";
import type { GptConfig, NamedTensor } from "../model/types.ts";
import type { TrainConfig } from "../train/config.ts";
import type { TrainingData } from "../train/types.ts";
import type { RankCompute, RankStepResult, StepWork } from "./rank-compute.ts";

export class StageParallelUnsupportedError extends Error {
  override name = "StageParallelUnsupportedError";
}

export class StageParallelCompute implements RankCompute {
  private constructor(
    private readonly executor: PipelineExecutor,
    private readonly data: TrainingData,
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
    const stage = await createStageModel({ config: o.model, layout: o.layout, stage: coord.pp, tpRank: coord.tp, groups: o.groups, seed: o.config.seed, microBatch: o.config.batch.microBatch });
    const { beta1, beta2, eps, weightDecay } = o.config.optimizer;
    const executor = createPipelineExecutor({ model: stage, groups: o.groups, schedule: "1f1b", microbatches: o.microBatches, optimizer: { beta1, beta2, eps, weightDecay } });
    return new StageParallelCompute(executor, o.data);
  }

  runStep(w: StepWork): Promise<RankStepResult> {
    const inputs: Int32Array[] = [];
    const targets: Int32Array[] = [];
    for (let m = 0; m < w.microBatches; m++) {
      const b = this.data.trainBatch(w.firstSample + m * w.microBatch, w.microBatch);
      inputs.push(b.inputs);
      targets.push(b.targets);
    }
    return this.executor.runStep({ inputs, targets });
  }

  apply(lr: number, clipScale: number): Promise<void> {
    return this.executor.apply(lr, clipScale);
  }

  validationLoss(): Promise<number> {
    throw new StageParallelUnsupportedError("validation with pp or tp > 1 is not supported yet");
  }

  parameters(): NamedTensor[] {
    return this.executor.parameters();
  }

  optimizerState(): NamedTensor[] {
    throw new StageParallelUnsupportedError("checkpoints with pp or tp > 1 are not supported yet (sharded checkpoints)");
  }

  get optimizerStepCount(): number {
    return 0;
  }
}
