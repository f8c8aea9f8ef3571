// `troupe generate`: continue a prompt with a trained checkpoint, streaming tokens as they come.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { realNumber, wholeNumber } from "../../ml/eval/option-values.ts";
import { addParallelOptions, parallelPlacementOf, type ParallelCliOptions } from "../inference-options.ts";
import { openInferenceModel } from "../../actors/inference/open-model.ts";
import type { SamplingOptions } from "../../ml/generate/sampling.ts";
import { TextStream } from "../../ml/generate/text-stream.ts";

interface GenerateCliOptions extends ParallelCliOptions {
  checkpoint: string;
  prompt: string;
  maxTokens: string;
  greedy?: boolean;
  temperature: string;
  topK: string;
  topP: string;
  seed: string;
  cache: boolean;
  tokenizer?: string;
  stats?: boolean;
}

export function samplingFrom(options: GenerateCliOptions): SamplingOptions {
  if (options.greedy) return { temperature: 0 };
  return {
    temperature: realNumber("--temperature", options.temperature, 0, 100),
    topK: wholeNumber("--top-k", options.topK),
    topP: realNumber("--top-p", options.topP, Number.MIN_VALUE, 1),
  };
}

export function register(program: Command): void {
  const cmd = program
    .command("generate")
    .description(summaryOf("generate"))
    .requiredOption("--checkpoint <dir>", "checkpoint step folder, or a checkpoint root / run directory (its latest checkpoint)")
    .requiredOption("--prompt <text>", "text to continue")
    .option("--max-tokens <n>", "new tokens to generate", "100")
    .option("--greedy", "always take the most likely token (same as --temperature 0)")
    .option("--temperature <t>", "divide logits by t before sampling; 0 = greedy", "0.8")
    .option("--top-k <k>", "sample only among the k most likely tokens; 0 = no limit", "0")
    .option("--top-p <p>", "sample only among the most likely tokens whose mass reaches p (nucleus); 1 = no limit", "0.95")
    .option("--seed <n>", "seed of the sampler", "0")
    .option("--no-cache", "recompute the whole context for every token instead of using the KV cache (slow; for checking)")
    .option("--tokenizer <file>", "tokenizer.json to use instead of the one the checkpoint names")
    .option("--stats", "print tokens/s when done (to stderr)");
  addParallelOptions(cmd)
    .addHelpText(
      "after",
      `
Output streams to stdout as tokens are chosen; generation stops after --max-tokens or the end-of-text token.
The context window slides by half its length when full.
With --tp/--pp the checkpoint (saved with any layout) runs on pp × tp worker processes: the KV cache is
split by layers across stages and by heads across tensor-parallel ranks, the last stage gathers the last
position's logits and samples; only token ids go through NATS. Greedy output equals one process's.

Examples:
  troupe generate --checkpoint runs/brown-tiny --prompt "The jury said" --greedy
  troupe generate --checkpoint runs/brown-tiny/checkpoints/step-00000400 --prompt "It was" --temperature 0.7 --top-k 40
  troupe generate --checkpoint runs/brown-3d --prompt "The jury said" --greedy --tp 2 --pp 2`,
    )
    .action(async (options: GenerateCliOptions) => {
      const sampling = samplingFrom(options);
      const maxNewTokens = wholeNumber("--max-tokens", options.maxTokens);
      const seed = wholeNumber("--seed", options.seed);
      if (options.prompt === "") throw new UsageError("--prompt is empty; give some text to continue");
      const parallel = parallelPlacementOf(options);
      const opened = await openInferenceModel(options.checkpoint, { tokenizerFile: options.tokenizer, parallel });
      const { tokenizer, endOfText } = opened;
      const started = performance.now();
      let result;
      try {
        const prompt = Array.from(tokenizer.encode(options.prompt));
        const stream = new TextStream(tokenizer);
        process.stdout.write(options.prompt);
        result = await opened.generate(prompt, {
          maxNewTokens,
          sampling,
          seed,
          useCache: options.cache,
          stopTokens: endOfText === undefined ? [] : [endOfText],
          onToken: (token) => {
            if (token !== endOfText) process.stdout.write(stream.push(token));
          },
        });
        process.stdout.write(stream.flush() + "\n");
      } finally {
        await opened.close();
      }
      if (options.stats) {
        const seconds = (performance.now() - started) / 1000;
        const n = result.tokens.length;
        process.stderr.write(
          `${n} tokens in ${seconds.toFixed(2)} s (${(n / seconds).toFixed(1)} tokens/s, ${options.cache ? "KV cache" : "no cache"}; stopped by ${result.stoppedBy})\n`,
        );
      }
    });
}
