// What the coordinator learns from one step's ready reports besides the numbers: a NaN/inf that makes every rank
// skip the step (nonfinite.ts), an actor that keeps producing them, and stragglers (stragglers.ts). Publishes the
// events (`step.skipped`, `worker.quarantine-requested`, `worker.straggler`, `worker.straggler-cleared`) and keeps
// the straggler flags in the jobs bucket for `troupe ps`.
//
// Skip policy: a skipped step is consumed like Megatron's skipped iterations: its samples and tokens count, the
// learning-rate schedule moves on, and it is committed (marked `skipped`), so the committed-step log still holds
// every step once and a resume reads the same data order; only the optimizer does not step (its step count, which
// drives AdamW's bias correction, stays behind the job's step).
import type { EventLog } from "../../runtime/event-log.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { Coordinates } from "../../runtime/types.ts";
import type { ReadyReport } from "../worker/protocol.ts";
import type { JobStore } from "./job-store.ts";
import { findNonFinite, RepeatOffenders, type NonFiniteVerdict } from "./nonfinite.ts";
import { median, StragglerDetector, type StragglerOptions } from "./stragglers.ts";

/** Step times the straggler bar is measured against: the median of this many recent ones. */
const STEP_TIMES_KEPT = 5;

export interface StepHealthOptions {
  jobId: string;
  /** An actor named for NaN/inf twice within this many steps is restarted (default 10). */
  nonFiniteWindowSteps?: number;
  stragglers?: Partial<StragglerOptions>;
}

export interface StepHealthDeps {
  events: EventLog;
  store: () => JobStore | undefined;
  logger: Logger;
}

export interface StepVerdict {
  /** Set when every rank must skip this step. */
  skip?: NonFiniteVerdict;
  /** An actor that offended again within the window: restart it (Coordinator.restartWorkers). */
  restart?: { id: string; reason: string };
}

export class StepHealth {
  private readonly offenders: RepeatOffenders;
  private readonly stragglers: StragglerDetector;
  /** Last step whose busy times were observed: a step rerun after a recovery is not counted twice. */
  private observedStep = 0;
  /** When the last observed step's reports were all in (performance.now()). */
  private observedAt = 0;
  /** The job's recent step times (ms): from one step's reports to the next's, apply and commit included. */
  private readonly stepTimes: number[] = [];

  constructor(
    private readonly deps: StepHealthDeps,
    private readonly o: StepHealthOptions,
  ) {
    this.offenders = new RepeatOffenders(o.nonFiniteWindowSteps ?? 10);
    this.stragglers = new StragglerDetector(o.stragglers);
  }

  /** Workers flagged as stragglers now. */
  get flaggedStragglers(): string[] {
    return [...this.stragglers.flagged.keys()];
  }

  /** Reports in worker order. Publishes what it finds; event failures are logged, never fail the step. */
  async afterReady(
    step: number,
    epoch: number,
    workers: readonly { id: string; coords: Coordinates }[],
    ready: readonly ReadyReport[],
  ): Promise<StepVerdict> {
    const reports = ready.map((r, i) => ({ ...r, id: workers[i]!.id, coords: workers[i]!.coords }));
    await this.watchStragglers(step, reports);
    const skip = findNonFinite(step, reports);
    if (!skip) return {};
    const { jobId } = this.o;
    this.deps.logger.warn(
      { step, offender: skip.offender, suspects: skip.suspects },
      "non-finite gradients or loss: every rank skips the step",
    );
    await this.publish(
      {
        type: "step.skipped",
        subject: jobId,
        time: Date.now(),
        data: { jobId, step, epoch, offender: skip.offender, suspects: skip.suspects, evidence: skip.evidence },
      },
      `job:${jobId}:skipped:${step}:e${epoch}`,
    );
    if (!this.offenders.offended(skip.offender, step)) return { skip };
    // recorded for the operator; the coordinator restarts it (restartWorkers) at the next step boundary
    const reason = `non-finite gradients or loss again at step ${step} (within ${this.offenders.windowSteps} steps)`;
    await this.publish(
      { type: "worker.quarantine-requested", subject: skip.offender, time: Date.now(), data: { jobId, step, reason } },
      `job:${jobId}:quarantine:${skip.offender}:${step}`,
    );
    return { skip, restart: { id: skip.offender, reason } };
  }

  private async watchStragglers(step: number, reports: readonly (ReadyReport & { id: string; coords: Coordinates })[]): Promise<void> {
    if (step <= this.observedStep) return;
    // a flag left by an earlier run of this job (same actor ids) is not this run's
    if (this.observedStep === 0)
      await Promise.all(
        reports.map((r) =>
          this.deps
            .store()
            ?.setStraggler(r.id, null)
            .catch(() => undefined),
        ),
      );
    const stepMs = this.timeStep(step);
    // like with like: workers of one pipeline stage do the same work (stragglers.ts); a data-parallel job has one stage
    const samples = reports
      .filter((r) => r.busyMs !== undefined)
      .map((r) => ({ id: r.id, busyMs: r.busyMs!, group: `p${r.coords.p ?? 0}` }));
    const { flagged, cleared } = this.stragglers.observe(step, samples, stepMs);
    const { jobId } = this.o;
    for (const f of flagged) {
      this.deps.logger.warn({ ...f }, "straggler");
      const data = { jobId, step, ratio: f.ratio, busyMs: f.busyMs, medianMs: f.medianMs };
      const { factor, consecutive, minStepShare } = this.stragglers.options;
      const bar = { factor, consecutive, minStepShare, ...(f.stepMs !== undefined ? { stepMs: f.stepMs } : {}) };
      await this.publish(
        { type: "worker.straggler", subject: f.id, time: Date.now(), data: { ...data, ...bar } },
        `job:${jobId}:straggler:${f.id}:${step}`,
      );
      await this.deps
        .store()
        ?.setStraggler(f.id, data)
        .catch((err: unknown) => this.deps.logger.warn({ err }, "straggler flag write failed"));
    }
    for (const c of cleared) {
      await this.publish(
        { type: "worker.straggler-cleared", subject: c.id, time: Date.now(), data: { jobId, step, ratio: c.ratio } },
        `job:${jobId}:straggler-cleared:${c.id}:${step}`,
      );
      await this.deps
        .store()
        ?.setStraggler(c.id, null)
        .catch((err: unknown) => this.deps.logger.warn({ err }, "straggler flag write failed"));
    }
  }

  /**
   * Marks `step` observed; returns the job's typical step time, the median of the last few (undefined before two
   * steps in a row were observed). Only the time from a step to the next counts: a recovery's rerun does not.
   */
  private timeStep(step: number): number | undefined {
    const now = performance.now();
    if (this.observedStep > 0 && step === this.observedStep + 1) {
      this.stepTimes.push(now - this.observedAt);
      if (this.stepTimes.length > STEP_TIMES_KEPT) this.stepTimes.shift();
    }
    this.observedStep = step;
    this.observedAt = now;
    return this.stepTimes.length > 0 ? median(this.stepTimes) : undefined;
  }

  private async publish(event: Parameters<EventLog["publish"]>[0], msgId: string): Promise<void> {
    await this.deps.events
      .publish(event, msgId)
      .catch((err: unknown) => this.deps.logger.warn({ err, type: event.type }, "event publish failed"));
  }
}
