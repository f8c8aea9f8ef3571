// `troupe generate`: continue a prompt with a trained checkpoint, streaming tokens as they come.
import type { Command } from "commander";
import { loadModel } from "../../actors/eval/load-model.ts";
import { realNumber, wholeNumber } from "../../actors/eval/option-values.ts";
import { generate } from "../../actors/generate/generate.ts";
import type { SamplingOptions } from "../../actors/generate/sampling.ts";
import { TextStream } from "../../actors/generate/text-stream.ts";

interface GenerateCliOptions {
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
  program
    .command("generate")
    .description("continue a prompt with a checkpoint: greedy, temperature, top-k or top-p sampling, streamed")
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
    .option("--stats", "print tokens/s when done (to stderr)")
    .addHelpText(
      "after",
      `
Output streams to stdout as tokens are chosen; generation stops after --max-tokens or the end-of-text token.
The context window slides by half its length when full.

Examples:
  troupe generate --checkpoint runs/brown-tiny --prompt "The jury said" --greedy
  troupe generate --checkpoint runs/brown-tiny/checkpoints/step-00000400 --prompt "It was" --temperature 0.7 --top-k 40`,
    )
    .action(async (options: GenerateCliOptions) => {
      const sampling = samplingFrom(options);
      const maxNewTokens = wholeNumber("--max-tokens", options.maxTokens);
      const seed = wholeNumber("--seed", options.seed);
      if (options.prompt === "") throw new Error("--prompt is empty; give some text to continue");
      const { model, tokenizer, endOfText } = await loadModel(options.checkpoint, { tokenizerFile: options.tokenizer });
      const prompt = Array.from(tokenizer.encode(options.prompt));
      const stream = new TextStream(tokenizer);
      process.stdout.write(options.prompt);
      const started = performance.now();
      const result = await generate(model, prompt, {
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
      if (options.stats) {
        const seconds = (performance.now() - started) / 1000;
        const n = result.tokens.length;
        process.stderr.write(
          `${n} tokens in ${seconds.toFixed(2)} s (${(n / seconds).toFixed(1)} tokens/s, ${options.cache ? "KV cache" : "no cache"}; stopped by ${result.stoppedBy})\n`,
        );
      }
    });
}
