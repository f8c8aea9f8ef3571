// Interfaces of zero/few-shot evaluation. Implementations live in the files beside this one.
import type { TextTokenizer } from "../data/text-tokenizer.ts";
import type { GptConfig, GptModel } from "../model/types.ts";

export type { TextTokenizer };

/**
 * A model that scores targets without handing out logits (the driver of a parallel inference job): per
 * position the log-probability of the target and whether it is the most likely token (first on ties).
 */
export interface TargetScorer {
  readonly config: GptConfig;
  /** [batch·seqLen] each, as GptModel.tokenLogProbs. */
  tokenScores(inputs: Int32Array, targets: Int32Array, batch: number): Promise<{ logProbs: Float32Array; isArgmax: Uint8Array }>;
}

/** What evaluation scores with: a single-process model or a parallel one. */
export type ScoringModel = GptModel | TargetScorer;

/** LAMBADA style: predict the last word of a passage. */
export interface CompletionExample {
  kind: "completion";
  context: string; // the passage without its last word
  target: string; // the last word (no leading space)
}

/** Pick the right continuation of `context` among `choices` by log-likelihood. */
export interface MultipleChoiceExample {
  kind: "multiple_choice";
  context: string;
  choices: string[];
  label: number; // index of the right choice
}

export type TaskExample = CompletionExample | MultipleChoiceExample;
type TaskKind = TaskExample["kind"];
export type Split = "train" | "validation" | "test";

export interface Task {
  name: string;
  kind: TaskKind;
  /** Few-shot examples are drawn from here (falls back to `validation` when empty, as MT-NLG did). */
  train: TaskExample[];
  validation: TaskExample[];
  /** Scored examples (falls back to `validation` when empty). */
  test: TaskExample[];
}

/** How prompts are assembled. Defaults follow lm-evaluation-harness. */
export interface PromptFormat {
  /** Between the context and its answer. Default " ". */
  targetDelimiter: string;
  /** Between few-shot examples and before the query. Default "\n\n". */
  exampleSeparator: string;
  /** Optional line placed before everything. */
  description?: string;
}

/** One scored request: the log-likelihood of `continuation` after `context`. */
export interface LoglikelihoodRequest {
  context: number[];
  continuation: number[];
}

export interface LoglikelihoodResult {
  /** Sum of log-probabilities (nats) of the continuation tokens. */
  logLikelihood: number;
  /** Every continuation token was the argmax of its position (only computed when asked). */
  greedy?: boolean;
  /** The context was cut on the left to fit the model's window. */
  truncated: boolean;
}

/** Metrics of one task at one shot count. */
export interface TaskScore {
  task: string;
  kind: TaskKind;
  shots: number;
  examples: number;
  /** Name → value: acc, acc_stderr, and acc_norm (multiple choice) or ppl (completion). */
  metrics: Record<string, number>;
  /** Prompts cut on the left to fit the context window. */
  truncated: number;
}
