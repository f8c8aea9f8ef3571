// One `troupe train` run on one rank: config → data (cached) → model → the training loop (loop.ts) over the model
// in this process (local-engine.ts), with progress, logs, metrics CSV, loss curve and checkpoints → sampled
// continuations and a comparison with the unigram entropy. A job of several ranks is the same loop over a
// coordinator (actors/coordinator/run-distributed.ts).
import { existsSync } from "node:fs";
import path from "node:path";
import { sha256File } from "../checkpoint/store.ts";
import { generate } from "../generate/generate.ts";
import type { GptModel } from "../model/types.ts";
import type { PreparedCorpus, TrainBackends } from "./backends.ts";
import { batchRampOf, type TrainConfig } from "./config.ts";
import type { EngineStep } from "./engine.ts";
import { signalOf, stopOnSignals } from "./interrupt.ts";
import { LocalEngine } from "./local-engine.ts";
import { TrainingLoop, type LoopOutcome } from "./loop.ts";
import { formatDuration } from "./progress.ts";
import { openRun, type RunDirOptions } from "./run-dir.ts";
import { RunOutput } from "./run-output.ts";
import { planRun } from "./schedule.ts";

export interface TrainRunOptions extends RunDirOptions {
  /** Skip the sampled continuations at the end. */
  noSamples?: boolean;
  out?: NodeJS.WriteStream;
  /** Force the progress display mode (default: bar when `out` is a TTY). */
  tty?: boolean;
}

export interface TrainRunResult {
  runDir: string;
  outcome: LoopOutcome<EngineStep>;
  unigramEntropy: number;
  samples: { prompt: string; continuation: string }[];
  wallSeconds: number;
  /** The signal that stopped the run early (Ctrl-C: SIGINT), if one did. */
  stoppedBy?: NodeJS.Signals;
}

/** The configured prompts continued by `model` (the end of `troupe train`; the distributed runner too). */
export async function sampleContinuations(
  model: GptModel,
  corpus: PreparedCorpus,
  config: TrainConfig,
): Promise<{ prompt: string; continuation: string }[]> {
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
  const { config, runDir, checkpointRoot, resumeFrom, log } = openRun(o, say, "train");

  backends.setThreads?.(config.threads);
  say(`preparing data (corpus ${config.data.corpus}, vocabulary ${config.data.vocabSize})...`);
  const corpus = await backends.prepareCorpus(config);
  say(`data: ${corpus.summary}`);
  log.info({ summary: corpus.summary, tokenizer: corpus.tokenizerFile, unigramEntropy: corpus.unigramEntropy }, "data ready");

  const model = await backends.createModel({ ...config.model, vocabSize: config.data.vocabSize }, config.seed);
  const optimizer = backends.createOptimizer(model, config.optimizer);
  const params = model.parameters().reduce((n, p) => n + p.data.length, 0);
  const plan = planRun(batchRampOf(config), config.model.seqLen, o.steps !== undefined ? { steps: o.steps } : config.train);
  say(
    `model: ${config.model.layers} layers, d ${config.model.dModel}, ${config.model.heads} heads, context ${config.model.seqLen}, ` +
      `${(params / 1e6).toFixed(2)}M parameters; ${plan.steps} steps, ${plan.tokens.toLocaleString("en-US")} tokens; run dir ${runDir}`,
  );

  const tokenizer = { file: corpus.tokenizerFile, sha256: existsSync(corpus.tokenizerFile) ? sha256File(corpus.tokenizerFile) : undefined };
  const engine = new LocalEngine({ config, model, optimizer, data: corpus.data, checkpointRoot, tokenizer });
  const start = resumeFrom ? engine.resumeFrom(resumeFrom) : undefined;
  if (start) say(`resuming from ${resumeFrom} (step ${start.progress.step}, ${start.progress.tokensSeen.toLocaleString("en-US")} tokens)`);
  const reference = { label: `unigram entropy ${corpus.unigramEntropy.toFixed(3)}`, value: corpus.unigramEntropy };
  const output = new RunOutput({
    out,
    tty: o.tty,
    log,
    stepMessage: "step",
    curve: { file: path.join(runDir, "loss.svg"), title: `${config.name}: loss (nats/token)`, reference },
  });
  output.begin({
    metricsFile: path.join(runDir, "metrics.csv"),
    resumedFrom: start?.progress,
    totalSteps: plan.steps,
    totalTokens: plan.tokens,
    lineEvery: config.logInterval,
  });
  const stopRequest = new AbortController();
  const removeSignalHandlers = stopOnSignals(stopRequest, (sig) => output.stopRequested(sig));
  let outcome: LoopOutcome<EngineStep>;
  try {
    outcome = await new TrainingLoop(engine, { config, totalSteps: plan.steps, start, signal: stopRequest.signal, events: output }).run();
    await engine.close();
  } catch (err) {
    log.error({ err }, "training failed");
    await engine.close().catch(() => undefined); // the checkpoint in flight still lands; the step's error is reported
    throw err;
  } finally {
    removeSignalHandlers();
    output.end();
  }
  const tps = output.tokensPerSecond(outcome.progress.tokensSeen);
  const { progress: at, interrupted, lastLoss, lastValLoss, checkpointDir } = outcome;
  log.info({ outcome: { progress: at, interrupted, lastLoss, lastValLoss, checkpointDir }, tokensPerSecond: tps }, "run finished");
  say(
    `${outcome.interrupted ? "stopped" : "finished"} at step ${outcome.progress.step}/${plan.steps}, ` +
      `${outcome.progress.tokensSeen.toLocaleString("en-US")} tokens, ${Math.round(tps).toLocaleString("en-US")} tokens/s, ` +
      `${formatDuration(output.elapsedSeconds())}; checkpoint ${outcome.checkpointDir ?? "(none)"}`,
  );
  const samples = outcome.interrupted ? [] : await closingSamples(o, { config, model, corpus, lastValLoss: outcome.lastValLoss, say, log });
  if (outcome.interrupted) say(`continue with: troupe train ${o.configFile} --resume --run-dir ${runDir}`);
  say(`outputs: ${path.join(runDir, "metrics.csv")}, ${path.join(runDir, "loss.svg")}, ${path.join(runDir, "train.log")}`);
  const stoppedBy = signalOf(stopRequest.signal);
  return {
    runDir,
    outcome,
    unigramEntropy: corpus.unigramEntropy,
    samples,
    wallSeconds: (performance.now() - started) / 1000,
    ...(stoppedBy ? { stoppedBy } : {}),
  };
}

/** The end of a finished run: the validation loss against the unigram entropy, and the sampled continuations. */
async function closingSamples(
  o: TrainRunOptions,
  r: {
    config: TrainConfig;
    model: GptModel;
    corpus: PreparedCorpus;
    lastValLoss?: number;
    say: (line: string) => void;
    log: { info(obj: object, msg: string): void };
  },
): Promise<{ prompt: string; continuation: string }[]> {
  const { corpus, say } = r;
  const val = r.lastValLoss;
  if (val !== undefined) {
    const verdict = val < corpus.unigramEntropy ? "below" : "NOT below";
    say(
      `validation loss ${val.toFixed(3)} nats/token vs unigram entropy ${corpus.unigramEntropy.toFixed(3)}: ` +
        `${verdict} it by ${Math.abs(corpus.unigramEntropy - val).toFixed(3)} (perplexity ${Math.exp(val).toFixed(1)} vs ${Math.exp(corpus.unigramEntropy).toFixed(1)})`,
    );
  }
  if (o.noSamples || r.config.samples.prompts.length === 0) return [];
  const samples = await sampleContinuations(r.model, corpus, r.config);
  say("samples:");
  for (const s of samples) say(`  ${JSON.stringify(s.prompt)} → ${JSON.stringify(s.prompt + s.continuation)}`);
  r.log.info({ samples }, "samples");
  return samples;
}
