// Public API of evaluation (other parts import from here).
//
//   const task = loadTask("examples/tasks/brown-lastword.jsonl");      JSONL task → { train, validation, test }
//   taskTexts(task)                                                    every text of a task (decontamination)
//   const { model, tokenizer, endOfText } = await loadModel(dir);      checkpoint of any layout → one process
//   await evaluateTask(model, tokenizer, task, { shots: 1, seed: 1 })  → { metrics: { acc, acc_norm | ppl, … } }
//   await runBiasProbe(model, tokenizer)                               gender–occupation probe
export type * from "./types.ts";
export { CheckpointLoadError, TaskFileError } from "./errors.ts";
export { formatTask, loadTask, parseTask } from "./task-file.ts";
export { DEFAULT_PROMPT_FORMAT, answerOf, buildContext, checkShotCount, continuationsOf, drawShots, scoredSplit, shotPool } from "./prompt.ts";
export { scoreRequests, type ScoreOptions } from "./scorer.ts";
export { completionMetrics, meanWithStderr, multipleChoiceMetrics, pickChoice } from "./metrics.ts";
export { evaluateTask, evaluateTasks, type EvaluateOptions } from "./evaluate-task.ts";
export { formatScores, reportJson, type EvalReport } from "./report.ts";
export { DEFAULT_BIAS_PROBE, formatBiasProbe, runBiasProbe, type BiasProbeConfig, type BiasProbeResult } from "./bias-probe.ts";
export { buildLastWordTask, buildNextSentenceTask, splitSentences, taskTexts, type SourceDocument } from "./brown-tasks.ts";
export { buildBrownExampleTasks } from "./brown-example-tasks.ts";
export { copyBlock, loadCheckpointWeights, loadWeightsInto, modelConfigOf, resolveCheckpointDir, type CheckpointWeights } from "./load-checkpoint.ts";
export { BYTES_TOKENIZER, loadModel, type LoadedModel } from "./load-model.ts";
export { ByteTokenizer } from "./byte-tokenizer.ts";
