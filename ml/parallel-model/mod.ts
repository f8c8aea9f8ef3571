// Public face of the 3D-parallel GPT (what the worker actors call).
//
//   const layout = rankLayout({ dp, pp, tp });                    // ml/parallel/ranks.ts
//   const groups = groupsForRank(world, layout);                  // runtime/collectives
//   const { dp: d, pp: stage, tp: tpRank } = layout.coords[world.rank];
//   const model = await createStageModel({ config, layout, stage, tpRank, groups, seed, microBatch });
//   const executor = createPipelineExecutor({ model, groups, schedule: "1f1b", microbatches: m });
//   const { loss, gradNorm, clipScale } = await executor.step({ inputs, targets }, lr, clip);  // this replica's m micro-batches
// Interleaved 1F1B: build one StageModel per chunk c with layout { sizes: { pp: pp·v, tp } } and stage c·pp + stage,
// and pass them in chunk order: createPipelineExecutor({ model: chunks, groups, schedule: "interleaved", microbatches: m }).
// or, under a coordinator (actors/coordinator/combine.ts):
//   const { lossSum, gradNormSquared } = await executor.runStep({ inputs, targets });   // report ready(k)
//   await executor.apply(lr, clipScale);                                                  // after commit
//   const { lossSum } = await executor.evaluate({ inputs, targets });  // validation: forward only, every rank of the replica
// A step may bring another number of micro-batches than `microbatches` (batch ramp-up): the schedule of each count
// is built once and cached.
//
// The stage model's tensors are the TP slices of the single-rank model's tensors for the same seed
// (ml/parallel/shard-spec.ts: qkv per head group, fc column-split, proj row-split, vocab-parallel wte; the rest replicated),
// so the losses equal the single-rank run's (within float rounding of the changed summation order).
// model.forward(mb, input) → activation (or loss on the last stage); model.backward(mb, dOut) → d(input).
// The last stage runs the head's backward inside its forward (like the single-rank model), keeping only
// d(final residual) per micro-batch. DP gradient buckets start during the step's last backward, as each layer's
// gradients become final (the tied wte copy after the embedding-group all-reduce).
//
// The same stage model infers: model.forwardOnly({ batch, tokens | activation, targets }, "loss" | "scores"),
// and generates over an inference context (KV cache of its layers and heads): ctx = model.newInferenceContext(),
// model.prefill(ctx, n, input), model.decode(ctx, input) → activation (or logits on the last stage).
// forwardThroughPipeline carries any forward-only pass through the stages (validation, scoring, decoding);
// loadInferenceStage / StageDecoder put a checkpoint of any layout on an inference job's ranks.
export { ParallelModelError } from "./errors.ts";
export { copyToTp, reduceFromTp, type TpMapping } from "./tp-mappings.ts";
export { sliceShard, vocabRange } from "./tensor-shards.ts";
export {
  createStageModel,
  evenLayerSplit,
  StageModel,
  type InferenceStageModelOptions,
  type StageInput,
  type StageModelOptions,
  type StageOutput,
} from "./stage-model.ts";
export type { DecodeOutput, ForwardHead, ForwardInput, ForwardOutput } from "./stage-forward.ts";
export { forwardThroughPipeline } from "./forward-pipeline.ts";
export { InferenceStage, loadInferenceStage, loadStageModel, type InferenceStageOptions, type ScoreBatch } from "./inference-stage.ts";
export { StageDecoder } from "./stage-decoder.ts";
export type { TokenScores } from "./vocab-head.ts";
export {
  createPipelineExecutor,
  PipelineExecutor,
  type ExecutorGroups,
  type ParallelStepResult,
  type PipelineExecutorOptions,
  type ReplicaBatch,
} from "./pipeline-executor.ts";
