// `troupe eval`: zero/one/few-shot evaluation of a checkpoint on JSONL tasks, and the bias probe.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { formatBiasProbe, runBiasProbe, type BiasProbeResult } from "../../ml/eval/bias-probe.ts";
import { evaluateTasks } from "../../ml/eval/evaluate-task.ts";
import { wholeNumber, wholeNumberList } from "../../ml/eval/option-values.ts";
import { formatScores, reportJson } from "../../ml/eval/report.ts";
import { checkShotCount } from "../../ml/eval/prompt.ts";
import { loadTask } from "../../ml/eval/task-file.ts";
import { addParallelOptions, parallelPlacementOf, type ParallelCliOptions } from "../inference-options.ts";
import { openInferenceModel } from "../../actors/inference/open-model.ts";

interface EvalCliOptions extends ParallelCliOptions {
  checkpoint: string;
  task: string[];
  shots: string;
  seed: string;
  limit?: string;
  batch: string;
  bias?: boolean;
  out: string;
  tokenizer?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command("eval")
    .description(summaryOf("eval"))
    .requiredOption("--checkpoint <dir>", "checkpoint step folder, or a checkpoint root / run directory (its latest checkpoint)")
    .option("--task <file...>", "task files (JSONL); e.g. examples/tasks/brown-lastword.jsonl", [])
    .option("--shots <list>", "comma-separated shot counts; examples drawn from each task's train split", "0,1")
    .option("--seed <n>", "seed of the few-shot draws", "1234")
    .option("--limit <n>", "score only the first N examples of each task")
    .option("--batch <n>", "sequences per forward pass", "8")
    .option("--bias", 'also run the bias probe ("The {occupation} was a" → man/woman …)')
    .option("--out <file>", "write results as JSON here", "eval-results.json")
    .option("--tokenizer <file>", "tokenizer.json to use instead of the one the checkpoint names")
    .option("--dp <n>", "replicas of pp × tp workers; batches of requests are spread over them", "1");
  addParallelOptions(cmd)
    .addHelpText(
      "after",
      `
Task lines (one task kind per file; splits train / validation / test):
  {"split":"test","context":"He opened the","target":"door"}                          completion: greedy last word (acc) and ppl
  {"split":"test","context":"Water is","choices":["dry.","wet."],"label":1}            multiple choice: acc and acc_norm
Prompts join k solved train examples and the query with blank lines, as lm-evaluation-harness does.
With --tp/--pp/--dp the checkpoint (saved with any layout) is scored by dp × pp × tp worker processes, each
holding its shard: pipeline stages pass activations, tensor-parallel ranks split heads, MLP and vocabulary
(the log-softmax is vocab-parallel), replicas take different batches; only token ids and scores go through
NATS. Scores equal one process's.

Examples:
  troupe eval --checkpoint runs/brown-tiny --task examples/tasks/brown-lastword.jsonl examples/tasks/brown-nextsentence.jsonl --shots 0,1,3
  troupe eval --checkpoint runs/brown-tiny --bias
  troupe eval --checkpoint runs/brown-3d --task examples/tasks/brown-nextsentence.jsonl --tp 2 --pp 2`,
    )
    .action(async (options: EvalCliOptions) => {
      if (options.task.length === 0 && !options.bias) throw new UsageError("nothing to evaluate: give --task FILE... and/or --bias");
      const shots = wholeNumberList("--shots", options.shots);
      const seed = wholeNumber("--seed", options.seed);
      const batch = wholeNumber("--batch", options.batch, 1);
      const limit = options.limit === undefined ? undefined : wholeNumber("--limit", options.limit, 1);
      const tasks = options.task.map((file) => loadTask(file));
      for (const task of tasks) for (const k of shots) checkShotCount(task, k); // fail before loading the model
      const parallel = parallelPlacementOf(options);
      const opened = await openInferenceModel(options.checkpoint, { tokenizerFile: options.tokenizer, parallel });
      const { scoring, tokenizer, endOfText } = opened;
      let results;
      let bias: BiasProbeResult | undefined;
      try {
        console.log(`checkpoint ${opened.dir} (step ${opened.step}), window ${opened.config.seqLen} tokens, on ${opened.where}`);
        results = await evaluateTasks(scoring, tokenizer, tasks, shots, {
          seed,
          batch,
          limit,
          endOfTextToken: endOfText,
          onResult: (s) => console.log(`  ${s.task} ${s.shots}-shot: acc ${s.metrics.acc.toFixed(4)} (${s.examples} examples)`),
        });
        if (results.length > 0) console.log("\n" + formatScores(results));
        if (options.bias) {
          bias = await runBiasProbe(scoring, tokenizer, undefined, { batch });
          console.log('\nbias probe: probability of male vs female identifiers after "The {occupation} was a"\n' + formatBiasProbe(bias));
        }
      } finally {
        await opened.close();
      }
      mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
      writeFileSync(
        options.out,
        reportJson({ checkpoint: opened.dir, step: opened.step, seed, shots, limit, createdAt: new Date().toISOString(), results, bias }),
      );
      console.log(`\nresults written to ${options.out}`);
    });
}
