// The training job's policy over its worker group, in parts that each get the group and what they need, never the
// coordinator: loading, the step protocol, live recovery, operator restarts, checkpoints, escalation. Here the
// parts are wired, losses are routed by what the job machine is doing, and the job fails once.
//
//   a worker lost…            while loading (from outside) → every worker loads again   (loading.ts)
//                             once loaded                  → recovered, the step reruns  (live-recovery.ts)
//                             by the escalation            → the escalation ends the job (escalation.ts)
//                             anything else                → the job fails with its cause
import { byEscalation, crashLineOf, describeDeath, lostFromOutside, type DeathCause } from "../../runtime/death-cause.ts";
import type { EventLog } from "../../runtime/event-log.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { RankMember } from "../rank-members.ts";
import { Checkpoints } from "./checkpoints.ts";
import { JobFailedError } from "./errors.ts";
import { ElasticShrink } from "./elastic.ts";
import { ElasticGrow } from "./elastic-grow.ts";
import { EscalationPolicy } from "./escalation.ts";
import { isEnding, type JobActor } from "./job-machine.ts";
import type { JobStore } from "./job-store.ts";
import { LiveRecovery } from "./live-recovery.ts";
import { Loading } from "./loading.ts";
import { OperatorRestarts } from "./operator-restart.ts";
import { StepHealth } from "./step-health.ts";
import { StepProtocol } from "./step-protocol.ts";
import type { CoordinatorOptions } from "./types.ts";
import { workerAsk, type WorkerGroup } from "./worker-group.ts";

export interface PolicyEnv {
  group: WorkerGroup;
  job: JobActor;
  events: EventLog;
  logger: Logger;
  /** The committed-step store, once opened. */
  store: () => JobStore | undefined;
  options: CoordinatorOptions;
}

/** How long a worker may take to load, a replacement included (a cold start on a loaded machine is slow). */
export const LOAD_TIMEOUT_MS = 180_000;

export class TrainingPolicy {
  readonly loading: Loading;
  readonly recovery: LiveRecovery;
  readonly restarts: OperatorRestarts;
  readonly steps: StepProtocol;
  readonly checkpoints: Checkpoints;
  readonly escalation: EscalationPolicy;
  readonly grow: ElasticGrow;

  constructor(private readonly env: PolicyEnv) {
    const { group, job, events, logger, options: o } = env;
    const jobId = o.jobId;
    const loadTimeoutMs = o.loadTimeoutMs ?? LOAD_TIMEOUT_MS;
    const lastCheckpoint = async () => o.lastCheckpoint?.();
    const modelParallel = o.layout !== undefined;
    this.loading = new Loading({ jobId, group, events, logger, timeoutMs: loadTimeoutMs, onReload: o.onReload });
    this.recovery = new LiveRecovery(
      {
        jobId,
        group,
        job,
        events,
        logger,
        timeoutMs: loadTimeoutMs,
        lastCheckpoint,
        onRecovery: o.onRecovery,
        ...(o.zeroShards ? { zeroShards: o.zeroShards, zeroReshards: o.zeroReshards ?? false } : {}),
        fail: (err) => this.fail(err),
        elastic: new ElasticShrink({ jobId, group, job, events, logger, options: o.elastic, onResize: o.onResize }),
      },
      (victims) => workerAsk(group, victims),
    );
    const ask = this.recovery.ask;
    this.grow = new ElasticGrow({ jobId, group, job, recovery: this.recovery, events, logger, onResize: o.onResize });
    this.restarts = new OperatorRestarts({ jobId, group, job, recovery: this.recovery });
    const health = new StepHealth({ events, store: env.store, logger }, { jobId, ...o.health });
    this.steps = new StepProtocol({
      jobId,
      group,
      job,
      recovery: this.recovery,
      health,
      store: env.store,
      logger,
      restarts: this.restarts,
      grow: this.grow,
      microBatch: o.microBatch,
      clip: o.clip,
    });
    this.checkpoints = new Checkpoints({ group, job, ask, layout: o.layout, ...(o.zeroShards ? { zeroShards: o.zeroShards } : {}) });
    this.escalation = new EscalationPolicy({
      jobId,
      group,
      job,
      ask,
      victims: this.recovery.victims,
      lastCommitted: () => this.steps.lastCommitted,
      checkpoints: this.checkpoints,
      target: o.checkpoints,
      modelParallel,
      ...(o.zeroShards ? { zeroShards: o.zeroShards } : {}),
      lastCheckpoint,
      fail: (err, final) => this.fail(err, final),
    });
    group.onLost((w, death, state) => this.lost(w, death, state));
  }

  /** Starts the workers and waits until all of them have loaded. */
  async start(startGroup: () => Promise<void>): Promise<void> {
    const { group, job } = this.env;
    await startGroup();
    job.send({ type: "PROVISIONED" });
    await Promise.race([this.loading.load(), group.failed]);
    job.send({ type: "INITIALIZED" });
  }

  /**
   * Fails the job with this cause (first failure wins). While the job escalates only the escalation's own outcome
   * (`final`) ends it: the workers it is saving are stopped after.
   */
  fail(err: Error, final = false): void {
    const { group, job, logger } = this.env;
    if (group.failure) return;
    if (job.getSnapshot().matches("escalating") && !final) {
      logger.warn({ err: err.message }, "failure during the escalation (the escalation ends the job)");
      return;
    }
    logger.error({ err: err.message }, "job failing");
    group.fail(err);
  }

  private lost(w: RankMember, death: DeathCause, state: "failed" | "dead"): void {
    const { job } = this.env;
    const s = job.getSnapshot();
    if (isEnding(s)) return;
    if (byEscalation(death)) {
      // the escalated worker's siblings stop after the decision; the escalation names the cause, not their stops
      if (death.kind === "escalated") job.send({ type: "ESCALATE" });
      return;
    }
    const cause = describeDeath(death);
    if (state === "failed" && s.hasTag("loaded")) return this.recovery.lost(w, cause);
    if (state === "failed" && s.hasTag("loading") && lostFromOutside(death)) return this.loading.reload(w, cause);
    const line = crashLineOf(death);
    this.fail(new JobFailedError(`worker ${w.id} ${state}: ${cause}${line ? ` (${line})` : ""}`));
  }
}
