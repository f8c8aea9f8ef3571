// `troupe train <config.yaml>`: a config with one rank trains here (data prep, progress, checkpoints, samples); a
// config whose `parallel` section asks for more than one rank (or any config with --detach, --name, --cluster or
// --nats) is a job submitted to the cluster, run there by a supervised coordinator actor and followed here.
import type { Command } from "commander";
import { exitCodeForSignal, summaryOf } from "../commands-table.ts";
import { UsageError } from "../errors.ts";

interface TrainCliOptions {
  resume?: boolean;
  runDir?: string;
  steps?: string;
  threads?: string;
  samples: boolean;
  progress?: "bar" | "lines";
  detach?: boolean;
  name?: string;
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

const HELP = `
The run directory receives:
  checkpoints/step-NNNNNNNN/   safetensors weights + optimizer state + manifest.json (sha256 of each file)
  checkpoints/latest          name of the newest whole checkpoint
  metrics.csv                 step, tokens, batch, lr, loss, grad_norm, val_loss, tokens/s
  loss.svg                    loss curve (one-rank runs) with the corpus's unigram entropy as a reference line
  train.log                   structured pino log (JSON lines)
  tokenizer.json              the tokenizer the checkpoints name

A config with one rank trains in this process: Ctrl-C finishes the step in flight, saves a checkpoint and
exits 130; --resume continues it exactly.

A config with \`parallel: { dp, pp, tp }\` above one rank is a job in the cluster: the local cluster in
./.troupe (or --cluster DIR) is used, or started as \`troupe up\` starts one, and the job is submitted to it
with a unique id (its name plus a suffix, or --name). A coordinator actor, supervised in the cluster, spawns
one worker process per rank, drives the steps, writes checkpoints in the background (sharded when pp or
tp > 1; any layout resumes on any other), restarts a lost or hung worker alone with its state from a
data-parallel peer (or rolls back to the last checkpoint when dp = 1), and is itself restarted, taking the
job back, if it dies. This command follows the job until it ends; Ctrl-C asks whether to stop it (with a
checkpoint) or detach; --detach returns at once. Losing the terminal never loses the job.
Then: troupe jobs · troupe attach JOB · troupe stop JOB · troupe ps --job JOB · troupe restart --job JOB.

Exit codes: 0 done (or detached), 1 failed, 2 bad command line, 130 stopped by Ctrl-C, 143 by SIGTERM.

Example:
  troupe train examples/brown-tiny.yaml
  troupe train examples/brown-tiny.yaml --resume
  troupe train examples/brown-dp2.yaml          # 2 data-parallel workers, a job in ./.troupe's cluster
  troupe train examples/brown-3d.yaml --detach  # dp 2 × pp 2 × tp 2 = 8 workers; follow with troupe attach`;

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
    .option("-d, --detach", "submit the job to the cluster and return at once with its id")
    .option("--name <id>", "the job's id in the cluster (refused if taken; default: the config's name plus a short suffix)")
    .option("--cluster <dir>", "cluster directory (default $TROUPE_CLUSTER or ./.troupe; started there when not running)")
    .option("--nats <url>", "NATS URL of a running cluster (instead of --cluster)")
    .option("--token-file <file>", "file holding the NATS token (with --nats)")
    .option("--cluster-id <id>", "cluster id (with --nats)", "local")
    .addHelpText("after", HELP)
    .action(async (configFile: string, opts: TrainCliOptions) => {
      if (opts.progress !== undefined && opts.progress !== "bar" && opts.progress !== "lines") {
        throw new UsageError(`--progress must be 'bar' or 'lines', got '${opts.progress}'`);
      }
      if (opts.tokenFile && !opts.nats) throw new UsageError("--token-file needs --nats");
      const steps = positiveInt("--steps", opts.steps);
      const threads = positiveInt("--threads", opts.threads);
      const tty = opts.progress === undefined ? undefined : opts.progress === "bar";
      const { loadTrainConfig } = await import("../../ml/train/config.ts");
      const config = loadTrainConfig(configFile);
      const { dp, pp, tp } = config.parallel;
      const asJob = dp * pp * tp > 1 || opts.detach || opts.name !== undefined || opts.cluster !== undefined || opts.nats !== undefined;
      if (asJob) {
        process.exitCode = await trainAsJob(configFile, config, opts, { steps, threads, tty });
        return;
      }
      const { runTraining } = await import("../../ml/train/run.ts");
      const { defaultBackends } = await import("../../ml/train/default-backends.ts");
      const r = await runTraining(
        { configFile, resume: opts.resume === true, runDir: opts.runDir, steps, threads, noSamples: !opts.samples, tty },
        defaultBackends((line) => console.log(line)),
      );
      // stopped by Ctrl-C or SIGTERM (with a checkpoint): not a success for a scheduler
      if (r.stoppedBy) process.exitCode = exitCodeForSignal(r.stoppedBy);
    });
}

async function trainAsJob(
  configFile: string,
  config: Awaited<ReturnType<typeof import("../../ml/train/config.ts").loadTrainConfig>>,
  opts: TrainCliOptions,
  o: { steps?: number; threads?: number; tty?: boolean },
): Promise<number> {
  const { checkDistributable } = await import("../../actors/coordinator/run-distributed.ts");
  checkDistributable(config);
  if (opts.nats) {
    const { checkReachable, resolveConnection } = await import("../cluster/cluster-options.ts");
    await checkReachable(resolveConnection(opts)); // before the data preparation
  }
  if (config.data.corpus === "brown") {
    // every worker prepares its data; in a fresh directory each would train the tokenizer at once, one synchronous
    // stretch longer than the heartbeat timeout on a loaded machine: fill the cache here first (the job runs in
    // this directory, so its workers read it; a cache hit costs well under a second)
    const { defaultBackends } = await import("../../ml/train/default-backends.ts");
    const corpus = await defaultBackends().prepareCorpus(config);
    if (!corpus.summary.includes("from cache")) console.log(`data: ${corpus.summary}`);
  }
  const { submitAndFollow } = await import("../submit-job.ts");
  return submitAndFollow({
    configFile,
    config,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    detach: opts.detach === true,
    resume: opts.resume === true,
    ...(opts.runDir !== undefined ? { runDir: opts.runDir } : {}),
    ...(o.steps !== undefined ? { steps: o.steps } : {}),
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    noSamples: !opts.samples,
    ...(o.tty !== undefined ? { tty: o.tty } : {}),
    ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
    ...(opts.nats !== undefined ? { nats: opts.nats } : {}),
    ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}),
    ...(opts.clusterId !== undefined ? { clusterId: opts.clusterId } : {}),
  });
}
