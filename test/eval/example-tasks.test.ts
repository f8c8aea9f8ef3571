// The shipped example tasks are what the builder makes from held-out Brown documents.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildBrownExampleTasks } from "../../ml/eval/brown-example-tasks.ts";
import { formatTask, loadTask } from "../../ml/eval/task-file.ts";
import { defaultSplit, loadBrownCorpus, splitDocuments } from "../../ml/data/mod.ts";

describe("examples/tasks", () => {
  const tasks = buildBrownExampleTasks({ seed: 2026 });

  it("are up to date with the builder (npx tsx examples/tasks/build.ts)", () => {
    for (const task of tasks) {
      const file = `examples/tasks/${task.name}.jsonl`;
      expect(readFileSync(file, "utf8")).toBe(formatTask(task));
      expect(loadTask(file).test).toHaveLength(200);
    }
  });

  it("come from held-out documents only", () => {
    const { train } = splitDocuments(loadBrownCorpus(), defaultSplit);
    const trainingText = train.map((d) => d.text).join("\n");
    for (const task of tasks) {
      for (const ex of [...task.train, ...task.test]) {
        // a passage's opening words would be in the training text if it came from there
        expect(trainingText.includes(ex.context.slice(0, 60))).toBe(false);
      }
    }
  });
});
