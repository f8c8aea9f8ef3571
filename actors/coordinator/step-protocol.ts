// One training step of the whole job: step(k) to every worker → ready reports → combine (loss, gradient norm, clip)
// → apply(k) to every worker → applied → commit (job store). A worker lost on the way is recovered (live-recovery.ts)
// and step k runs again, or is committed as it is when every worker had applied it. Validation asks the first live replica.
import type { Logger } from "../../runtime/logger.ts";
import { wireCoords } from "../rank-members.ts";
import { combineReady, skippedStep, splitMicroBatches, type CombinedStep } from "./combine.ts";
import { JobFailedError, RolledBackError, WorkerLostError } from "./errors.ts";
import { whileJob, type JobActor } from "./job-machine.ts";
import type { CommittedStep, JobStore } from "./job-store.ts";
import type { LiveRecovery } from "./live-recovery.ts";
import { liveReplicas } from "./replicas.ts";
import type { StepHealth } from "./step-health.ts";
import type { StepPlan } from "./types.ts";
import type { WorkerGroup } from "./worker-group.ts";

export interface StepProtocolDeps {
  jobId: string;
  group: WorkerGroup;
  job: JobActor;
  recovery: Pick<LiveRecovery, "pending" | "victims" | "recover" | "ask">;
  health: Pick<StepHealth, "afterReady">;
  store: () => Pick<JobStore, "commit" | "recordApply"> | undefined;
  logger: Logger;
  /** Operator restarts wait for a step boundary (operator-restart.ts). */
  restarts: { runQueued(step: number): Promise<void>; restartWorkers(ids: string[], reason: string): Promise<unknown> };
  /** An elastic job asked to grow does so at a step boundary (elastic-grow.ts). */
  grow?: { runQueued(step: number): Promise<void> };
  microBatch: number;
  clip: number;
}

export type StepResult = CommittedStep & CombinedStep;

export class StepProtocol {
  /** The step whose apply was sent, with what was combined: committed without rerun if every worker applied it. */
  private applySent: { step: number; combined: CombinedStep } | undefined;
  /** The last step committed: what an escalated job's final checkpoint holds. */
  lastCommitted: CommittedStep | undefined;

  constructor(private readonly d: StepProtocolDeps) {}

  /** A coordinator taking the job over: where its predecessor stood (the last apply it sent, the last commit). */
  takeOver(applySent: { step: number; combined: CombinedStep } | undefined, lastCommitted: CommittedStep | undefined): void {
    this.applySent = applySent;
    this.lastCommitted = lastCommitted;
  }

  /** Resolves once step k is committed; a worker lost on the way is recovered first. */
  async runStep(plan: StepPlan): Promise<StepResult> {
    const { group, recovery } = this.d;
    await this.d.restarts.runQueued(plan.step);
    await this.d.grow?.runQueued(plan.step);
    for (;;) {
      if (group.failure) throw group.failure;
      if (recovery.pending) {
        const r = await recovery.recover(plan.step);
        if (r.rolledBack) throw new RolledBackError(r.rolledBack);
        if (r.appliedEverywhere && this.applySent?.step === plan.step) return this.commit(plan, this.applySent.combined);
      }
      try {
        return await this.attempt(plan);
      } catch (err) {
        if (group.failure) throw group.failure;
        if (!(err instanceof WorkerLostError) && !recovery.pending) throw err;
      }
    }
  }

  /**
   * Validation loss of the current weights, computed by replica 0 (every replica holds the same weights): its one
   * worker, or with pp or tp > 1 all its (stage, TP rank) workers, of which only the loss rank answers non-zero.
   */
  async validate(req: { step: number; batches: number; microBatch: number }): Promise<number> {
    const { group, recovery } = this.d;
    if (group.failure) throw group.failure;
    if (recovery.pending) throw this.lostError();
    const first = liveReplicas(group.members)[0];
    const replica0 = group.members.filter((w) => w.coords.dp === first);
    const answers = await Promise.race([Promise.all(replica0.map((w) => recovery.ask(w, "validate", req))), group.failed]);
    return answers.reduce((sum, a) => sum + a.loss, 0);
  }

  private async attempt(plan: StepPlan): Promise<StepResult> {
    const { group, recovery } = this.d;
    const workers = group.members;
    // the replicas are the group's: a step's micro-batches split over those that are members now (replicas.ts)
    const replicas = liveReplicas(workers);
    const split = splitMicroBatches(plan.batchSize, this.d.microBatch, replicas.length, plan.firstSample);
    const ready = await this.whileTraining(
      Promise.all(
        workers.map((w) =>
          recovery.ask(w, "step", {
            step: plan.step,
            lr: plan.lr,
            ...split.blockOf(replicas.indexOf(w.coords.dp)),
            microBatch: this.d.microBatch,
            totalMicroBatches: split.totalMicroBatches,
          }),
        ),
      ),
    );
    for (const [i, r] of ready.entries()) {
      if (r.step !== plan.step) throw new JobFailedError(`worker ${workers[i]!.id} reported ready(${r.step}) for step ${plan.step}`);
    }
    const health = await this.d.health.afterReady(
      plan.step,
      group.epoch,
      workers.map((w) => ({ id: w.id, coords: wireCoords(w.coords) })),
      ready,
    );
    const again = health.restart;
    if (again)
      this.d.restarts
        .restartWorkers([again.id], again.reason)
        .catch((err: unknown) => this.d.logger.warn({ err, worker: again.id }, "restart of a repeat NaN/inf offender failed"));
    let combined: CombinedStep;
    try {
      combined = health.skip
        ? skippedStep()
        : combineReady(
            plan.step,
            ready.map((r, i) => ({ coords: workers[i]!.coords, ...r })),
            split.totalMicroBatches,
            this.d.clip,
          );
    } catch (err) {
      this.d.job.send({ type: "GIVE_UP", cause: (err as Error).message });
      throw err;
    }
    this.applySent = { step: plan.step, combined };
    await this.d.store()!.recordApply(this.d.jobId, this.applySent);
    const apply = { step: plan.step, lr: plan.lr, clipScale: combined.clipScale, ...(combined.skipped ? { skip: true } : {}) };
    await this.whileTraining(Promise.all(workers.map((w) => recovery.ask(w, "apply", apply))));
    // each worker's busy time of the step (its ready report's busyMs: wall time minus time blocked in collectives)
    const busy = workers.flatMap((w, i) => (ready[i]!.busyMs === undefined ? [] : [[w.id, ready[i]!.busyMs! / 1000] as const]));
    // and what its collectives moved and took since its previous step (its ready report's collective)
    const collective = workers.flatMap((w, i) => (ready[i]!.collective ? [[w.id, ready[i]!.collective!] as const] : []));
    const collectiveTotal = workers.flatMap((w, i) => (ready[i]!.collectiveTotal ? [[w.id, ready[i]!.collectiveTotal!] as const] : []));
    return this.commit(plan, combined, {
      ...(busy.length ? { busySeconds: Object.fromEntries(busy) } : {}),
      ...(collective.length ? { collective: Object.fromEntries(collective) } : {}),
      ...(collectiveTotal.length ? { collectiveTotal: Object.fromEntries(collectiveTotal) } : {}),
    });
  }

  private async commit(
    plan: StepPlan,
    combined: CombinedStep,
    measured: Pick<CommittedStep, "busySeconds" | "collective" | "collectiveTotal"> = {},
  ): Promise<StepResult> {
    const committed: CommittedStep = {
      jobId: this.d.jobId,
      step: plan.step,
      epoch: this.d.group.epoch,
      tokensSeen: plan.tokensAfter,
      samplesSeen: plan.firstSample + plan.batchSize,
      loss: combined.loss,
      gradNorm: combined.gradNorm,
      lr: plan.lr,
      batchSize: plan.batchSize,
      time: Date.now(),
      ...(combined.skipped ? { skipped: true } : {}),
      ...measured,
    };
    await this.d.store()!.commit(committed);
    this.lastCommitted = committed;
    this.d.job.send({ type: "STEP_COMMITTED", step: plan.step });
    return { ...committed, ...combined };
  }

  /** Work of the step, abandoned when a worker is lost (the job leaves `training`) or the job fails. */
  private whileTraining<T>(work: Promise<T>): Promise<T> {
    return whileJob(
      this.d.job,
      (s) => s.matches("training"),
      Promise.race([work, this.d.group.failed]),
      () => this.lostError(),
    );
  }

  private lostError(): Error {
    const first = this.d.recovery.victims.entries().next().value;
    if (!first) return new JobFailedError(`job ${this.d.jobId} is ${JSON.stringify(this.d.job.getSnapshot().value)}: no step runs`);
    return new WorkerLostError(first[0], first[1].cause);
  }
}
