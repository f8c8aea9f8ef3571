// Public face of parallel inference: evaluation and generation on the workers of a (pp, tp) layout.
//
//   const opened = await openInferenceModel(dir, { parallel: { pp: 2, tp: 2 } });   // or no `parallel`: one process
//   await evaluateTasks(opened.scoring, opened.tokenizer, tasks, [0, 1], { seed: 1 });  // actors/eval
//   await opened.generate(prompt, { maxNewTokens: 50, sampling: { temperature: 0 }, onToken });   // streamed
//   await opened.close();
//
// Workers (worker-main.ts) are supervised actors started through a host agent; each loads its slice of a
// checkpoint of any layout and joins the CPU collectives. The driver (driver.ts) sends token ids over NATS and
// gets back log-probabilities, argmax flags or a stream of sampled token ids (protocol.ts).
export { InferenceError } from "./errors.ts";
export { checkInferenceLayout, type InferenceLayout } from "./layout.ts";
export { InferenceStage, loadInferenceStage, type InferenceStageOptions, type ScoreBatch, type StageGroups } from "./inference-stage.ts";
export { StageDecoder } from "./stage-decoder.ts";
export { gatherLogits, scoreTargets, type TokenScores, type VocabShard } from "./vocab-head.ts";
export { InferenceJob, startInferenceJob, type InferenceJobOptions } from "./driver.ts";
export { openInferenceModel, type OpenedModel, type ParallelPlacement } from "./open-model.ts";
export { addParallelOptions, parallelPlacementOf, type ParallelCliOptions } from "./cli-options.ts";
