// Zero/one/k-shot prompts: k solved examples drawn from the task's train split by seed, then the query.
// Each query gets its own draw, a pure function of (seed, query index), so results are reproducible
// and independent of the order in which queries are scored.
import { SeededRandom, deriveSeed } from "../generate/rng.ts";
import type { PromptFormat, Task, TaskExample } from "./types.ts";

export const DEFAULT_PROMPT_FORMAT: PromptFormat = { targetDelimiter: " ", exampleSeparator: "\n\n" };

/** Examples that are scored: test, or validation when the task has no test split. */
export function scoredSplit(task: Task): TaskExample[] {
  return task.test.length > 0 ? task.test : task.validation;
}

/** Where few-shot examples come from: train, or validation when the task has no train split. */
export function shotPool(task: Task): TaskExample[] {
  return task.train.length > 0 ? task.train : task.validation;
}

/** Throws a clear error when `task` cannot supply `shots` examples per query. */
export function checkShotCount(task: Task, shots: number): void {
  if (!Number.isInteger(shots) || shots < 0) throw new RangeError(`shot count must be a whole number >= 0, got ${shots}`);
  const pool = shotPool(task);
  const available = pool === scoredSplit(task) ? pool.length - 1 : pool.length;
  if (shots > available) {
    const split = pool === task.train ? "train" : "validation";
    throw new RangeError(`task ${task.name}: ${shots} shots asked, but its ${split} split offers only ${available} examples per query`);
  }
}

/** The right answer's text. */
function answerOf(example: TaskExample): string {
  return example.kind === "completion" ? example.target : example.choices[example.label];
}

/**
 * k distinct examples from `pool` for query number `queryIndex`, without replacement.
 * `exclude` keeps the query itself out when the pool is the scored split.
 */
export function drawShots(pool: readonly TaskExample[], k: number, seed: number, queryIndex: number, exclude?: TaskExample): TaskExample[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`shot count must be a whole number >= 0, got ${k}`);
  const candidates = exclude ? pool.filter((ex) => ex !== exclude) : [...pool];
  if (k > candidates.length) {
    throw new RangeError(`cannot draw ${k} shots from ${candidates.length} available examples`);
  }
  const rng = new SeededRandom(deriveSeed(seed, queryIndex));
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(candidates.length - i);
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  return candidates.slice(0, k);
}

/** The text before the answer: description, solved shots, then the query's context. */
export function buildContext(shots: readonly TaskExample[], query: TaskExample, format: PromptFormat): string {
  const parts: string[] = [];
  if (format.description) parts.push(format.description);
  for (const shot of shots) parts.push(shot.context + format.targetDelimiter + answerOf(shot));
  parts.push(query.context);
  return parts.join(format.exampleSeparator);
}

/** Candidate continuations of the query: the target alone, or each choice. */
export function continuationsOf(query: TaskExample, format: PromptFormat): string[] {
  return query.kind === "completion"
    ? [format.targetDelimiter + query.target]
    : query.choices.map((choice) => format.targetDelimiter + choice);
}
