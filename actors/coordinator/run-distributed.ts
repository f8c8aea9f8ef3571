// `troupe train` for a config with dp · pp · tp > 1: the coordinator in this process drives the job's
// workers (one process per rank) on the embedded local cluster, or on a running one (--nats URL).
// Progress, metrics.csv and the final checkpoint as the single-rank run; only committed steps count.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { readManifest } from "../../ml/checkpoint/store.ts";
import { batchRampOf, loadTrainConfig, restartIntensityOf, type TrainConfig } from "../../ml/train/config.ts";
import { stopOnSignals } from "../../ml/train/interrupt.ts";
import { MetricsCsv } from "../../ml/train/metrics-csv.ts";
import { formatDuration, ProgressDisplay } from "../../ml/train/progress.ts";
import { checkpointToResume, runDirOf, TrainRunError } from "../../ml/train/run.ts";
import { batchSizeAt, lrAt, planRun } from "../../ml/train/schedule.ts";
import type { TrainProgress } from "../../ml/train/types.ts";
import { parseAxisOrder, rankLayout } from "../../ml/parallel/ranks.ts";
import { Coordinator } from "./coordinator.ts";
import { JobEscalatedError, RolledBackError, WorkerLostError } from "./errors.ts";
import type { CommittedStep } from "./job-store.ts";
import type { RecoveryRecord } from "./types.ts";
import type { FaultSpec } from "../worker/faults.ts";
import type { Timeouts } from "../../runtime/types.ts";
import { connectOrEmbed } from "../../runtime/cluster/embedded-cluster.ts";
import { coordinatorBackends, finalSamples } from "./final-samples.ts";
import { checkResumable } from "./resume-check.ts";

export interface DistributedRunOptions {
  configFile: string;
  /** Continue the run in runDir from its latest checkpoint (every worker loads it). */
  resume?: boolean;
  runDir?: string;
  steps?: number;
  threads?: number;
  /** A running cluster; absent = start a private nats-server and host agent for this run. */
  natsUrl?: string;
  token?: string;
  clusterId?: string;
  /** Module exporting createBackends() for the workers (tests); default: Brown data + native GPT. */
  backendsModule?: string;
  /** Skip the sampled continuations at the end. */
  noSamples?: boolean;
  out?: NodeJS.WriteStream;
  tty?: boolean;
  /** Test-only: signals workers send themselves at given steps and phases (actors/worker/faults.ts). */
  faults?: FaultSpec[];
  /** Heartbeat, suspect and kill timeouts of the job's supervisor (tests shorten them). */
  timeouts?: Partial<Timeouts>;
  /** Worker restarts allowed per period before the job escalates (default: the config's `recovery` section). */
  intensity?: { maxRestarts: number; periodMs: number };
  /** Called after each recovery. */
  onRecovery?: (r: RecoveryRecord) => void;
  /** Called once every worker has loaded (tools and tests: operator restarts, pids). */
  onStarted?: (c: Coordinator) => void;
  /** Stops the run as Ctrl-C does (the step in flight finishes, a checkpoint is saved) when it aborts. */
  stop?: AbortSignal;
}

export interface DistributedRunResult {
  runDir: string;
  jobId: string;
  steps: (CommittedStep & { gradNorm: number })[];
  /** Validation losses by step (at 0, every eval.interval steps and at the end). */
  validations: { step: number; loss: number }[];
  progress: TrainProgress;
  interrupted: boolean;
  checkpointDir: string;
  /** The configured prompts continued by the final model (none when interrupted or with noSamples). */
  samples: { prompt: string; continuation: string }[];
  wallSeconds: number;
  /** Every live recovery of a lost worker during the run. */
  recoveries: RecoveryRecord[];
}

/** Refuses what the distributed runner cannot do yet, with the reason. */
export function checkDistributable(config: TrainConfig): void {
  const { dp } = config.parallel;
  const micro = config.batch.size / config.batch.microBatch;
  const start = batchRampOf(config).start / config.batch.microBatch;
  const inc = batchRampOf(config).increment / config.batch.microBatch;
  if (micro % dp !== 0 || start % dp !== 0 || inc % dp !== 0) {
    throw new TrainRunError(
      `parallel.dp ${dp} must divide the micro-batches of every step (batch.size, rampStart and rampIncrement in units of batch.microBatch ${config.batch.microBatch})`,
    );
  }
}

export function jobIdOf(config: TrainConfig): string {
  return config.name.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "job";
}

export async function runDistributed(o: DistributedRunOptions): Promise<DistributedRunResult> {
  const started = performance.now();
  const out = o.out ?? process.stdout;
  const say = (line: string) => out.write(line + "\n");
  const config = loadTrainConfig(o.configFile);
  if (o.threads !== undefined) config.threads = o.threads;
  checkDistributable(config);
  const { dp, pp, tp, order } = config.parallel;
  const layout = order ? rankLayout({ dp, pp, tp }, parseAxisOrder(order)) : rankLayout({ dp, pp, tp });
  // pp/tp > 1: checkpoints are sharded (each rank loads its slice of one saved with any layout)
  const modelParallel = pp * tp > 1;
  const runDir = runDirOf(config, o.runDir);
  const checkpointRoot = path.join(runDir, "checkpoints");
  const resumeFrom = checkpointToResume(runDir, checkpointRoot, o.resume === true, say);
  let progress: TrainProgress = { step: 0, tokensSeen: 0, samplesSeen: 0 };
  if (resumeFrom) {
    const manifest = readManifest(resumeFrom);
    checkResumable(resumeFrom, manifest, config);
    progress = { step: manifest.step, tokensSeen: manifest.tokensSeen, samplesSeen: manifest.samplesSeen };
  }
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  const logger = pino({ name: "coordinator", base: { pid: process.pid } }, pino.destination({ dest: path.join(runDir, "train.log"), sync: true }));
  const jobId = jobIdOf(config);
  const jobFile = path.join(runDir, "job.json");
  writeFileSync(jobFile, JSON.stringify({ jobId, session: `${jobId}-${randomBytes(6).toString("hex")}`, config, backendsModule: o.backendsModule && path.resolve(o.backendsModule), resumeFrom, faults: o.faults ?? [] }, null, 2) + "\n");

  const ramp = batchRampOf(config);
  const plan = planRun(ramp, config.model.seqLen, o.steps !== undefined ? { steps: o.steps } : config.train);
  const lrSchedule = { peak: config.optimizer.lr, warmupTokens: config.schedule.warmupTokens, decayTokens: config.schedule.decayTokens, minRatio: config.schedule.minLrRatio };
  say(`${o.natsUrl ? `cluster ${o.natsUrl}` : "starting a private nats-server and host agent"}; job ${jobId}: dp ${dp} · pp ${pp} · tp ${tp}, ${plan.steps} steps; run dir ${runDir}`);

  let coordinator: Coordinator | undefined;
  const cluster = await connectOrEmbed({
    url: o.natsUrl,
    token: o.token,
    clusterId: o.clusterId ?? "local",
    dir: runDir,
    slots: layout.worldSize,
    logger,
    onStatus: (s) => coordinator?.connectionChanged(s),
  });
  const stopRequest = new AbortController();
  const removeSignalHandlers = stopOnSignals(stopRequest, (sig) => say(`${sig}: finishing this step and saving a checkpoint`));
  if (o.stop?.aborted) stopRequest.abort();
  o.stop?.addEventListener("abort", () => stopRequest.abort(), { once: true });
  const steps: DistributedRunResult["steps"] = [];
  const validations: DistributedRunResult["validations"] = [];
  const recoveries: RecoveryRecord[] = [];
  let display: ProgressDisplay | undefined;
  let failure: Error | undefined;
  let checkpointDir = "";
  try {
    coordinator = new Coordinator(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
      {
        jobId,
        jobFile,
        dp,
        layout: modelParallel ? layout : undefined,
        microBatch: config.batch.microBatch,
        clip: config.optimizer.clip,
        timeouts: o.timeouts,
        intensity: o.intensity ?? restartIntensityOf(config),
        checkpoints: { root: checkpointRoot, keep: config.checkpoint.keep, config },
        // a checkpoint still being written counts once whole; if its write fails, the one before it
        lastCheckpoint: async () => (inFlight ? await inFlight.catch(() => checkpointDir) : checkpointDir) || resumeFrom,
        onRecovery: (r) => {
          recoveries.push(r);
          const outcome = r.rerun ? `step ${r.step} runs again` : `step ${r.step} was applied everywhere, committed`;
          const line = `recovered ${r.actorId} (${r.cause}): state from ${r.source} ${r.from} in ${r.restoreSeconds.toFixed(2)} s, job stepping again ${r.seconds.toFixed(2)} s after the failure; ${outcome}`;
          if (display) display.message(line);
          else say(line);
          logger.warn({ ...r }, "worker recovered");
          o.onRecovery?.(r);
        },
        // the coordinator logs the reload itself
        onReload: (r) => say(`${r.worker} lost while the job loaded (${r.cause}): every worker loads again (epoch ${r.epoch})`),
      },
    );
    await coordinator.start();
    o.onStarted?.(coordinator);
    if (modelParallel) say(`pp ${pp} · tp ${tp}: sharded checkpoints; validation through replica 0's pipeline`);
    say(`${layout.worldSize} workers loaded: ${coordinator.workers.map((w) => w.id).join(", ")}`);
    if (resumeFrom) say(`resuming from ${resumeFrom} (step ${progress.step}, ${progress.tokensSeen.toLocaleString("en-US")} tokens)`);
    // on resume, rows after the checkpoint's step belong to the interrupted run's lost steps and are dropped
    let metrics = new MetricsCsv(path.join(runDir, "metrics.csv"), resumeFrom ? progress.step : undefined);
    display = new ProgressDisplay({ totalSteps: plan.steps, totalTokens: plan.tokens, startStep: progress.step, startTokens: progress.tokensSeen, lineEvery: config.logInterval, stream: out, tty: o.tty });
    let lastVal: number | undefined;
    // a worker lost during a validation or a checkpoint copy: recover it, then ask again
    const afterLoss = async <T>(ask: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await ask();
        } catch (err) {
          if (!(err instanceof WorkerLostError)) throw err;
          await coordinator!.recoverNow(progress.step);
        }
      }
    };
    // a checkpoint whose writer was lost before its shard was on disk is dropped (the previous one stays latest)
    const forgiveLoss = (err: unknown): false => {
      if (!(err instanceof WorkerLostError)) throw err;
      display?.message(`a checkpoint being written was lost with ${err.actorId}; the next one replaces it`);
      logger.warn({ err: err.message }, "checkpoint lost with a worker");
      return false;
    };
    const validate = async () => {
      lastVal = await afterLoss(() => coordinator!.validate({ step: progress.step, batches: config.eval.batches, microBatch: config.batch.microBatch }));
      validations.push({ step: progress.step, loss: lastVal });
      display!.validation(progress.step, lastVal);
      metrics.recordValidation(progress, lastVal);
      logger.info({ ...progress, valLoss: lastVal }, "validation");
    };
    if (progress.step === 0) await validate();
    let savedAt = resumeFrom ? progress.step : -1;
    // Checkpoints are written in the background: the loop waits for the workers' memory copy only. At most one is
    // in flight (the next waits for it), and the run ends (Ctrl-C too) only once the last one is on disk.
    let inFlight: Promise<string> | undefined;
    const saveCheckpoint = async (): Promise<void> => {
      if (inFlight) await inFlight.catch(forgiveLoss);
      const last = steps.at(-1);
      const req = {
        ...progress,
        root: checkpointRoot,
        keep: config.checkpoint.keep,
        metrics: { ...(last ? { loss: last.loss } : {}), ...(lastVal !== undefined ? { valLoss: lastVal } : {}) },
      };
      const pending = await afterLoss(() => (modelParallel ? coordinator!.checkpointSharded({ ...req, config }) : coordinator!.checkpoint(req)));
      savedAt = progress.step;
      const at = { ...progress };
      inFlight = pending.written.then((dir) => {
        checkpointDir = dir;
        logger.info({ ...at, dir }, "checkpoint saved");
        return dir;
      });
      inFlight.catch(() => undefined); // awaited by the next save or below
      if (!stopRequest.signal.aborted && progress.step < plan.steps) return;
      // the loop ends after this save: it must be on disk; if its writer was lost, recover and save again
      const written = await inFlight.then(() => true, forgiveLoss);
      if (written) return;
      await coordinator!.recoverNow(progress.step);
      inFlight = undefined;
      return saveCheckpoint();
    };
    while (progress.step < plan.steps && !stopRequest.signal.aborted) {
      const batchSize = batchSizeAt(ramp, progress.tokensSeen);
      const tokensAfter = progress.tokensSeen + batchSize * config.model.seqLen;
      const t0 = performance.now();
      let c: Awaited<ReturnType<Coordinator["runStep"]>>;
      try {
        c = await coordinator.runStep({ step: progress.step + 1, lr: lrAt(lrSchedule, tokensAfter), batchSize, firstSample: progress.samplesSeen, tokensAfter });
      } catch (err) {
        if (!(err instanceof RolledBackError)) throw err;
        // no live peer held a lost shard: every worker is back at the checkpoint; the steps after it run again
        const to = err.to;
        progress = { step: to.step, tokensSeen: to.tokensSeen, samplesSeen: to.samplesSeen };
        const keep = <T extends { step: number }>(rows: T[]) => rows.splice(0, rows.length, ...rows.filter((r) => r.step <= to.step));
        keep(steps);
        keep(validations);
        metrics.flush();
        metrics = new MetricsCsv(path.join(runDir, "metrics.csv"), to.step);
        inFlight = undefined; // a checkpoint after the rollback's step was lost with the worker, or is stale
        checkpointDir = to.dir;
        savedAt = to.step;
        display.message(`rolled back to the checkpoint of step ${to.step} (${to.dir}): steps after it run again`);
        logger.warn({ ...to }, "rolled back to a checkpoint");
        continue;
      }
      steps.push(c);
      progress = { step: c.step, tokensSeen: c.tokensSeen, samplesSeen: c.samplesSeen };
      const report = { ...progress, loss: c.loss, gradNorm: c.gradNorm, clipped: c.clipScale < 1, lr: c.lr, batchSize, stepSeconds: (performance.now() - t0) / 1000 };
      display.step(report);
      metrics.recordStep(report, display.tokensPerSecond(progress.tokensSeen), display.elapsedSeconds());
      logger.info(report, "step committed");
      if (progress.step % config.eval.interval === 0 || progress.step === plan.steps) await validate();
      if (progress.step % config.checkpoint.interval === 0 || progress.step === plan.steps) await saveCheckpoint();
    }
    metrics.flush();
    if (savedAt !== progress.step) await saveCheckpoint();
    else checkpointDir ||= resumeFrom ?? "";
  } catch (err) {
    failure = err as Error;
    logger.error({ err }, "job failed");
    display?.stop();
    if (failure instanceof JobEscalatedError && failure.checkpoint.dir) say(`continue from ${failure.checkpoint.dir} with: troupe train ${o.configFile} --resume --run-dir ${runDir}`);
    throw err;
  } finally {
    display?.stop();
    removeSignalHandlers();
    await coordinator?.stop(failure ? { finished: false, cause: failure.message } : progress.step >= plan.steps ? { finished: true } : { finished: false, cause: "stopped by signal" }).catch(() => undefined);
    await cluster.close();
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const interrupted = progress.step < plan.steps;
  const val = validations.at(-1);
  if (val) say(`validation loss ${val.loss.toFixed(3)} nats/token at step ${val.step}`);
  say(
    `${interrupted ? "stopped" : "finished"} at step ${progress.step}/${plan.steps}${recoveries.length ? ` after ${recoveries.length} recover${recoveries.length === 1 ? "y" : "ies"}` : ""}, ${progress.tokensSeen.toLocaleString("en-US")} tokens, ` +
      `${Math.round(progress.tokensSeen / wallSeconds).toLocaleString("en-US")} tokens/s (with start-up), ${formatDuration(wallSeconds)}; checkpoint ${checkpointDir}`,
  );
  if (interrupted) say(`continue with: troupe train ${o.configFile} --resume --run-dir ${runDir}`);
  let samples: DistributedRunResult["samples"] = [];
  if (!interrupted && !o.noSamples && config.samples.prompts.length > 0 && checkpointDir) {
    samples = (await finalSamples(config, checkpointDir, await coordinatorBackends(o.backendsModule))).samples;
    say("samples (the final checkpoint in one process):");
    for (const s of samples) say(`  ${JSON.stringify(s.prompt)} → ${JSON.stringify(s.prompt + s.continuation)}`);
    logger.info({ samples }, "samples");
  }
  if (existsSync(path.join(runDir, "metrics.csv"))) say(`outputs: ${path.join(runDir, "metrics.csv")}, ${path.join(runDir, "train.log")}`);
  return { runDir, jobId, steps, validations, progress, interrupted, checkpointDir, samples, wallSeconds, recoveries };
}
