// `troupe train <config.yaml>`: trains a GPT on one rank (data prep, progress, checkpoints, samples),
// or, when the config's `parallel` section asks for more than one rank, as a distributed job whose
// coordinator runs here and drives one worker process per rank.
import { exitCodeForSignal } from "../commands-table.ts";
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";

interface TrainCliOptions {
  resume?: boolean;
  runDir?: string;
  steps?: string;
  threads?: string;
  samples: boolean;
  progress?: "bar" | "lines";
  cluster?: string;
  nats?: string;
  tokenFile?: string;
  clusterId?: string;
}

function positiveInt(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command("train")
    .description(summaryOf("train"))
    .argument("<config>", "training config (YAML), e.g. examples/brown-tiny.yaml")
    .option("--resume", "continue the run in the run directory from its latest checkpoint, bit for bit")
    .option("--run-dir <dir>", "where checkpoints, logs, metrics.csv and loss.svg go (default: config runDir, else runs/<name>)")
    .option("--steps <n>", "train this many steps in total (overrides train.tokens / train.steps)")
    .option("--threads <n>", "BLAS threads for the math (overrides config threads)")
    .option("--no-samples", "skip the sampled continuations at the end")
    .option("--progress <mode>", "force 'bar' (live bar) or 'lines' (plain periodic lines); default: bar on a terminal")
    .option("--cluster <dir>", "distributed runs: use the cluster `troupe up` started in <dir> (default: a private one for this run)")
    .option("--nats <url>", "distributed runs: NATS URL of a running cluster (instead of --cluster)")
    .option("--token-file <file>", "file holding the NATS token (with --nats)")
    .option("--cluster-id <id>", "cluster id (with --nats)", "local")
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

A config with \`parallel: { dp: 2 }\` (dp · pp · tp > 1) runs as a distributed job: with no --cluster or
--nats it starts a private nats-server and host agent (store in <run dir>/nats), spawns one worker
process per rank (data parallel, or pipeline/tensor shards of the parallel model), drives the steps
(step → ready → apply → commit), writes checkpoints in the background (sharded when pp or tp > 1; any
layout resumes on any other), restarts a lost or hung worker alone with its state from a data-parallel
peer (or rolls back to the last checkpoint when dp = 1), reloads every worker when one is killed
before training started, and stops everything at the end.
\`troupe ps\` / \`troupe events\` / \`troupe restart --job\` / \`troupe chaos\` work against --cluster runs.

Example:
  troupe train examples/brown-tiny.yaml
  troupe train examples/brown-tiny.yaml --resume
  troupe train examples/brown-dp2.yaml          # 2 data-parallel workers on a private local cluster
  troupe train examples/brown-3d.yaml           # dp 2 × pp 2 × tp 2 = 8 workers`,
    )
    .action(async (configFile: string, opts: TrainCliOptions) => {
      if (opts.progress !== undefined && opts.progress !== "bar" && opts.progress !== "lines") {
        throw new UsageError(`--progress must be 'bar' or 'lines', got '${opts.progress}'`);
      }
      const steps = positiveInt("--steps", opts.steps);
      const threads = positiveInt("--threads", opts.threads);
      const { loadTrainConfig } = await import("../../ml/train/config.ts");
      const config = loadTrainConfig(configFile);
      const { dp, pp, tp } = config.parallel;
      if (dp * pp * tp === 1 && (opts.cluster || opts.nats || opts.tokenFile)) {
        // nothing would run on that cluster: say so rather than train here and leave the option unused
        const flag = opts.nats ? "--nats" : opts.cluster ? "--cluster" : "--token-file";
        throw new UsageError(`${flag} runs a distributed job on a cluster, but ${configFile} trains on one rank (parallel dp · pp · tp = 1): add a parallel section, or leave ${flag} out`);
      }
      if (dp * pp * tp > 1) {
        const { runDistributed } = await import("../../actors/coordinator/run-distributed.ts");
        const clusterOptions = opts.cluster || opts.nats ? await import("../cluster/cluster-options.ts") : undefined;
        const conn = clusterOptions?.resolveConnection(opts);
        if (conn) await clusterOptions!.checkReachable(conn); // before the data preparation and the run directory
        if (config.data.corpus === "brown") {
          // every worker prepares its data; in a fresh directory each would train the tokenizer at once, one
          // synchronous stretch longer than the heartbeat timeout on a loaded machine: fill the cache here first
          // (workers on this machine then read it; a cache hit costs well under a second)
          const { defaultBackends } = await import("../../ml/train/default-backends.ts");
          const corpus = await defaultBackends().prepareCorpus(config);
          if (!corpus.summary.includes("from cache")) console.log(`data: ${corpus.summary}`);
        }
        const r = await runDistributed({
          configFile,
          resume: opts.resume === true,
          runDir: opts.runDir,
          steps,
          threads,
          natsUrl: conn?.url,
          token: conn?.token,
          clusterId: conn?.clusterId,
          noSamples: !opts.samples,
          tty: opts.progress === undefined ? undefined : opts.progress === "bar",
        });
        if (r.stoppedBy) process.exitCode = exitCodeForSignal(r.stoppedBy);
        return;
      }
      const { runTraining } = await import("../../ml/train/run.ts");
      const { defaultBackends } = await import("../../ml/train/default-backends.ts");
      const r = await runTraining(
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
      // stopped by Ctrl-C or SIGTERM (with a checkpoint): not a success for a scheduler
      if (r.stoppedBy) process.exitCode = exitCodeForSignal(r.stoppedBy);
    });
}
