// One (pipeline stage, tensor-parallel rank) of a trained GPT for inference: a stage model holding its slice of a
// checkpoint of any layout (ml/checkpoint loadCheckpointShard, no optimizer state, no gradients) and its PP group,
// and scoring: the one forward-only pipeline (forward-pipeline.ts) with the last stage scoring targets
// vocab-parallel. Generation decodes on the same stage model (stage-decoder.ts).
import type { Backend } from "../../native/backend.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";
import { loadCheckpointShard } from "../checkpoint/load-shard.ts";
import { gptParameterLayout } from "../model/param-layout.ts";
import type { GptConfig } from "../model/types.ts";
import { InferenceError } from "./errors.ts";
import { forwardThroughPipeline } from "./forward-pipeline.ts";
import { checkInferenceLayout } from "./inference-layout.ts";
import { StageModel } from "./stage-model.ts";
import { evenLayerSplit } from "./stage-weights.ts";
import type { TokenScores } from "./vocab-head.ts";

interface StageGroups {
  tp: Collectives;
  pp: Collectives;
}

export interface InferenceStageOptions {
  config: GptConfig;
  pp: number;
  tp: number;
  stage: number;
  tpRank: number;
  groups: StageGroups;
  backend?: Backend;
}

/** What one scoring request holds: `batch` rows of seqLen input tokens and their next-token targets. */
export interface ScoreBatch {
  /** names the activations passed between stages (tag), unique per batch in flight */
  id?: number;
  batch: number;
  inputs: Int32Array;
  targets: Int32Array;
}

export class InferenceStage {
  constructor(
    readonly model: StageModel,
    readonly pp: Collectives,
  ) {
    if (pp.size !== model.stages || pp.rank !== model.stage) {
      throw new InferenceError(`the PP group is rank ${pp.rank} of ${pp.size}, expected ${model.stage} of ${model.stages}`);
    }
  }

  get config(): GptConfig {
    return this.model.config;
  }

  get isFirst(): boolean {
    return this.model.isFirst;
  }

  get isLast(): boolean {
    return this.model.isLast;
  }

  get tpRank(): number {
    return this.model.tpRank;
  }

  /**
   * This rank's part of scoring one batch: embedding (first stage) or the previous stage's activation, the
   * stage's layers, then the next stage or (last stage) the vocab-parallel scores of every position.
   * Returns the scores on the last stage, null elsewhere. Every rank of the job must call it with the same batch.
   */
  async score(b: ScoreBatch): Promise<TokenScores | null> {
    const rows = b.batch * this.config.seqLen;
    if (b.inputs.length !== rows)
      throw new InferenceError(`score: 'inputs' has ${b.inputs.length} tokens, expected batch·seqLen = ${rows}`);
    if (b.targets.length !== rows)
      throw new InferenceError(`score: 'targets' has ${b.targets.length} tokens, expected batch·seqLen = ${rows}`);
    this.checkVocabulary("inputs", b.inputs);
    this.checkVocabulary("targets", b.targets);
    const out = await forwardThroughPipeline([this.model], this.pp, `score:${b.id ?? 0}`, (m, activation) =>
      m.forwardOnly({ batch: b.batch, tokens: b.inputs, activation, targets: b.targets }, "scores"),
    );
    return out?.scores ?? null;
  }

  /** Every rank checks the same tokens, so a bad request fails everywhere before any collective starts. */
  checkVocabulary(name: string, tokens: Int32Array): void {
    const v = this.config.vocabSize;
    const i = tokens.findIndex((t) => t < 0 || t >= v);
    if (i >= 0) throw new InferenceError(`'${name}'[${i}] = ${tokens[i]} is outside the vocabulary [0, ${v})`);
  }
}

/** Loads this rank's slice of the checkpoint at `dir` (a step folder, any saved layout) as a stage model that only infers. */
export function loadStageModel(dir: string, o: Omit<InferenceStageOptions, "groups"> & { groups: { tp: Collectives } }): StageModel {
  checkInferenceLayout(o.config, o);
  const layersPerStage = evenLayerSplit(o.config.layers, o.pp);
  const layout = { pp: o.pp, tp: o.tp, layersPerStage, heads: o.config.heads };
  const shard = loadCheckpointShard(dir, {
    layout,
    coord: { stage: o.stage, tpRank: o.tpRank },
    params: gptParameterLayout(o.config),
    optimizer: false,
  });
  const model = new StageModel({
    config: o.config,
    layout: { sizes: { pp: o.pp, tp: o.tp } },
    stage: o.stage,
    tpRank: o.tpRank,
    groups: { tp: o.groups.tp },
    layersPerStage,
    backend: o.backend,
  });
  model.load(shard.params);
  return model;
}

/** Loads this rank's slice of the checkpoint at `dir` (a step folder, any saved layout) as an inference stage. */
export function loadInferenceStage(dir: string, o: InferenceStageOptions): InferenceStage {
  checkInferenceLayout(o.config, o);
  const { tp, pp } = o.groups;
  if (tp.size !== o.tp || tp.rank !== o.tpRank)
    throw new InferenceError(`the TP group is rank ${tp.rank} of ${tp.size}, expected ${o.tpRank} of ${o.tp}`);
  if (pp.size !== o.pp || pp.rank !== o.stage)
    throw new InferenceError(`the PP group is rank ${pp.rank} of ${pp.size}, expected ${o.stage} of ${o.pp}`);
  return new InferenceStage(loadStageModel(dir, o), pp);
}
