// The job controller: spawns the job's workers through the host agent under a Supervisor, waits until
// every worker has loaded, then drives steps (step → ready → combine → apply → applied → commit) and
// asks dp rank 0 for checkpoints. The job lifecycle is written to KV and the event stream.
// A worker failure fails the job with the cause (live recovery is the next piece of work).
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { createActor, type Actor } from "xstate";
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import type { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore, recordLifecycle, type RecorderHandle } from "../../runtime/lifecycle-recorder.ts";
import type { Logger } from "../../runtime/logger.ts";
import { jobMachine } from "../../runtime/machines/job.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import type { Registry } from "../../runtime/registry.ts";
import { call } from "../../runtime/rpc.ts";
import { recordState, Supervisor } from "../../runtime/supervisor.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import type { Coordinates, Timeouts } from "../../runtime/types.ts";
import { buildShardedManifest, commitCheckpoint, prepareStagingDir } from "../checkpoint/mod.ts";
import type { TrainConfig } from "../train/config.ts";
import { workerSubject, type AppliedReport, type CheckpointShardReport, type ReadyReport, type WorkerStatus } from "../worker/protocol.ts";
import { decodeAs, exitReportSchema } from "../../runtime/messages.ts";
import { crashLine } from "./crash-line.ts";
import type { RankLayout } from "../parallel/ranks.ts";
import { combineReady, splitMicroBatches, type CombinedStep } from "./combine.ts";
import { JobStore, type CommittedStep } from "./job-store.ts";

const workerMain = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../worker/main.ts");

export class JobFailedError extends Error {
  override name = "JobFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface CoordinatorDeps {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  logger: Logger;
}

export interface CoordinatorOptions {
  jobId: string;
  /** job.json written by the caller (actors/worker/job-spec.ts). */
  jobFile: string;
  dp: number;
  /** The job's rank layout when pp or tp > 1 (actors/parallel/ranks.ts); absent = dp workers. */
  layout?: RankLayout;
  microBatch: number;
  clip: number;
  timeouts?: Partial<Timeouts>;
  /** How long every worker has to reach idle (boot, join, load). */
  loadTimeoutMs?: number;
}

export interface StepPlan {
  step: number;
  lr: number;
  batchSize: number;
  firstSample: number;
  tokensAfter: number;
}

interface WorkerRef {
  id: string;
  coords: Coordinates;
}

export class Coordinator {
  /** Every membership change bumps it; workers are started with it and reject older messages. */
  readonly epoch = 1;
  readonly workers: WorkerRef[];
  readonly job: Actor<typeof jobMachine>;
  private readonly supervisor: Supervisor;
  private readonly timeouts: Timeouts;
  private recorder: RecorderHandle | undefined;
  private store: JobStore | undefined;
  private failure: Error | undefined;
  private stopping = false;
  /** Error line of each worker's last crash, from the host agent's exit report. */
  private readonly crashes = new Map<string, string>();
  private exitSub: Subscription | undefined;
  private failed: Promise<never>;
  private failJob!: (err: Error) => void;

  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly o: CoordinatorOptions,
  ) {
    this.timeouts = validateTimeouts({ heartbeatMs: 500, suspectMs: 3000, killMs: 10_000, stepMs: 300_000, startMs: 60_000, ...o.timeouts });
    // one worker per world rank, named by rank; rank = d when pp = tp = 1
    this.workers = (o.layout?.coords ?? Array.from({ length: o.dp }, (_, d) => ({ dp: d, pp: 0, tp: 0 }))).map((c, rank) => ({
      id: `${o.jobId}-w${rank}`,
      coords: { d: c.dp, p: c.pp, t: c.tp, rank },
    }));
    this.job = createActor(jobMachine);
    this.supervisor = new Supervisor(deps, {
      id: o.jobId,
      strategy: "one_for_all",
      intensity: validateIntensity({ maxRestarts: 0, periodMs: 60_000 }),
      backoff: validateBackoff(),
      timeouts: this.timeouts,
      children: this.workers.map((w) => ({ id: w.id, coords: w.coords, argv: ["node", "--import", "tsx", workerMain, "--job", o.jobFile] })),
    });
    this.failed = new Promise<never>((_, reject) => (this.failJob = reject));
    this.failed.catch(() => undefined);
  }

  connectionChanged(...args: Parameters<Supervisor["connectionChanged"]>): void {
    this.supervisor.connectionChanged(...args);
  }

  /** Spawns the workers and waits until all of them have loaded their model. */
  async start(): Promise<void> {
    const { nc, ns, events } = this.deps;
    this.job.start();
    this.recorder = await recordLifecycle(this.job, {
      kind: "job",
      id: this.o.jobId,
      store: await LifecycleStore.open(nc, ns),
      events,
      onError: (err) => this.deps.logger.warn({ err }, "job lifecycle write failed"),
    });
    this.store = await JobStore.open(nc, ns, events);
    const ids = new Set(this.workers.map((w) => w.id));
    this.exitSub = nc.subscribe(ns.exitsFilter, {
      callback: (err, m) => {
        const r = err ? undefined : decodeAs(m.data, exitReportSchema);
        const line = r?.ok && ids.has(r.value.actorId) ? crashLine(r.value.stderrTail) : undefined;
        if (r?.ok && line) this.crashes.set(r.value.actorId, line);
      },
    });
    await nc.flush();
    this.supervisor.onTransition((rec) => {
      if (!this.stopping && (rec.state === "failed" || rec.state === "dead")) {
        const cause = rec.deathCause ?? "unknown cause";
        // the exit report reaches our subscription and the supervisor's in either order
        setTimeout(() => {
          const line = this.crashes.get(rec.id);
          this.fail(new JobFailedError(`worker ${rec.id} ${rec.state}: ${cause}${line ? ` (${line})` : ""}`));
        }, 50);
      }
    });
    this.supervisor.epoch = this.epoch;
    await this.supervisor.start();
    this.job.send({ type: "PROVISIONED" });
    await Promise.race([this.waitLoaded(), this.failed]);
    this.job.send({ type: "INITIALIZED" });
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.deps.logger.error({ err: err.message }, "job failing");
    this.failJob(err);
  }

  private async waitLoaded(): Promise<void> {
    const deadline = Date.now() + (this.o.loadTimeoutMs ?? 180_000);
    for (const w of this.workers) {
      for (;;) {
        const s = await this.status(w.id).catch(() => undefined);
        if (s?.state === "idle") break;
        if (Date.now() > deadline) throw new JobFailedError(`worker ${w.id} did not finish loading in time (last state: ${s?.state ?? "not answering"})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  status(workerId: string): Promise<WorkerStatus> {
    return call(this.deps.nc, workerSubject(this.deps.ns, workerId, "status"), { epoch: this.epoch }, 1000) as Promise<WorkerStatus>;
  }

  private async ask<T>(w: WorkerRef, verb: "step" | "apply" | "checkpoint" | "checkpointShard" | "validate", payload: object): Promise<T> {
    try {
      return (await call(this.deps.nc, workerSubject(this.deps.ns, w.id, verb), { epoch: this.epoch, ...payload }, this.timeouts.stepMs)) as T;
    } catch (err) {
      // a request that fails because a worker died: report the death (it is known moments later), not the symptom
      await Promise.race([this.failed.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
      throw this.failure ?? err;
    }
  }

  /** One step of the whole job; resolves once step k is committed. */
  async runStep(plan: StepPlan): Promise<CommittedStep & CombinedStep> {
    if (this.failure) throw this.failure;
    const split = splitMicroBatches(plan.batchSize, this.o.microBatch, this.o.dp, plan.firstSample);
    const ready = await Promise.race([
      Promise.all(
        this.workers.map((w) =>
          this.ask<ReadyReport>(w, "step", {
            step: plan.step,
            lr: plan.lr,
            firstSample: split.firstSampleOf(w.coords.d!),
            microBatches: split.perReplica,
            microBatch: this.o.microBatch,
            totalMicroBatches: split.totalMicroBatches,
          }),
        ),
      ),
      this.failed,
    ]);
    for (const [i, r] of ready.entries()) {
      if (r.step !== plan.step) throw new JobFailedError(`worker ${this.workers[i]!.id} reported ready(${r.step}) for step ${plan.step}`);
    }
    let combined: CombinedStep;
    try {
      combined = combineReady(plan.step, ready.map((r, i) => ({ coords: this.workers[i]!.coords, ...r })), split.totalMicroBatches, this.o.clip);
    } catch (err) {
      this.job.send({ type: "GIVE_UP", cause: (err as Error).message });
      throw err;
    }
    await Promise.race([Promise.all(this.workers.map((w) => this.ask<AppliedReport>(w, "apply", { step: plan.step, lr: plan.lr, clipScale: combined.clipScale }))), this.failed]);
    const committed: CommittedStep = {
      jobId: this.o.jobId,
      step: plan.step,
      epoch: this.epoch,
      tokensSeen: plan.tokensAfter,
      samplesSeen: plan.firstSample + plan.batchSize,
      loss: combined.loss,
      gradNorm: combined.gradNorm,
      lr: plan.lr,
      batchSize: plan.batchSize,
      time: Date.now(),
    };
    await this.store!.commit(committed);
    this.job.send({ type: "STEP_COMMITTED", step: plan.step });
    return { ...committed, ...combined };
  }

  /**
   * Validation loss of the current weights, computed by replica 0 (every replica holds the same weights): its one
   * worker, or with pp or tp > 1 all its (stage, TP rank) workers, of which only the loss rank answers non-zero.
   */
  async validate(req: { step: number; batches: number; microBatch: number }): Promise<number> {
    if (this.failure) throw this.failure;
    const replica0 = this.o.layout ? this.workers.filter((w) => w.coords.d === 0) : [this.workers[0]!];
    const answers = await Promise.race([Promise.all(replica0.map((w) => this.ask<{ loss: number }>(w, "validate", req))), this.failed]);
    return answers.reduce((sum, a) => sum + a.loss, 0);
  }

  /** dp rank 0 writes the checkpoint of the last committed step; returns its folder. */
  async checkpoint(req: { step: number; tokensSeen: number; samplesSeen: number; root: string; keep: number; metrics: Record<string, number> }): Promise<string> {
    this.job.send({ type: "CHECKPOINT" });
    const { dir } = await this.ask<{ dir: string }>(this.workers[0]!, "checkpoint", req);
    this.job.send({ type: "CHECKPOINTED" });
    return dir;
  }

  /**
   * pp or tp > 1: dp rank 0 of every (stage, tp rank) writes its shard into the staging folder; the manifest is
   * written last, here, once every shard is on disk, and only then the checkpoint becomes `latest`.
   */
  async checkpointSharded(req: { step: number; tokensSeen: number; samplesSeen: number; root: string; keep: number; metrics: Record<string, number>; config: TrainConfig }): Promise<string> {
    const layout = this.o.layout;
    if (!layout) throw new JobFailedError("sharded checkpoints need a job with pp or tp > 1");
    this.job.send({ type: "CHECKPOINT" });
    const staging = prepareStagingDir(req.root, req.step);
    const writers = this.workers.filter((w) => w.coords.d === 0);
    const reports = await Promise.race([Promise.all(writers.map((w) => this.ask<CheckpointShardReport>(w, "checkpointShard", { step: req.step, staging }))), this.failed]);
    const disagree = reports.find((r) => r.optimizerStepCount !== reports[0]!.optimizerStepCount);
    if (disagree) throw new JobFailedError(`checkpoint of step ${req.step}: workers disagree on the optimizer step count (${disagree.optimizerStepCount} and ${reports[0]!.optimizerStepCount})`);
    const c = req.config;
    const tokenizer = reports[0]!.tokenizer;
    const manifest = buildShardedManifest(
      {
        step: req.step,
        tokensSeen: req.tokensSeen,
        samplesSeen: req.samplesSeen,
        seed: c.seed,
        data: { tokenizerFile: tokenizer.file, tokenizerSha256: tokenizer.sha256, seed: c.data.seed, nextSample: req.samplesSeen },
        config: c,
        metrics: req.metrics,
        optimizerStepCount: reports[0]!.optimizerStepCount,
      },
      { dp: layout.sizes.dp, pp: layout.sizes.pp, tp: layout.sizes.tp, layersPerStage: reports[0]!.layersPerStage },
      reports.map((r) => r.shard),
    );
    const dir = commitCheckpoint(req.root, manifest, req.step, { keep: req.keep });
    this.job.send({ type: "CHECKPOINTED" });
    return dir;
  }

  /** Stops every worker; records the job's end (completed when `finished`, else failed or stopped). */
  async stop(outcome: { finished: true } | { finished: false; cause: string }): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // workers record draining → stopped before the supervisor ends their processes
    await Promise.all(this.workers.map((w) => call(this.deps.nc, workerSubject(this.deps.ns, w.id, "drain"), { epoch: this.epoch }, 5000).catch(() => undefined)));
    if (outcome.finished) this.job.send({ type: "FINISHED" });
    else if (this.failure) this.job.send({ type: "GIVE_UP", cause: outcome.cause });
    else this.job.send({ type: "STOP" });
    await this.supervisor.stop(outcome.finished ? "job completed" : outcome.cause);
    this.exitSub?.unsubscribe();
    await this.recorder?.settled();
    this.recorder?.stop();
  }

  /** Actor record state of every worker as the supervisor sees it. */
  workerRecords(): { id: string; state: string }[] {
    return this.workers.map((w) => ({ id: w.id, state: recordState(this.supervisor.snapshot(w.id).value) }));
  }
}
