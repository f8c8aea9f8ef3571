// `troupe train` for a config with dp · pp · tp > 1: the coordinator in this process drives the job's workers (one
// process per rank) on the embedded local cluster, or on a running one (--nats URL). The training loop is the
// single-rank run's (ml/train/loop.ts) over the coordinator (distributed-engine.ts): the same progress, metrics.csv,
// train.log, checkpoints and Ctrl-C; only committed steps count.
import { zeroReshardsLive, zeroShardsOf } from "../../ml/train/config.ts";
import { shardedCheckpoints } from "./checkpoints.ts";
import { growOnJoin, joinWatch } from "./elastic-join.ts";
import { workerHosts } from "./worker-hosts.ts";
import { latestCheckpointDir } from "../../ml/checkpoint/store.ts";
import { memberId } from "../rank-members.ts";
import { JobStore } from "./job-store.ts";
import { epochOfWorkers } from "./takeover.ts";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseAxisOrder, rankLayout, type RankLayout } from "../../ml/parallel/ranks.ts";
import { batchRampOf, restartIntensityOf, type TrainConfig } from "../../ml/train/config.ts";
import { TrainRunError } from "../../ml/train/errors.ts";
import { signalOf, stopOnSignals } from "../../ml/train/interrupt.ts";
import { TrainingLoop, type LoopOutcome } from "../../ml/train/loop.ts";
import { formatDuration } from "../../ml/train/progress.ts";
import { openRun, reopenRun, type OpenedRun, type RunDirOptions } from "../../ml/train/run-dir.ts";
import { RunOutput } from "../../ml/train/run-output.ts";
import type { RunView } from "../../ml/train/run-view.ts";
import { planRun, type RunPlan } from "../../ml/train/schedule.ts";
import type { TrainProgress } from "../../ml/train/types.ts";
import { connectOrEmbed, type ClusterConnection } from "../../runtime/cluster/embedded-cluster.ts";
import { writeCollectiveKeyFile } from "../../runtime/collectives/collective-key.ts";
import type { Timeouts } from "../../runtime/types.ts";
import type { FaultSpec } from "../worker/faults.ts";
import { Coordinator } from "./coordinator.ts";
import { LOAD_TIMEOUT_MS } from "./policy.ts";
import { DistributedEngine, type JobStep } from "./distributed-engine.ts";
import { coordinatorBackends, finalSamples } from "./final-samples.ts";
import { JobEscalatedError } from "./errors.ts";
import type { RecoveryRecord } from "./types.ts";

export interface DistributedRunOptions extends RunDirOptions {
  /** A running cluster; absent = start a private nats-server and host agent for this run. */
  natsUrl?: string;
  token?: string;
  /** The CA of a TLS cluster (with `natsUrl`). */
  caFile?: string;
  clusterId?: string;
  /** Module exporting createBackends() for the workers (tests); default: Brown data + native GPT. */
  backendsModule?: string;
  /** Skip the sampled continuations at the end. */
  noSamples?: boolean;
  out?: NodeJS.WriteStream;
  tty?: boolean;
  /** Where lines and progress go instead of `out` (a job in the cluster publishes them to its followers). */
  view?: RunView;
  /** The job's id (a job submitted to the cluster has a unique one); default: the config's name. */
  jobId?: string;
  /**
   * A coordinator started again after its predecessor died: take the job over (takeover.ts) instead of starting it,
   * its workers adopted where they still run, the loop going on from the last committed step.
   */
  takeOver?: boolean;
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
  steps: JobStep[];
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
  /** The signal that stopped the run early (Ctrl-C: SIGINT), if one did. */
  stoppedBy?: NodeJS.Signals;
  /** Why it stopped early (a signal's name, or the reason a `troupe stop` gave). */
  stopReason?: string;
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

function jobIdOf(config: TrainConfig): string {
  return config.name.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "job";
}

function layoutOf(config: TrainConfig): RankLayout {
  const { dp, pp, tp, order } = config.parallel;
  return order ? rankLayout({ dp, pp, tp }, parseAxisOrder(order)) : rankLayout({ dp, pp, tp });
}

/** job.json: what every worker loads (the config, the checkpoint to resume, the backends, test faults). */
function writeJobFile(run: OpenedRun, jobId: string, o: DistributedRunOptions): string {
  const jobFile = path.join(run.runDir, "job.json");
  const job = {
    jobId,
    session: `${jobId}-${randomBytes(6).toString("hex")}`,
    config: run.config,
    backendsModule: o.backendsModule && path.resolve(o.backendsModule),
    resumeFrom: run.resumeFrom,
    // the key stays on the shared filesystem (mode 0600); job.json and the spawn requests carry only its path
    collectiveKeyFile: writeCollectiveKeyFile(run.runDir),
    faults: o.faults ?? [],
    // survivors of a loss wait in the new epoch's rendezvous as long as the replacement may take to load: on a host
    // without a warm spare (a host lost, the spare host) it is a cold start, over 30 s on a loaded machine
    rendezvousTimeoutMs: LOAD_TIMEOUT_MS,
  };
  writeFileSync(jobFile, JSON.stringify(job, null, 2) + "\n");
  return jobFile;
}

interface JobContext {
  run: OpenedRun;
  jobId: string;
  jobFile: string;
  layout: RankLayout;
  /** The host of each rank (worker-hosts.ts), when the topology-aware placement fits the live hosts. */
  hosts?: readonly string[];
  output: RunOutput;
  /** The newest checkpoint on disk: where the job rolls back to when no live peer holds a lost shard. */
  lastCheckpoint: () => Promise<string | undefined>;
  /** `troupe stop`: finish the step in flight, save, end; answers the last committed step. */
  requestStop: (reason: string) => number;
  /** A coordinator taking the job over: the epoch its workers are in. */
  epoch?: number;
}

function coordinatorFor(cluster: ClusterConnection, o: DistributedRunOptions, j: JobContext): Coordinator {
  const { config, log } = j.run;
  const { dp } = config.parallel;
  return new Coordinator(
    { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger: log },
    {
      jobId: j.jobId,
      jobFile: j.jobFile,
      dp,
      layout: shardedCheckpoints(config) ? j.layout : undefined,
      ...(zeroShardsOf(config) ? { zeroShards: zeroShardsOf(config), zeroReshards: zeroReshardsLive(config) } : {}),
      ...(j.hosts ? { hosts: j.hosts } : {}),
      microBatch: config.batch.microBatch,
      clip: config.optimizer.clip,
      timeouts: o.timeouts,
      intensity: o.intensity ?? restartIntensityOf(config),
      checkpoints: { root: j.run.checkpointRoot, keep: config.checkpoint.keep, config },
      lastCheckpoint: j.lastCheckpoint,
      onRecovery: (r) => {
        const outcome = r.rerun ? `step ${r.step} runs again` : `step ${r.step} was applied everywhere, committed`;
        j.output.message(
          `recovered ${r.actorId} (${r.cause}): state from ${r.source} ${r.from} in ${r.restoreSeconds.toFixed(2)} s, job stepping again ${r.seconds.toFixed(2)} s after the failure; ${outcome}`,
        );
        log.warn({ ...r }, "worker recovered");
        o.onRecovery?.(r);
      },
      ...(config.elastic ? { elastic: { minDp: config.elastic.minDp, replaceTimeoutMs: config.elastic.replaceTimeout * 1000 } } : {}),
      onResize: (r) =>
        j.output.message(`job ${r.kind} from dp ${r.from} to dp ${r.to} (replicas ${r.replicas.join(", ")}) at step ${r.step}: ${r.cause}`),
      // the coordinator logs the reload itself
      onReload: (r) => j.output.message(`${r.worker} lost while the job loaded (${r.cause}): every worker loads again (epoch ${r.epoch})`),
      onStopRequested: j.requestStop,
      ...(j.epoch !== undefined ? { epoch: j.epoch } : {}),
    },
  );
}

/** Starts the job's workers, then runs the training loop over them. */
async function train(
  coordinator: Coordinator,
  loop: TrainingLoop<JobStep>,
  o: DistributedRunOptions,
  j: JobContext,
  plan: RunPlan,
): Promise<LoopOutcome<JobStep>> {
  const { config, start, resumeFrom } = j.run;
  const { pp, tp } = config.parallel;
  if (o.takeOver) {
    await coordinator.takeOver();
    const lost = coordinator.lost.size;
    j.output.say(
      `coordinator started again: job taken over at step ${start?.progress.step ?? 0} in epoch ${coordinator.epoch}; ${j.layout.worldSize - lost} workers kept running${lost ? `, ${lost} recovered` : ""}`,
    );
  } else {
    await coordinator.start();
    if (pp * tp > 1) j.output.say(`pp ${pp} · tp ${tp}: sharded checkpoints; validation through replica 0's pipeline`);
    const n = zeroShardsOf(j.run.config);
    if (n) j.output.say(`ZeRO-1 over ${n} replicas: a worker holds 2/${n} of the AdamW moments and writes its chunk of checkpoints`);
    j.output.say(`${j.layout.worldSize} workers loaded: ${coordinator.workers.map((w) => w.id).join(", ")}`);
    if (start)
      j.output.say(
        `resuming from ${resumeFrom} (step ${start.progress.step}, ${start.progress.tokensSeen.toLocaleString("en-US")} tokens)`,
      );
  }
  o.onStarted?.(coordinator);
  j.output.begin({
    metricsFile: path.join(j.run.runDir, "metrics.csv"),
    resumedFrom: start?.progress,
    totalSteps: plan.steps,
    totalTokens: plan.tokens,
    lineEvery: config.logInterval,
  });
  return loop.run();
}

export async function runDistributed(o: DistributedRunOptions): Promise<DistributedRunResult> {
  const started = performance.now();
  const run = o.takeOver ? reopenRun(o, "coordinator") : openRun(o, sayTo(o), "coordinator", checkDistributable);
  const { config, runDir, log } = run;
  const { dp, pp, tp } = config.parallel;
  const output = new RunOutput({
    out: o.out ?? process.stdout,
    tty: o.tty,
    ...(o.view ? { view: o.view } : {}),
    log,
    stepMessage: "step committed",
  });
  const plan = planRun(batchRampOf(config), config.model.seqLen, o.steps !== undefined ? { steps: o.steps } : config.train);
  const layout = layoutOf(config);
  const jobId = o.jobId ?? jobIdOf(config);
  const jobFile = o.takeOver ? path.join(runDir, "job.json") : writeJobFile(run, jobId, o);
  output.say(
    `${o.natsUrl ? `cluster ${o.natsUrl}` : "starting a private nats-server and host agent"}; job ${jobId}: dp ${dp} · pp ${pp} · tp ${tp}, ${plan.steps} steps; run dir ${runDir}`,
  );

  let coordinator: Coordinator | undefined;
  let loop: TrainingLoop<JobStep> | undefined;
  const cluster = await connectOrEmbed({
    url: o.natsUrl,
    token: o.token,
    ...(o.caFile !== undefined ? { caFile: o.caFile } : {}),
    clusterId: o.clusterId ?? "local",
    dir: runDir,
    slots: layout.worldSize,
    logger: log,
    onStatus: (s) => coordinator?.connectionChanged(s),
  });
  const epoch = o.takeOver ? await resumeFromStore(run, cluster, jobId, layout.worldSize) : undefined;
  const stop = stopControl(o, output, log, () => loop?.progress.step ?? 0);
  const hosts = await workerHosts(cluster.registry, layout);
  const lastCheckpoint = async () => (await loop?.newestCheckpoint()) ?? run.resumeFrom ?? latestCheckpointDir(run.checkpointRoot);
  const job: JobContext = {
    run,
    jobId,
    jobFile,
    layout,
    output,
    lastCheckpoint,
    requestStop: stop.request,
    ...(hosts ? { hosts } : {}),
    ...(epoch !== undefined ? { epoch } : {}),
  };
  let outcome: LoopOutcome<JobStep> | undefined;
  let failure: Error | undefined;
  const joins = new AbortController();
  try {
    coordinator = coordinatorFor(cluster, o, job);
    if (config.elastic?.growOnJoin) void growOnJoin(joinWatch(coordinator, cluster.registry, config.parallel.dp, log), joins.signal);
    const engine = new DistributedEngine(coordinator, { config, checkpointRoot: run.checkpointRoot, sharded: shardedCheckpoints(config) });
    loop = new TrainingLoop(engine, { config, totalSteps: plan.steps, start: run.start, signal: stop.signal, events: output });
    outcome = await train(coordinator, loop, o, job, plan);
  } catch (err) {
    failure = err as Error;
    log.error({ err }, "job failed");
    output.end();
    if (failure instanceof JobEscalatedError && failure.checkpoint.dir)
      output.say(`continue from ${failure.checkpoint.dir} with: troupe train ${o.configFile} --resume --run-dir ${runDir}`);
    throw err;
  } finally {
    joins.abort();
    output.end();
    stop.remove();
    const finished = loop !== undefined && loop.progress.step >= plan.steps;
    await coordinator?.stop(endOf(failure, finished)).catch(() => undefined);
    await cluster.close();
  }
  const result = await closing(o, run, {
    jobId,
    plan,
    outcome: outcome!,
    recoveries: coordinator.recoveries,
    wallSeconds: (performance.now() - started) / 1000,
  });
  return { ...result, ...stop.outcome() };
}

/** How the job ended, for its coordinator's last word. */
function endOf(failure: Error | undefined, finished: boolean): Parameters<Coordinator["stop"]>[0] {
  if (failure) return { finished: false, cause: failure.message };
  return finished ? { finished: true } : { finished: false, cause: "stopped by signal" };
}

/** A run taken over: the loop goes on from the job's last committed step; answers the workers' newest epoch. */
async function resumeFromStore(run: OpenedRun, cluster: ClusterConnection, jobId: string, worldSize: number): Promise<number> {
  const store = await JobStore.open(cluster.nc, cluster.ns, cluster.events);
  const c = await store.latest(jobId);
  if (c) run.start = { progress: { step: c.step, tokensSeen: c.tokensSeen, samplesSeen: c.samplesSeen }, lastLoss: c.loss };
  return epochOfWorkers(
    cluster.registry,
    Array.from({ length: worldSize }, (_, rank) => memberId(jobId, rank)),
  );
}

/**
 * How a run is stopped early: Ctrl-C or SIGTERM, the caller's `stop` signal, or `troupe stop` through the control
 * subject (request); each finishes the step in flight and saves. `outcome` says which stopped it.
 */
function stopControl(o: DistributedRunOptions, output: RunOutput, log: OpenedRun["log"], step: () => number) {
  const ctl = new AbortController();
  const remove = stopOnSignals(ctl, (sig) => output.stopRequested(sig));
  if (o.stop?.aborted) ctl.abort();
  o.stop?.addEventListener("abort", () => ctl.abort(), { once: true });
  return {
    signal: ctl.signal,
    remove,
    request: (reason: string) => {
      if (!ctl.signal.aborted) {
        output.message(`stop asked (${reason}): finishing this step and saving a checkpoint`);
        log.warn({ reason }, "stop requested");
        ctl.abort(reason);
      }
      return step();
    },
    outcome: (): { stoppedBy?: NodeJS.Signals; stopReason?: string } => {
      const stoppedBy = signalOf(ctl.signal);
      const reason = ctl.signal.aborted && typeof ctl.signal.reason === "string" ? ctl.signal.reason : undefined;
      return { ...(stoppedBy ? { stoppedBy } : {}), ...(reason ? { stopReason: reason } : {}) };
    },
  };
}

/** Where a line of the run goes: its view (a job's followers), else `out`. */
function sayTo(o: DistributedRunOptions): (line: string) => void {
  return (line) => (o.view ? o.view.say(line) : (o.out ?? process.stdout).write(line + "\n"));
}

/** The closing lines (validation loss, throughput, where to continue), the samples of a finished run, the result. */
async function closing(
  o: DistributedRunOptions,
  run: OpenedRun,
  r: { jobId: string; plan: RunPlan; outcome: LoopOutcome<JobStep>; recoveries: RecoveryRecord[]; wallSeconds: number },
): Promise<DistributedRunResult> {
  const { config, runDir, log } = run;
  const { progress, interrupted, steps, validations } = r.outcome;
  const say = sayTo(o);
  const checkpointDir = r.outcome.checkpointDir ?? "";
  const n = r.recoveries.length;
  const val = validations.at(-1);
  if (val) say(`validation loss ${val.loss.toFixed(3)} nats/token at step ${val.step}`);
  // this run's tokens only: a resumed run's earlier tokens were trained by another process
  const tokensPerSecond = (progress.tokensSeen - (run.start?.progress.tokensSeen ?? 0)) / r.wallSeconds;
  say(
    `${interrupted ? "stopped" : "finished"} at step ${progress.step}/${r.plan.steps}${n ? ` after ${n} recover${n === 1 ? "y" : "ies"}` : ""}, ${progress.tokensSeen.toLocaleString("en-US")} tokens, ` +
      `${Math.round(tokensPerSecond).toLocaleString("en-US")} tokens/s (with start-up), ${formatDuration(r.wallSeconds)}; checkpoint ${checkpointDir}`,
  );
  if (interrupted) say(`continue with: troupe train ${o.configFile} --resume --run-dir ${runDir}`);
  let samples: DistributedRunResult["samples"] = [];
  if (!interrupted && !o.noSamples && config.samples.prompts.length > 0 && checkpointDir) {
    samples = (await finalSamples(config, checkpointDir, await coordinatorBackends(o.backendsModule))).samples;
    say("samples (the final checkpoint in one process):");
    for (const s of samples) say(`  ${JSON.stringify(s.prompt)} → ${JSON.stringify(s.prompt + s.continuation)}`);
    log.info({ samples }, "samples");
  }
  if (existsSync(path.join(runDir, "metrics.csv"))) say(`outputs: ${path.join(runDir, "metrics.csv")}, ${path.join(runDir, "train.log")}`);
  return {
    runDir,
    jobId: r.jobId,
    steps,
    validations,
    progress,
    interrupted,
    checkpointDir,
    samples,
    wallSeconds: r.wallSeconds,
    recoveries: r.recoveries,
  };
}
