// The job controller: starts the job's workers through the host agents as one supervised actor group
// (worker-group.ts), waits until every worker has loaded, then drives steps and checkpoints. It is the worker
// supervisor's parent, so an escalation (a worker that keeps crashing) reaches it before the other workers stop.
// The decisions are the training policy's (policy.ts and its parts); the job's state is its lifecycle machine
// (job-machine.ts), written to KV and the event stream; committed steps go to the job store (job-session.ts).
import type { Subscription } from "@nats-io/transport-node";
import { createActor } from "xstate";
import type { ConnectionStatus } from "../../runtime/connection.ts";
import type { ActorGroup } from "../../runtime/group/actor-group.ts";
import type { LifecycleStore, RecorderHandle } from "../../runtime/lifecycle-recorder.ts";
import type { Escalation, EscalationDecision, EscalationHandler } from "../../runtime/types.ts";
import type { PendingCheckpoint } from "../../ml/checkpoint/async-save.ts";
import type { TrainConfig } from "../../ml/train/config.ts";
import type { RankMember, RankPlace } from "../rank-members.ts";
import type { WorkerProtocol, WorkerStatus } from "../worker/protocol.ts";
import type { CheckpointRequest } from "./checkpoints.ts";
import { RolledBackError } from "./errors.ts";
import { jobMachine, type JobActor, type Resize } from "./job-machine.ts";
import { endJob, openJob, serveControl, type JobEnd } from "./job-session.ts";
import type { JobStore } from "./job-store.ts";
import { TrainingPolicy } from "./policy.ts";
import type { StepResult } from "./step-protocol.ts";
import type { CoordinatorDeps, CoordinatorOptions, RecoveryRecord, StepPlan, Victim } from "./types.ts";
import { takeOverJob } from "./takeover.ts";
import { workerGroup } from "./worker-group.ts";

export class Coordinator implements EscalationHandler {
  /** As the parent of the worker supervisor (EscalationHandler): the job id. */
  readonly id: string;
  readonly job: JobActor;
  private readonly group: ActorGroup<RankPlace, WorkerProtocol>;
  private readonly policy: TrainingPolicy;
  private store: JobStore | undefined;
  private recorder: RecorderHandle | undefined;
  private controlSub: Subscription | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly o: CoordinatorOptions,
  ) {
    this.id = o.jobId;
    this.job = createActor(jobMachine);
    this.group = workerGroup({ ...deps, parent: this }, o);
    this.policy = new TrainingPolicy({
      group: this.group,
      job: this.job,
      events: deps.events,
      logger: deps.logger,
      store: () => this.store,
      options: o,
    });
  }

  /** One worker per world rank, at its {dp, pp, tp} and rank. */
  get workers(): readonly RankMember[] {
    return this.group.members;
  }

  /** Every membership change moves it on; workers are started with it and reject older messages. */
  get epoch(): number {
    return this.group.epoch;
  }

  /** Every recovery of this job so far, in order. */
  get recoveries(): RecoveryRecord[] {
    return [...this.policy.recovery.records];
  }

  /** Workers lost since the last recovery, with the cause. */
  get lost(): ReadonlyMap<string, Victim> {
    return this.policy.recovery.victims;
  }

  connectionChanged(status: ConnectionStatus): void {
    this.group.connectionChanged(status);
  }

  /** Spawns the workers and waits until all of them have loaded their model. */
  async start(): Promise<void> {
    await this.open();
    await this.policy.start(() => this.group.start());
    await this.serveControl();
  }

  /**
   * Takes the job over from a coordinator that died (takeover.ts): the workers still running are adopted, those not
   * serving the job are recovered; the next runStep re-drives the step the predecessor left.
   */
  async takeOver(): Promise<void> {
    const lifecycles = await this.open();
    await this.group.start({ adopt: true });
    const { recovery, steps } = this.policy;
    const { logger } = this.deps;
    await takeOverJob({ jobId: this.id, group: this.group, job: this.job, recovery, steps, store: this.store!, lifecycles, logger });
    await this.serveControl();
  }

  /** The job's lifecycle record and its store. */
  private async open(): Promise<LifecycleStore> {
    const opened = await openJob(this.deps, this.id, this.job);
    this.recorder = opened.recorder;
    this.store = opened.store;
    return opened.lifecycles;
  }

  private async serveControl(): Promise<void> {
    const stop = this.o.onStopRequested;
    const group = this.group;
    this.controlSub = await serveControl(this.deps, {
      jobId: this.id,
      // the members now: an elastic job's change with it
      get workers() {
        return group.members;
      },
      restartWorkers: (ids, reason) => this.restartWorkers(ids, reason),
      scale: (dp, reason) => this.scale(dp, reason),
      ...(stop ? { requestStop: (reason: string) => ({ step: stop(reason) }) } : {}),
    });
  }

  /** One step of the whole job; resolves once step k is committed (a lost worker is recovered on the way). */
  runStep(plan: StepPlan): Promise<StepResult> {
    return this.policy.steps.runStep(plan);
  }

  validate(req: { step: number; batches: number; microBatch: number }): Promise<number> {
    return this.policy.steps.validate(req);
  }

  checkpoint(req: CheckpointRequest): Promise<PendingCheckpoint> {
    return this.policy.checkpoints.checkpoint(req);
  }

  checkpointSharded(req: CheckpointRequest & { config: TrainConfig }): Promise<PendingCheckpoint> {
    return this.policy.checkpoints.checkpointSharded(req);
  }

  /**
   * Between steps (validation, checkpoint): recovers workers lost since the last committed step `committed`, so
   * the request that failed can be asked again. Throws RolledBackError if the job had to roll back.
   */
  async recoverNow(committed: number): Promise<void> {
    if (this.group.failure) throw this.group.failure;
    if (!this.policy.recovery.pending) return;
    const r = await this.policy.recovery.recover(committed);
    if (r.rolledBack) throw new RolledBackError(r.rolledBack);
  }

  /** Graceful restart of these workers at the next step boundary, each from a live DP peer (operator-restart.ts). */
  restartWorkers(ids: string[], reason: string): Promise<RecoveryRecord[]> {
    return this.policy.restarts.restartWorkers(ids, reason);
  }

  /** An elastic job that shrank: `dp` replicas again from the next step boundary (elastic-grow.ts). */
  scale(dp: number, reason: string): Promise<Resize> {
    return this.policy.grow.scale(dp, reason);
  }

  handleEscalation(e: Escalation): Promise<EscalationDecision> {
    return this.policy.escalation.handle(e);
  }

  status(workerId: string): Promise<WorkerStatus> {
    const w = this.group.members.find((m) => m.id === workerId)!;
    return this.group.ask(w, "status", {}, { timeoutMs: 1000 });
  }

  /** Actor record state of every worker as the supervisor sees it. */
  workerRecords(): { id: string; state: string; pid: number | null }[] {
    return this.group.records().map(({ id, state, pid }) => ({ id, state, pid }));
  }

  /** Stops every worker; records the job's end (completed when `finished`, else failed or stopped). */
  stop(outcome: JobEnd): Promise<void> {
    this.stopping ??= this.stopOnce(outcome);
    return this.stopping;
  }

  private async stopOnce(outcome: JobEnd): Promise<void> {
    this.job.send({ type: "STOPPING" });
    this.controlSub?.unsubscribe();
    this.policy.restarts.cancelAll();
    await endJob(this.deps, this.id, this.job, this.group, outcome);
    await this.recorder?.settled();
    this.recorder?.stop();
  }
}
