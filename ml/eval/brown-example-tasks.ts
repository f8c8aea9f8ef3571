// The shipped example tasks (examples/tasks/*.jsonl), built from the Brown corpus's held-out
// validation documents — the same split `troupe train` holds out by default — so a model trained on
// Brown is scored on text it never saw.
import { defaultSplit, loadBrownCorpus, splitDocuments, type SplitOptions } from "../data/mod.ts";
import { buildLastWordTask, buildNextSentenceTask } from "./brown-tasks.ts";
import type { Task } from "./types.ts";

export interface BrownExampleOptions {
  seed: number;
  split?: Partial<SplitOptions>;
  trainExamples?: number;
  testExamples?: number;
}

export function buildBrownExampleTasks(options: BrownExampleOptions): Task[] {
  const { valid } = splitDocuments(loadBrownCorpus(), { ...defaultSplit, ...options.split });
  const sizes = { seed: options.seed, trainExamples: options.trainExamples ?? 40, testExamples: options.testExamples ?? 200 };
  return [buildLastWordTask(valid, sizes), buildNextSentenceTask(valid, sizes)];
}
