// One `troupe train` run: config → data (cached) → model → training loop with progress, logs, metrics
// CSV, loss curve and checkpoints → sampled continuations and a comparison with the unigram entropy.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino, type Logger } from "pino";
import { latestCheckpointDir, listCheckpoints, sha256File } from "../checkpoint/store.ts";
import { describeCorruption, latestGoodCheckpoint, setAsideCorrupt } from "../checkpoint/verify.ts";
import { generate } from "../generate/generate.ts";
import type { GptModel } from "../model/types.ts";
import type { PreparedCorpus, TrainBackends } from "./backends.ts";
import { batchRampOf, loadTrainConfig, type TrainConfig } from "./config.ts";
import { stopOnSignals } from "./interrupt.ts";
import { lossCurveSvg } from "./loss-svg.ts";
import { MetricsCsv } from "./metrics-csv.ts";
import { formatDuration, ProgressDisplay } from "./progress.ts";
import { planRun } from "./schedule.ts";
import { Trainer, type TrainOutcome } from "./trainer.ts";

export class TrainRunError extends Error {
  override name = "TrainRunError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface TrainRunOptions {
  configFile: string;
  resume?: boolean;
  runDir?: string;
  /** Total steps for this run (overrides train.tokens / train.steps). */
  steps?: number;
  threads?: number;
  /** Skip the sampled continuations at the end. */
  noSamples?: boolean;
  out?: NodeJS.WriteStream;
  /** Force the progress display mode (default: bar when `out` is a TTY). */
  tty?: boolean;
}

export interface TrainRunResult {
  runDir: string;
  outcome: TrainOutcome;
  unigramEntropy: number;
  samples: { prompt: string; continuation: string }[];
  wallSeconds: number;
}

/**
 * The checkpoint a run continues from: with `resume`, the newest whole one (a corrupt newer one is skipped, `warn`
 * says so, naming the bad file, and it is renamed to <dir>.corrupt); none without. Refuses to resume with nothing (good) saved, and to start
 * afresh over a run's checkpoints (it would mix two runs).
 */
export function checkpointToResume(
  runDir: string,
  checkpointRoot: string,
  resume: boolean,
  warn: (line: string) => void = (line) => process.stderr.write(line + "\n"),
): string | undefined {
  if (!resume) {
    if (latestCheckpointDir(checkpointRoot) || listCheckpoints(checkpointRoot).length > 0) {
      throw new TrainRunError(`${runDir} already holds checkpoints of a run: pass --resume to continue it, or choose another --run-dir`);
    }
    return undefined;
  }
  const good = latestGoodCheckpoint(checkpointRoot);
  if (!good.dir) {
    const why = good.skipped.length > 0 ? `: ${good.skipped.map(describeCorruption).join("; ")}` : "";
    throw new TrainRunError(`nothing to resume: no ${good.skipped.length > 0 ? "good " : ""}checkpoint in ${checkpointRoot}${why}`);
  }
  for (const bad of good.skipped) warn(`${describeCorruption(bad)}; resuming from ${good.dir}`);
  const moved = setAsideCorrupt(checkpointRoot, good);
  if (moved.length > 0) warn(`kept for inspection: ${moved.join(", ")}`);
  return good.dir;
}

/** The run directory: --run-dir, else config.runDir, else runs/<name> (relative to the working directory). */
export function runDirOf(config: TrainConfig, override?: string): string {
  return path.resolve(override ?? config.runDir ?? path.join("runs", config.name));
}

/** The configured prompts continued by `model` (the end of `troupe train`; the distributed runner too). */
export async function sampleContinuations(model: GptModel, corpus: PreparedCorpus, config: TrainConfig): Promise<{ prompt: string; continuation: string }[]> {
  const out: { prompt: string; continuation: string }[] = [];
  for (const [i, prompt] of config.samples.prompts.entries()) {
    const tokens = [...(corpus.startToken !== undefined ? [corpus.startToken] : []), ...corpus.encode(prompt)];
    const result = await generate(model, tokens.slice(-model.config.seqLen), {
      maxNewTokens: config.samples.tokens,
      sampling: { temperature: config.samples.temperature, topK: 40 },
      seed: config.seed + i,
      stopTokens: corpus.startToken !== undefined ? [corpus.startToken] : [],
    });
    out.push({ prompt, continuation: corpus.decode(result.tokens) });
  }
  return out;
}

export async function runTraining(o: TrainRunOptions, backends: TrainBackends): Promise<TrainRunResult> {
  const started = performance.now();
  const out = o.out ?? process.stdout;
  const say = (line: string) => out.write(line + "\n");
  const config = loadTrainConfig(o.configFile);
  if (o.threads !== undefined) config.threads = o.threads;
  if (o.steps !== undefined && (!Number.isInteger(o.steps) || o.steps < 1)) throw new TrainRunError(`--steps must be a positive integer, got ${o.steps}`);
  const runDir = runDirOf(config, o.runDir);
  const checkpointRoot = path.join(runDir, "checkpoints");
  const resumeFrom = checkpointToResume(runDir, checkpointRoot, o.resume === true, say);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  const log: Logger = pino({ name: "train", base: { pid: process.pid } }, pino.destination({ dest: path.join(runDir, "train.log"), sync: true }));
  log.info({ config, resume: resumeFrom }, "run starting");

  backends.setThreads?.(config.threads);
  say(`preparing data (corpus ${config.data.corpus}, vocabulary ${config.data.vocabSize})...`);
  const corpus = await backends.prepareCorpus(config);
  say(`data: ${corpus.summary}`);
  log.info({ summary: corpus.summary, tokenizer: corpus.tokenizerFile, unigramEntropy: corpus.unigramEntropy }, "data ready");

  const modelConfig = { ...config.model, vocabSize: config.data.vocabSize };
  const model = await backends.createModel(modelConfig, config.seed);
  const optimizer = backends.createOptimizer(model, config.optimizer);
  const params = model.parameters().reduce((n, p) => n + p.data.length, 0);
  const plan = planRun(batchRampOf(config), config.model.seqLen, o.steps !== undefined ? { steps: o.steps } : config.train);
  say(
    `model: ${config.model.layers} layers, d ${config.model.dModel}, ${config.model.heads} heads, context ${config.model.seqLen}, ` +
      `${(params / 1e6).toFixed(2)}M parameters; ${plan.steps} steps, ${plan.tokens.toLocaleString("en-US")} tokens; run dir ${runDir}`,
  );

  const stopRequest = new AbortController();
  const trainer = new Trainer({
    config,
    model,
    optimizer,
    data: corpus.data,
    checkpointRoot,
    tokenizer: { file: corpus.tokenizerFile, sha256: existsSync(corpus.tokenizerFile) ? sha256File(corpus.tokenizerFile) : undefined },
    totalSteps: plan.steps,
    signal: stopRequest.signal,
    hooks: {
      onStep: (r) => {
        display.step(r);
        metrics.recordStep(r, display.tokensPerSecond(r.tokensSeen), display.elapsedSeconds());
        log.info({ ...r }, "step");
      },
      onValidation: (p, valLoss) => {
        display.validation(p.step, valLoss);
        metrics.recordValidation(p, valLoss);
        log.info({ ...p, valLoss }, "validation");
        drawCurve();
      },
      onCheckpoint: (p, dir) => log.info({ ...p, dir }, "checkpoint saved"),
    },
  });
  if (resumeFrom) {
    trainer.resumeFrom(resumeFrom);
    say(`resuming from ${resumeFrom} (step ${trainer.progress.step}, ${trainer.progress.tokensSeen.toLocaleString("en-US")} tokens)`);
  }
  // On resume, rows after the checkpoint's step belong to the interrupted run's lost steps and are dropped.
  const metrics = new MetricsCsv(path.join(runDir, "metrics.csv"), resumeFrom ? trainer.progress.step : undefined);
  const reference = { label: `unigram entropy ${corpus.unigramEntropy.toFixed(3)}`, value: corpus.unigramEntropy };
  const drawCurve = () => {
    const points = metrics.rows.map((r) => ({ tokens: r.tokens ?? 0, loss: r.loss, valLoss: r.val_loss }));
    writeFileSync(path.join(runDir, "loss.svg"), lossCurveSvg(points, { title: `${config.name}: loss (nats/token)`, reference }));
  };
  const display = new ProgressDisplay({
    totalSteps: plan.steps,
    totalTokens: plan.tokens,
    startStep: trainer.progress.step,
    startTokens: trainer.progress.tokensSeen,
    lineEvery: config.logInterval,
    stream: out,
    tty: o.tty,
  });
  const removeSignalHandlers = stopOnSignals(stopRequest, (sig) => {
    log.warn({ signal: sig }, "stop requested");
    display.message(`${sig}: finishing this step and saving a checkpoint (press Ctrl-C again to quit at once)`);
  });
  let outcome: TrainOutcome;
  try {
    outcome = await trainer.run();
  } catch (err) {
    log.error({ err }, "training failed");
    throw err;
  } finally {
    display.stop();
    removeSignalHandlers();
    metrics.flush();
    drawCurve();
  }
  const tps = display.tokensPerSecond(outcome.progress.tokensSeen);
  log.info({ outcome, tokensPerSecond: tps }, "run finished");
  say(
    `${outcome.interrupted ? "stopped" : "finished"} at step ${outcome.progress.step}/${plan.steps}, ` +
      `${outcome.progress.tokensSeen.toLocaleString("en-US")} tokens, ${Math.round(tps).toLocaleString("en-US")} tokens/s, ` +
      `${formatDuration(display.elapsedSeconds())}; checkpoint ${outcome.checkpointDir ?? "(none)"}`,
  );
  let samples: { prompt: string; continuation: string }[] = [];
  if (!outcome.interrupted) {
    const val = outcome.lastValLoss;
    if (val !== undefined) {
      const verdict = val < corpus.unigramEntropy ? "below" : "NOT below";
      say(
        `validation loss ${val.toFixed(3)} nats/token vs unigram entropy ${corpus.unigramEntropy.toFixed(3)}: ` +
          `${verdict} it by ${Math.abs(corpus.unigramEntropy - val).toFixed(3)} (perplexity ${Math.exp(val).toFixed(1)} vs ${Math.exp(corpus.unigramEntropy).toFixed(1)})`,
      );
    }
    if (!o.noSamples && config.samples.prompts.length > 0) {
      samples = await sampleContinuations(model, corpus, config);
      say("samples:");
      for (const s of samples) say(`  ${JSON.stringify(s.prompt)} → ${JSON.stringify(s.prompt + s.continuation)}`);
      log.info({ samples }, "samples");
    }
  } else {
    say(`continue with: troupe train ${o.configFile} --resume --run-dir ${runDir}`);
  }
  say(`outputs: ${path.join(runDir, "metrics.csv")}, ${path.join(runDir, "loss.svg")}, ${path.join(runDir, "train.log")}`);
  return { runDir, outcome, unigramEntropy: corpus.unigramEntropy, samples, wallSeconds: (performance.now() - started) / 1000 };
}
