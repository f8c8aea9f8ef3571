// Rebuilds the example evaluation tasks from held-out Brown documents (deterministic: same seed,
// same files). Run: npx tsx examples/tasks/build.ts [--seed N]
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildBrownExampleTasks } from "../../ml/eval/brown-example-tasks.ts";
import { formatTask } from "../../ml/eval/task-file.ts";

const seedFlag = process.argv.indexOf("--seed");
const seed = seedFlag >= 0 ? Number(process.argv[seedFlag + 1]) : 2026;
if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a whole number >= 0, got '${process.argv[seedFlag + 1]}'`);

const here = path.dirname(fileURLToPath(import.meta.url));
for (const task of buildBrownExampleTasks({ seed })) {
  const file = path.join(here, `${task.name}.jsonl`);
  writeFileSync(file, formatTask(task));
  console.log(`${file}: ${task.kind}, ${task.train.length} train + ${task.test.length} test examples`);
}
