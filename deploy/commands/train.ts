// `troupe train <config.yaml>`: trains a GPT on one rank (data prep, progress, checkpoints, samples).
import type { Command } from "commander";

interface TrainCliOptions {
  resume?: boolean;
  runDir?: string;
  steps?: string;
  threads?: string;
  samples: boolean;
  progress?: "bar" | "lines";
}

function positiveInt(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got '${text}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command("train")
    .description("train a GPT on this machine (one rank) from a YAML config")
    .argument("<config>", "training config (YAML), e.g. examples/brown-tiny.yaml")
    .option("--resume", "continue the run in the run directory from its latest checkpoint, bit for bit")
    .option("--run-dir <dir>", "where checkpoints, logs, metrics.csv and loss.svg go (default: config runDir, else runs/<name>)")
    .option("--steps <n>", "train this many steps in total (overrides train.tokens / train.steps)")
    .option("--threads <n>", "BLAS threads for the math (overrides config threads)")
    .option("--no-samples", "skip the sampled continuations at the end")
    .option("--progress <mode>", "force 'bar' (live bar) or 'lines' (plain periodic lines); default: bar on a terminal")
    .addHelpText(
      "after",
      `
The run directory receives:
  checkpoints/step-NNNNNNNN/   safetensors weights + optimizer state + manifest.json (sha256 of each file)
  checkpoints/latest          name of the newest whole checkpoint
  metrics.csv                 step, tokens, batch, lr, loss, grad_norm, val_loss, tokens/s
  loss.svg                    loss curve with the corpus's unigram entropy as a reference line
  train.log                   structured pino log (JSON lines)

Ctrl-C finishes the step in flight, saves a checkpoint and exits; --resume continues it exactly.
At the end it prints the validation loss against the unigram entropy of the corpus (a model that
ignores context cannot beat it) and a few sampled continuations of the config's prompts.

Example:
  troupe train examples/brown-tiny.yaml
  troupe train examples/brown-tiny.yaml --resume`,
    )
    .action(async (configFile: string, opts: TrainCliOptions) => {
      if (opts.progress !== undefined && opts.progress !== "bar" && opts.progress !== "lines") {
        throw new Error(`--progress must be 'bar' or 'lines', got '${opts.progress}'`);
      }
      const steps = positiveInt("--steps", opts.steps);
      const threads = positiveInt("--threads", opts.threads);
      const { runTraining } = await import("../../actors/train/run.ts");
      const { defaultBackends } = await import("../../actors/train/default-backends.ts");
      await runTraining(
        {
          configFile,
          resume: opts.resume === true,
          runDir: opts.runDir,
          steps,
          threads,
          noSamples: !opts.samples,
          tty: opts.progress === undefined ? undefined : opts.progress === "bar",
        },
        defaultBackends((line) => console.log(line)),
      );
    });
}
