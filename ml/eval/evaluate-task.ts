// One task at one shot count: build each query's prompt, score its continuations, aggregate metrics.
import { completionMetrics, multipleChoiceMetrics } from "./metrics.ts";
import { DEFAULT_PROMPT_FORMAT, buildContext, checkShotCount, continuationsOf, drawShots, scoredSplit, shotPool } from "./prompt.ts";
import { scoreRequests } from "./scorer.ts";
import type { LoglikelihoodRequest, PromptFormat, ScoringModel, Task, TaskScore, TextTokenizer } from "./types.ts";

export interface EvaluateOptions {
  shots: number;
  /** Seeds the few-shot draws. */
  seed: number;
  format?: PromptFormat;
  /** Score only the first N examples. */
  limit?: number;
  /** Rows per forward pass. */
  batch?: number;
  /** Token used as the context when a prompt is empty (the end-of-text token). */
  endOfTextToken?: number;
}

/** Token ids of `text` as a plain array; an empty context becomes [endOfTextToken]. */
function encodeContext(tokenizer: TextTokenizer, text: string, endOfTextToken: number | undefined): number[] {
  const ids = Array.from(tokenizer.encode(text));
  if (ids.length === 0 && endOfTextToken !== undefined) return [endOfTextToken];
  return ids;
}

export async function evaluateTask(
  model: ScoringModel,
  tokenizer: TextTokenizer,
  task: Task,
  options: EvaluateOptions,
): Promise<TaskScore> {
  checkShotCount(task, options.shots);
  const format = options.format ?? DEFAULT_PROMPT_FORMAT;
  const scored = scoredSplit(task).slice(0, options.limit ?? Infinity);
  const pool = shotPool(task);
  const poolIsScored = pool === scoredSplit(task);
  const requests: LoglikelihoodRequest[] = [];
  const owners: number[] = []; // query index of each request
  scored.forEach((query, q) => {
    const shots = drawShots(pool, options.shots, options.seed, q, poolIsScored ? query : undefined);
    const context = encodeContext(tokenizer, buildContext(shots, query, format), options.endOfTextToken);
    for (const continuation of continuationsOf(query, format)) {
      requests.push({ context, continuation: Array.from(tokenizer.encode(continuation)) });
      owners.push(q);
    }
  });
  const results = await scoreRequests(model, requests, { batch: options.batch, greedy: task.kind === "completion" });
  const truncatedQueries = new Set(owners.filter((_, i) => results[i].truncated)).size;

  let metrics: Record<string, number>;
  if (task.kind === "completion") {
    metrics = completionMetrics(results.map((r) => ({ logLikelihood: r.logLikelihood, greedy: r.greedy === true })));
  } else {
    let next = 0;
    metrics = multipleChoiceMetrics(
      scored.map((query) => {
        if (query.kind !== "multiple_choice") throw new Error(`task ${task.name} mixes example kinds`);
        const lls = results.slice(next, next + query.choices.length).map((r) => r.logLikelihood);
        next += query.choices.length;
        return { logLikelihoods: lls, choiceLengths: query.choices.map((c) => c.length), label: query.label };
      }),
    );
  }
  return { task: task.name, kind: task.kind, shots: options.shots, examples: scored.length, metrics, truncated: truncatedQueries };
}

/** Every task at every shot count, in that order; `onResult` sees each score as it is ready. */
export async function evaluateTasks(
  model: ScoringModel,
  tokenizer: TextTokenizer,
  tasks: readonly Task[],
  shotCounts: readonly number[],
  options: Omit<EvaluateOptions, "shots"> & { onResult?: (score: TaskScore) => void },
): Promise<TaskScore[]> {
  const scores: TaskScore[] = [];
  for (const task of tasks) {
    for (const shots of shotCounts) {
      const score = await evaluateTask(model, tokenizer, task, { ...options, shots });
      options.onResult?.(score);
      scores.push(score);
    }
  }
  return scores;
}
