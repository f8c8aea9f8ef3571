// The job controller: spawns the job's workers through the host agent under a Supervisor, waits until
// every worker has loaded, then drives steps (step → ready → combine → apply → applied → commit) and
// asks dp rank 0 for checkpoints. The job lifecycle is written to KV and the event stream.
// A lost worker is recovered live (recovery.ts): only it restarts, it takes its state from a DP peer, and the
// interrupted step runs again; a loss during a recovery restarts it with every victim. Over the restart intensity
// the worker supervisor escalates to this coordinator (its parent), which stops the job with a final checkpoint
// of the last committed step from the live workers when they hold every shard, and the cause.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { createActor, type Actor } from "xstate";
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import type { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore, recordLifecycle, type RecorderHandle } from "../../runtime/lifecycle-recorder.ts";
import type { Logger } from "../../runtime/logger.ts";
import { jobMachine } from "./job-machine.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import type { Registry } from "../../runtime/registry.ts";
import { call, callRetrying } from "../../runtime/rpc.ts";
import { recordState, Supervisor } from "../../runtime/supervisor.ts";
import { byEscalation, crashLineOf, describeDeath, lostFromOutside } from "../../runtime/death-cause.ts";
import { LOAD_EPOCH_ENV } from "../../runtime/actor-process.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import type { Coordinates, Escalation, EscalationDecision, EscalationHandler, Timeouts } from "../../runtime/types.ts";
import type { PendingCheckpoint } from "../../ml/checkpoint/async-save.ts";
import { buildShardedManifest, commitCheckpoint, prepareStagingDir, stepDirName } from "../../ml/checkpoint/mod.ts";
import { readManifest } from "../../ml/checkpoint/store.ts";
import type { TrainConfig } from "../../ml/train/config.ts";
import { workerSubject, type AppliedReport, type CheckpointShardReport, type ReadyReport, type RecoverReport, type WorkerStatus, type WorkerVerb } from "../worker/protocol.ts";
import { serveJobControl } from "./control.ts";
import { recoverJob, RolledBackError, WorkerLostError, type RecoveryRecord } from "./recovery.ts";
import { KEEP_SPARE_ENV } from "../../runtime/agent/spare-pool.ts";
import type { RankLayout } from "../../ml/parallel/ranks.ts";
import { combineReady, skippedStep, splitMicroBatches, type CombinedStep } from "./combine.ts";
import { retriedVerbs, retryAttemptMs } from "./idempotent-verbs.ts";
import { StepHealth, type StepHealthOptions } from "./step-health.ts";
import { JobStore, type CommittedStep } from "./job-store.ts";
import type { WorkerRef } from "./types.ts";

export type { WorkerRef };

const workerMain = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../worker/main.ts");

export class JobFailedError extends Error {
  override name = "JobFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Where an escalated job's state was left: a checkpoint written at the escalation, or the newest one before it. */
export interface FinalCheckpoint {
  /** What happened, for the job's cause: "stopped with a checkpoint of step K: DIR" or why none was written. */
  note: string;
  dir?: string;
  step?: number;
  /** true when written at the escalation from the live workers. */
  written: boolean;
}

/** The job stopped because a worker kept failing (restart intensity exceeded); names the checkpoint to resume from. */
export class JobEscalatedError extends JobFailedError {
  override name = "JobEscalatedError";
  constructor(
    message: string,
    readonly checkpoint: FinalCheckpoint,
  ) {
    super(message);
  }
}

/** A recovery given up half-way: another worker was lost during it (it starts again) or the job is stopping. */
export class RecoveryInterruptedError extends Error {
  override name = "RecoveryInterruptedError";
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
  /** The job's rank layout when pp or tp > 1 (ml/parallel/ranks.ts); absent = dp workers. */
  layout?: RankLayout;
  microBatch: number;
  clip: number;
  timeouts?: Partial<Timeouts>;
  /** How long every worker has to reach idle (boot, join, load). */
  loadTimeoutMs?: number;
  /** NaN/inf repeat window and straggler thresholds (step-health.ts; defaults: 10 steps, 1.5× median for 5 steps). */
  health?: Omit<StepHealthOptions, "jobId">;
  /** Worker restarts allowed per period before the job escalates and stops (default 3 in 60 s). */
  intensity?: { maxRestarts: number; periodMs: number };
  /** Where checkpoints go: an escalated job writes its final checkpoint there. */
  checkpoints?: { root: string; keep: number; config: TrainConfig };
  /** Delay before a lost worker is restarted (default 20 ms, doubling to 500 ms). */
  backoff?: { initialMs: number; maxMs: number; jitter: number };
  /** The newest checkpoint written whole (the runner's): where to roll back when no DP peer holds a lost shard. */
  lastCheckpoint?: () => Promise<string | undefined>;
  /** Called after each recovery (progress output, benchmarks). */
  onRecovery?: (r: RecoveryRecord) => void;
  /** A worker was lost while the job loaded: every worker loads again in `epoch` (reloadAfterLoss). */
  onReload?: (r: { worker: string; cause: string; epoch: number }) => void;
}

export interface StepPlan {
  step: number;
  lr: number;
  batchSize: number;
  firstSample: number;
  tokensAfter: number;
}

/** Splits workers into batches in which no two hold the same shard (stage, tp rank), first come first. */
export function shardBatches(ws: readonly WorkerRef[]): WorkerRef[][] {
  const batches: WorkerRef[][] = [];
  for (const w of ws) {
    const fits = batches.find((b) => !b.some((x) => x.coords.p === w.coords.p && x.coords.t === w.coords.t));
    if (fits) fits.push(w);
    else batches.push([w]);
  }
  return batches;
}

const shardKey = (w: WorkerRef) => `${w.coords.p ?? 0}/${w.coords.t ?? 0}`;

export class Coordinator implements EscalationHandler {
  /** Every membership change bumps it; workers are started with it and reject older messages. */
  epoch = 1;
  /** As the parent of the worker supervisor (EscalationHandler): the job id. */
  readonly id: string;
  /** Every recovery of this job, in order. */
  readonly recoveries: RecoveryRecord[] = [];
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
  private controlSub: Subscription | undefined;
  private failed: Promise<never>;
  private failJob!: (err: Error) => void;
  /** Workers lost since the last recovery, with the cause; set by the supervisor's transitions. */
  readonly lost = new Map<string, { cause: string; at: number }>();
  /** Rejects when a worker is lost during this epoch: the step in flight is abandoned. */
  private disrupted: Promise<never> = new Promise<never>(() => undefined);
  private disrupt: (err: Error) => void = () => undefined;
  private training = false;
  private recovering = false;
  /** Requests waiting on a worker's answer, failed at once when it is lost. */
  private readonly lossWaiters = new Map<string, Set<(err: Error) => void>>();
  /** Operator restarts waiting for the next step boundary (restartWorkers). */
  private readonly restartQueue: { ids: string[]; reason: string; done: (r: RecoveryRecord[] | Error) => void }[] = [];
  /** The step whose apply was sent, with what was combined: committed without rerun if every worker applied it. */
  private applySent: { step: number; combined: CombinedStep } | undefined;
  /** NaN/inf skips and stragglers from the ready reports (step-health.ts). */
  private readonly health: StepHealth;
  /** The last step committed by this coordinator: what an escalated job's final checkpoint holds. */
  private lastCommitted: CommittedStep | undefined;
  /** Set once the worker supervisor escalated: no recovery starts, and the job ends in handleEscalation. */
  private escalating = false;
  /** Epoch the recovery in progress started in: a loss during it bumps the epoch and interrupts it. */
  private recoveryEpoch = 0;
  private recoveryInterrupted: Promise<never> = new Promise<never>(() => undefined);
  private interruptRecovery: (err: Error) => void = () => undefined;

  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly o: CoordinatorOptions,
  ) {
    // start: a worker boots (imports, native addon) in ~1.7 s of CPU, over a minute on 2 cores at load 30: as long as loading may take
    this.timeouts = validateTimeouts({ heartbeatMs: 500, suspectMs: 3000, killMs: 10_000, stepMs: 300_000, startMs: 180_000, ...o.timeouts });
    // one worker per world rank, named by rank; rank = d when pp = tp = 1
    this.workers = (o.layout?.coords ?? Array.from({ length: o.dp }, (_, d) => ({ dp: d, pp: 0, tp: 0 }))).map((c, rank) => ({
      id: `${o.jobId}-w${rank}`,
      coords: { d: c.dp, p: c.pp, t: c.tp, rank },
    }));
    this.id = o.jobId;
    this.job = createActor(jobMachine);
    // this coordinator is the supervisor's parent: an escalation reaches handleEscalation before the siblings stop
    this.supervisor = new Supervisor({ ...deps, parent: this }, {
      id: o.jobId,
      strategy: "one_for_one",
      intensity: validateIntensity(o.intensity ?? { maxRestarts: 3, periodMs: 60_000 }),
      backoff: validateBackoff(o.backoff ?? { initialMs: 20, maxMs: 500, jitter: 0.1 }),
      timeouts: this.timeouts,
      // single-threaded GC: many workers per machine gain nothing from GC helper threads (test/bench/parallel-overhead.ts)
      // the agent keeps a warm spare worker process: a lost worker's replacement skips the slow start (agent/spare-pool.ts)
      children: this.workers.map((w) => ({ id: w.id, coords: w.coords, argv: ["node", "--import", "tsx", "--single-threaded-gc", workerMain, "--job", o.jobFile], env: { [KEEP_SPARE_ENV]: "1" } })),
    });
    this.failed = new Promise<never>((_, reject) => (this.failJob = reject));
    this.failed.catch(() => undefined);
    this.health = new StepHealth({ events: deps.events, store: () => this.store, logger: deps.logger }, { jobId: o.jobId, ...o.health });
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
    this.supervisor.onTransition((rec, _from, death) => {
      if (this.stopping || (rec.state !== "failed" && rec.state !== "dead") || !death) return;
      const cause = describeDeath(death);
      const crash = crashLineOf(death);
      if (crash) this.crashes.set(rec.id, crash);
      if (rec.state === "failed" && this.training) {
        // the supervisor restarts it (one_for_one) with the new epoch; runStep recovers before going on
        // losses seen before a recovery starts share one new epoch (all their replacements join the same
        // communicator); a loss during a recovery bumps it again, which makes that recovery give up
        if (this.lost.size === 0 || this.recovering) {
          this.epoch++;
          this.supervisor.setEpoch(this.epoch);
        }
        this.lost.set(rec.id, { cause, at: Date.now() });
        if (this.recovering) this.interruptRecovery(new RecoveryInterruptedError(`worker ${rec.id} lost during the recovery (${cause})`));
        for (const reject of this.lossWaiters.get(rec.id) ?? []) reject(new WorkerLostError(rec.id, cause));
        this.job.send({ type: "FAILURE", actorId: rec.id, cause });
        this.disrupt(new WorkerLostError(rec.id, cause));
        return;
      }
      if (rec.state === "failed" && !this.training && lostFromOutside(death)) {
        this.reloadAfterLoss(rec.id, cause);
        return;
      }
      // an escalation stops every sibling too: the job's cause is the escalated worker's, not theirs; the escalated
      // worker's own death is handled by handleEscalation (this coordinator is the supervisor's parent)
      if (byEscalation(death)) return;
      this.fail(new JobFailedError(`worker ${rec.id} ${rec.state}: ${cause}${crash ? ` (${crash})` : ""}`));
    });
    this.supervisor.setEpoch(this.epoch);
    await this.supervisor.start();
    this.job.send({ type: "PROVISIONED" });
    await Promise.race([this.waitLoaded(), this.failed]);
    this.job.send({ type: "INITIALIZED" });
    this.training = true;
    // operator control (troupe restart --stage/--replica): graceful restarts through restartWorkers
    this.controlSub = serveJobControl(nc, ns, this, (err, subject) => this.deps.logger.warn({ kind: err.name, reason: err.message, subject }, "control request rejected"));
    this.newDisruption();
  }

  private newDisruption(): void {
    this.disrupted = new Promise<never>((_, reject) => (this.disrupt = reject));
    this.disrupted.catch(() => undefined);
  }

  /** Error line of the worker's last crash (host agent's exit report), if any. */
  crashLineOf(id: string): string | undefined {
    return this.crashes.get(id);
  }

  /**
   * Fails the job with this cause (recovery impossible); returns the job's failure. A recovery interrupted by
   * another loss (it starts again with every victim) or by an escalation (the job stops there) does not fail it.
   */
  giveUp(err: Error): Error {
    if (this.escalating || (this.recovering && this.epoch !== this.recoveryEpoch)) return new RecoveryInterruptedError(err.message);
    this.fail(err);
    return this.failure ?? err;
  }

  /** While the job escalates only the escalation's own outcome ends it (`final`). */
  private fail(err: Error, final = false): void {
    if (this.failure) return;
    if (this.escalating && !final) {
      this.deps.logger.warn({ err: err.message }, "failure during the escalation (the escalation ends the job)");
      return;
    }
    this.failure = err;
    this.deps.logger.error({ err: err.message }, "job failing");
    this.failJob(err);
  }

  /**
   * A worker killed or gone silent before training started (not one that exited with an error of its own: a
   * restart would not mend that). Nothing is trained yet, so rather than recovering it from a peer every worker
   * loads again in a new epoch: survivors may be waiting in the old epoch's communicator for the lost one, and a
   * job with one replica has no peer. The lost worker's restart (supervisor, one_for_one) counts against the
   * restart intensity; the others' do not.
   */
  private reloadAfterLoss(id: string, cause: string): void {
    this.epoch++;
    // workers started in this epoch load from scratch; one started in a later epoch replaces a lost worker
    this.supervisor.setEpoch(this.epoch, { [LOAD_EPOCH_ENV]: String(this.epoch) });
    const reason = `reload in epoch ${this.epoch}: worker ${id} was lost while the job loaded (${cause})`;
    this.deps.logger.warn({ worker: id, cause, epoch: this.epoch }, "worker lost while the job loaded: every worker loads again");
    for (const w of this.workers) {
      const state = recordState(this.supervisor.snapshot(w.id).value);
      if (w.id !== id && state !== "failed" && state !== "dead") this.supervisor.restartChild(w.id, reason, "job.restart");
    }
    this.o.onReload?.({ worker: id, cause, epoch: this.epoch });
    void this.deps.events
      .publish({ type: "job.reloaded", subject: this.o.jobId, time: Date.now(), data: { jobId: this.o.jobId, worker: id, cause, epoch: this.epoch } }, `job:${this.o.jobId}:reloaded:e${this.epoch}`)
      .catch((err: unknown) => this.deps.logger.warn({ err }, "job.reloaded event not written"));
  }

  /** Waits until every worker has loaded in the current epoch; starts over when a reload moved the epoch on. */
  private async waitLoaded(): Promise<void> {
    for (;;) {
      const epoch = this.epoch;
      const deadline = Date.now() + (this.o.loadTimeoutMs ?? 180_000);
      await Promise.all(this.workers.map((w) => this.waitWorkerLoaded(w, epoch, deadline)));
      if (this.epoch === epoch) return;
    }
  }

  private async waitWorkerLoaded(w: WorkerRef, epoch: number, deadline: number): Promise<void> {
    while (this.epoch === epoch) {
      const s = await this.status(w.id).catch(() => undefined);
      // the process the supervisor started last: one being replaced by a reload may still answer for a moment
      if (s?.state === "idle" && s.pid === this.supervisor.snapshot(w.id).context.pid) return;
      if (Date.now() > deadline) throw new JobFailedError(`worker ${w.id} did not finish loading in time (last state: ${s?.state ?? "not answering"})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  status(workerId: string): Promise<WorkerStatus> {
    return call(this.deps.nc, workerSubject(this.deps.ns, workerId, "status"), { epoch: this.epoch }, 1000) as Promise<WorkerStatus>;
  }

  private async ask<T>(w: WorkerRef, verb: WorkerVerb, payload: object, timeoutMs = this.timeouts.stepMs): Promise<T> {
    const epoch = this.epoch;
    const lostBefore = this.lost.size;
    try {
      const subject = workerSubject(this.deps.ns, w.id, verb);
      // a request to a worker that dies is answered at once, not at its timeout
      if (!retriedVerbs.has(verb)) return await this.unlessLost(w.id, call(this.deps.nc, subject, { epoch, ...payload }, timeoutMs) as Promise<T>);
      const stop = () => this.failure ?? (this.lost.size > lostBefore || this.epoch !== epoch ? new WorkerLostError([...this.lost.keys()].join(", ") || "a worker", "lost during the request") : undefined);
      return (await callRetrying(this.deps.nc, subject, { epoch, ...payload }, { attemptMs: Math.min(retryAttemptMs, timeoutMs), deadlineMs: timeoutMs, stop })) as T;
    } catch (err) {
      // a request that fails because a worker died: report the death (it is known moments later), not the symptom
      await Promise.race([this.failed.catch(() => undefined), this.disrupted.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
      if (this.failure) throw this.failure;
      if (this.lost.size > lostBefore || this.epoch !== epoch) throw new WorkerLostError([...this.lost.keys()].join(", ") || "a worker", "lost during the request");
      throw err;
    }
  }

  private unlessLost<T>(id: string, p: Promise<T>): Promise<T> {
    let reject!: (err: Error) => void;
    const lost = new Promise<never>((_, r) => (reject = r));
    const waiters = this.lossWaiters.get(id) ?? new Set();
    this.lossWaiters.set(id, waiters);
    waiters.add(reject);
    return Promise.race([p, lost]).finally(() => waiters.delete(reject));
  }

  /** Asks one worker (recovery.ts). */
  request<T>(w: WorkerRef, verb: WorkerVerb, payload: object, timeoutMs?: number): Promise<T> {
    return this.ask<T>(w, verb, payload, timeoutMs);
  }

  /** Races `p` against the job failing (with the cause) and against the recovery in progress being interrupted. */
  orFail<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.failed, this.recoveryInterrupted]);
  }

  /**
   * One step of the whole job; resolves once step k is committed. A worker lost on the way is recovered (only it
   * restarts, state from a DP peer) and step k runs again, or is committed if every worker had applied it.
   */
  async runStep(plan: StepPlan): Promise<CommittedStep & CombinedStep> {
    await this.restartQueued(plan.step);
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.lost.size > 0) {
        const r = await this.recoverLost(plan.step);
        if (r.rolledBack) throw new RolledBackError(r.rolledBack);
        if (r.appliedEverywhere && this.applySent?.step === plan.step) return this.commit(plan, this.applySent.combined);
      }
      try {
        return await this.attemptStep(plan);
      } catch (err) {
        if (this.failure) throw this.failure;
        if (!(err instanceof WorkerLostError) && this.lost.size === 0) throw err;
      }
    }
  }

  /**
   * Graceful operator restart: at the next step boundary these workers are killed and restarted, and each takes
   * its state from a live DP peer. Workers holding the same shard (a whole stage of every replica) go one batch
   * after the other, so a peer always exists. Resolves with one record per worker once all are back.
   */
  restartWorkers(ids: string[], reason: string): Promise<RecoveryRecord[]> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.stopping) return Promise.reject(new JobFailedError(`job ${this.o.jobId} is stopping: no restart`));
    for (const id of ids) {
      const w = this.workers.find((x) => x.id === id);
      if (!w) return Promise.reject(new JobFailedError(`job ${this.o.jobId} has no worker '${id}' (workers: ${this.workers.map((x) => x.id).join(", ")})`));
      const peers = this.workers.filter((x) => x.id !== id && x.coords.p === w.coords.p && x.coords.t === w.coords.t);
      if (peers.length === 0) return Promise.reject(new JobFailedError(`worker ${id} has no data-parallel peer to take its state from (dp = 1): restart the job from a checkpoint instead`));
    }
    return new Promise((resolve, reject) => {
      this.restartQueue.push({ ids: [...new Set(ids)], reason, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  /** Runs queued operator restarts, one batch of distinct shards at a time; called between steps. */
  private async restartQueued(step: number): Promise<void> {
    for (let q = this.restartQueue.shift(); q; q = this.restartQueue.shift()) {
      const records: RecoveryRecord[] = [];
      try {
        for (const batch of shardBatches(q.ids.map((id) => this.workers.find((w) => w.id === id)!))) {
          const at = Date.now();
          this.epoch++;
          this.supervisor.setEpoch(this.epoch);
          for (const w of batch) this.lost.set(w.id, { cause: `restarted by operator: ${q.reason}`, at });
          this.job.send({ type: "FAILURE", actorId: batch.map((w) => w.id).join(","), cause: q.reason });
          for (const w of batch) this.supervisor.restartChild(w.id, q.reason);
          const before = this.recoveries.length;
          await this.recoverLost(step - 1);
          records.push(...this.recoveries.slice(before));
        }
        q.done(records);
      } catch (err) {
        q.done(err as Error);
        throw err;
      }
    }
  }

  async lastCheckpoint(): Promise<string | undefined> {
    return this.o.lastCheckpoint?.();
  }

  /**
   * Recovers every lost worker: whether every worker had applied `step` already, or the checkpoint rolled back to.
   * A worker lost during the recovery (another epoch) interrupts it: the replacements started for the abandoned
   * epoch are started again in the new one and the recovery starts over with every victim.
   */
  private async recoverLost(step: number): Promise<Awaited<ReturnType<typeof recoverJob>>> {
    let r: Awaited<ReturnType<typeof recoverJob>>;
    for (;;) {
      await this.settleLosses();
      // over the restart intensity the supervisor escalates: the job ends in handleEscalation, no recovery starts
      if (this.escalating || this.supervisor.state === "escalated") await this.failed;
      const victims = [...this.lost.keys()];
      const epoch = this.epoch;
      this.recoveryEpoch = epoch;
      this.recoveryInterrupted = new Promise<never>((_, reject) => (this.interruptRecovery = reject));
      this.recoveryInterrupted.catch(() => undefined);
      this.recovering = true;
      try {
        r = await recoverJob(this, step, { events: this.deps.events, timeoutMs: this.o.loadTimeoutMs ?? 180_000 });
        break;
      } catch (err) {
        if (this.failure) throw this.failure;
        if (!(err instanceof RecoveryInterruptedError)) throw err;
        if (this.escalating) await this.failed;
        const lost = [...this.lost.keys()];
        this.deps.logger.warn({ epoch, newEpoch: this.epoch, lost }, "a worker was lost during a recovery: it starts over with every victim");
        await this.deps.events
          .publish({ type: "job.recovery-restarted", subject: this.o.jobId, time: Date.now(), data: { abandonedEpoch: epoch, epoch: this.epoch, lost } }, `job:${this.o.jobId}:recovery-restarted:e${this.epoch}`)
          .catch((e: unknown) => this.deps.logger.warn({ err: e }, "recovery-restarted event not written"));
        for (const id of victims) this.supervisor.restartChild(id, `rejoin epoch ${this.epoch}: another worker was lost during its recovery`, "job.restart");
      } finally {
        this.recovering = false;
      }
    }
    this.newDisruption();
    for (const rec of r.records) {
      this.recoveries.push(rec);
      this.o.onRecovery?.(rec);
    }
    this.job.send({ type: "RECOVERED" });
    return r;
  }

  /**
   * Workers killed together are reported one by one (exit reports, heartbeats). Before a recovery starts every
   * other worker must answer: one that does not is dying too, and its loss joins this recovery (same epoch)
   * rather than breaking it halfway.
   */
  private async settleLosses(): Promise<void> {
    const deadline = Date.now() + this.timeouts.killMs;
    for (;;) {
      const others = this.workers.filter((w) => !this.lost.has(w.id));
      const silent = (await Promise.all(others.map((w) => this.status(w.id).then(() => undefined, () => w)))).filter((w) => w !== undefined);
      if (silent.length === 0 || Date.now() > deadline || this.failure) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Between steps (validation, checkpoint): recovers workers lost since the last committed step `committed`, so
   * the request that failed can be asked again. Throws RolledBackError if the job had to roll back.
   */
  async recoverNow(committed: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.lost.size === 0) return;
    const r = await this.recoverLost(committed);
    if (r.rolledBack) throw new RolledBackError(r.rolledBack);
  }

  /** Called by recovery.ts when `ids` are recovered: they are no longer lost. */
  markRecovered(ids: readonly string[]): void {
    for (const id of ids) this.lost.delete(id);
  }

  get jobId(): string {
    return this.o.jobId;
  }

  private async attemptStep(plan: StepPlan): Promise<CommittedStep & CombinedStep> {
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
      this.disrupted,
    ]);
    for (const [i, r] of ready.entries()) {
      if (r.step !== plan.step) throw new JobFailedError(`worker ${this.workers[i]!.id} reported ready(${r.step}) for step ${plan.step}`);
    }
    const health = await this.health.afterReady(plan.step, this.epoch, this.workers, ready);
    if (health.restart) this.restartWorkers([health.restart.id], health.restart.reason).catch((err: unknown) => this.deps.logger.warn({ err, worker: health.restart!.id }, "restart of a repeat NaN/inf offender failed"));
    let combined: CombinedStep;
    try {
      combined = health.skip ? skippedStep() : combineReady(plan.step, ready.map((r, i) => ({ coords: this.workers[i]!.coords, ...r })), split.totalMicroBatches, this.o.clip);
    } catch (err) {
      this.job.send({ type: "GIVE_UP", cause: (err as Error).message });
      throw err;
    }
    this.applySent = { step: plan.step, combined };
    await Promise.race([Promise.all(this.workers.map((w) => this.ask<AppliedReport>(w, "apply", { step: plan.step, lr: plan.lr, clipScale: combined.clipScale, ...(combined.skipped ? { skip: true } : {}) }))), this.failed, this.disrupted]);
    return this.commit(plan, combined);
  }

  private async commit(plan: StepPlan, combined: CombinedStep): Promise<CommittedStep & CombinedStep> {
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
      ...(combined.skipped ? { skipped: true } : {}),
    };
    await this.store!.commit(committed);
    this.lastCommitted = committed;
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

  /**
   * dp rank 0 copies the state of the last committed step and writes the checkpoint in the background: resolves
   * after the copy (the job may step on); `written` resolves with the folder once it is whole and `latest`.
   */
  async checkpoint(req: { step: number; tokensSeen: number; samplesSeen: number; root: string; keep: number; metrics: Record<string, number> }, writer = this.workers[0]!): Promise<PendingCheckpoint> {
    this.job.send({ type: "CHECKPOINT" });
    const { dir } = await this.ask<{ dir: string }>(writer, "checkpoint", req);
    this.job.send({ type: "CHECKPOINTED" });
    // a repeated request for the same step answers once the write is done
    const written = this.ask<{ dir: string }>(writer, "checkpoint", req).then((r) => r.dir);
    written.catch(() => undefined); // the caller awaits it before the next checkpoint and at the end
    return { step: req.step, dir, written };
  }

  /**
   * pp or tp > 1: dp rank 0 of every (stage, tp rank) copies its shard and writes it into the staging folder in the
   * background; resolves once every shard is copied. `written` resolves with the folder after every worker
   * reported its shard written (a repeated checkpointShard request answers then): only then is the manifest
   * written, here, and the checkpoint made `latest`.
   */
  async checkpointSharded(
    req: { step: number; tokensSeen: number; samplesSeen: number; root: string; keep: number; metrics: Record<string, number>; config: TrainConfig },
    writers = this.workers.filter((w) => w.coords.d === 0),
  ): Promise<PendingCheckpoint> {
    const layout = this.o.layout;
    if (!layout) throw new JobFailedError("sharded checkpoints need a job with pp or tp > 1");
    this.job.send({ type: "CHECKPOINT" });
    const staging = prepareStagingDir(req.root, req.step);
    const askAll = () => Promise.race([Promise.all(writers.map((w) => this.ask<CheckpointShardReport>(w, "checkpointShard", { step: req.step, staging }))), this.failed]);
    await askAll(); // every shard is copied
    this.job.send({ type: "CHECKPOINTED" });
    const written = (async () => {
      const reports = await askAll(); // every shard is written
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
      return commitCheckpoint(req.root, manifest, req.step, { keep: req.keep });
    })();
    written.catch(() => undefined); // the caller awaits it before the next checkpoint and at the end
    return { step: req.step, dir: path.join(req.root, stepDirName(req.step)), written };
  }

  /**
   * The worker supervisor exceeded its restart intensity (a worker keeps crashing): the job stops rather than loop.
   * Before the other workers are stopped, they are halted and, when every (stage, tp rank) shard still has a live
   * copy, they write a checkpoint of the last committed step; otherwise the newest existing checkpoint stands. The
   * job fails with the cause and that checkpoint; `troupe train --resume` continues from it.
   */
  async handleEscalation(e: Escalation): Promise<EscalationDecision> {
    this.escalating = true;
    this.interruptRecovery(new RecoveryInterruptedError(`the job is stopping: ${e.cause}`));
    let saved: FinalCheckpoint;
    try {
      if (this.stopping) saved = { note: "no checkpoint written: the job was stopping", written: false };
      else if (!this.training) saved = { note: "no checkpoint written: the job had not started training", written: false };
      else saved = await this.saveFinalCheckpoint();
    } catch (err) {
      const newest = await this.lastCheckpoint().catch(() => undefined);
      saved = { note: `the final checkpoint failed (${(err as Error).message}); ${newest ? `the newest existing checkpoint stands: ${newest}` : "no checkpoint exists"}`, dir: newest, written: false };
    }
    const line = crashLineOf(e.last);
    this.fail(new JobEscalatedError(`job ${this.o.jobId} stopped: ${e.cause}${line ? ` (${line})` : ""}; ${saved.note}`, saved), true);
    return "stop";
  }

  /** Halts the live workers and saves the last committed step from them when they hold every shard. */
  private async saveFinalCheckpoint(): Promise<FinalCheckpoint> {
    // a checkpoint being written lands (or is dropped with its writer) first
    const newest = await this.lastCheckpoint().catch(() => undefined);
    const stands = (why: string): FinalCheckpoint =>
      newest ? { note: `${why}: the newest existing checkpoint stands, ${newest}`, dir: newest, step: readManifest(newest).step, written: false } : { note: `${why}, and no checkpoint exists`, written: false };
    const target = this.o.checkpoints;
    if (!target) return stands("this job has no checkpoint folder");
    const live = this.workers.filter((w) => !this.lost.has(w.id));
    const writers = new Map<string, WorkerRef>();
    for (const w of live) if (!writers.has(shardKey(w))) writers.set(shardKey(w), w);
    const orphan = this.workers.find((w) => !writers.has(shardKey(w)));
    if (orphan) return stands(`no live worker holds stage ${orphan.coords.p ?? 0}, tp rank ${orphan.coords.t ?? 0}`);
    const reports = await Promise.all(live.map((w) => this.ask<RecoverReport>(w, "halt", {}, this.timeouts.killMs)));
    const applied = [...new Set(reports.map((r) => r.applied))];
    if (applied.length > 1) return stands(`the live workers disagree on the last applied step (${applied.join(", ")})`);
    const committed = this.lastCommitted;
    if (!committed) return stands("no step was committed since the job started");
    if (applied[0] !== committed.step) return stands(`the live workers hold step ${applied[0]}, not the last committed step ${committed.step}`);
    if (newest && readManifest(newest).step === committed.step) return { note: `the checkpoint of step ${committed.step} stands: ${newest}`, dir: newest, step: committed.step, written: false };
    const req = {
      step: committed.step,
      tokensSeen: committed.tokensSeen,
      samplesSeen: committed.samplesSeen,
      root: target.root,
      keep: target.keep,
      metrics: (Number.isFinite(committed.loss) ? { loss: committed.loss } : {}) as Record<string, number>,
    };
    const pending = this.o.layout ? await this.checkpointSharded({ ...req, config: target.config }, [...writers.values()]) : await this.checkpoint(req, [...writers.values()][0]);
    const dir = await pending.written;
    return { note: `stopped with a checkpoint of step ${committed.step}: ${dir}`, dir, step: committed.step, written: true };
  }

  /** Stops every worker; records the job's end (completed when `finished`, else failed or stopped). */
  async stop(outcome: { finished: true } | { finished: false; cause: string }): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.controlSub?.unsubscribe();
    for (let q = this.restartQueue.shift(); q; q = this.restartQueue.shift()) q.done(new JobFailedError(`job ${this.o.jobId} ended before the restart of ${q.ids.join(", ")}`));
    await Promise.all(this.workers.map((w) => this.drainWorker(w.id)));
    if (outcome.finished) this.job.send({ type: "FINISHED" });
    else if (this.failure) {
      this.job.send({ type: "GIVE_UP", cause: outcome.cause });
      const saved = this.failure instanceof JobEscalatedError ? this.failure.checkpoint : undefined;
      await this.deps.events
        .publish(
          { type: "job.failed", subject: this.o.jobId, time: Date.now(), data: { cause: outcome.cause, checkpoint: saved?.dir ?? null, checkpointStep: saved?.step ?? null, checkpointWritten: saved?.written ?? false } },
          `job:${this.o.jobId}:failed:${randomUUID()}`,
        )
        .catch((err: unknown) => this.deps.logger.warn({ err }, "job.failed event not written"));
    }
    else this.job.send({ type: "STOP" });
    await this.supervisor.stop(outcome.finished ? "job completed" : outcome.cause);
    await this.recorder?.settled();
    this.recorder?.stop();
  }

  /**
   * Asks a worker to drain, so it records draining → stopped before the supervisor ends its process. It answers once a
   * checkpoint it is writing in the background is whole (a hung one costs the timeout); a worker that dies meanwhile
   * (an escalation stops them all) is not waited for.
   */
  private async drainWorker(id: string): Promise<void> {
    const gone = () => ["dead", "failed"].includes(recordState(this.supervisor.snapshot(id).value));
    if (gone()) return;
    let poll: NodeJS.Timeout | undefined;
    const died = new Promise<void>((resolve) => (poll = setInterval(() => gone() && resolve(), 100)));
    try {
      await Promise.race([call(this.deps.nc, workerSubject(this.deps.ns, id, "drain"), { epoch: this.epoch }, 60_000).catch(() => undefined), died]);
    } finally {
      clearInterval(poll);
    }
  }

  /** Actor record state of every worker as the supervisor sees it. */
  workerRecords(): { id: string; state: string; pid: number | null }[] {
    return this.workers.map((w) => {
      const snap = this.supervisor.snapshot(w.id);
      return { id: w.id, state: recordState(snap.value), pid: snap.context.pid };
    });
  }
}
