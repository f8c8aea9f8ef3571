// Live recovery of lost workers. A loss while the job runs steps makes it a victim: the supervisor restarts it
// (one_for_one) in a new epoch, and the step in flight is abandoned (the job machine leaves `training`). Losses
// seen before a recovery starts share that epoch (all their replacements join the same communicator); a loss
// during a recovery moves the epoch on, and that recovery starts over with every victim, whose replacements are
// started again in the newer epoch. An attempt restores the victims from live DP peers or rolls the job back to a
// checkpoint (peer-restore.ts, rollback.ts), or, for an elastic job whose replacements do not come in time, drops
// the victims' replicas and starts over with the survivors (elastic.ts). Over the restart intensity the job
// escalates and no recovery starts.
import type { EventLog } from "../../runtime/event-log.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { RankMember } from "../rank-members.ts";
import type { ElasticShrink } from "./elastic.ts";
import { RecoveryInterruptedError, ReplacementsLateError } from "./errors.ts";
import { whileJob, type JobActor } from "./job-machine.ts";
import { restoreLost } from "./peer-restore.ts";
import type { RestoreOutcome } from "./restore-attempt.ts";
import type { RecoveryRecord, Victim } from "./types.ts";
import type { Ask, WorkerGroup } from "./worker-group.ts";

export interface LiveRecoveryDeps {
  jobId: string;
  group: WorkerGroup;
  job: JobActor;
  events: Pick<EventLog, "publish">;
  logger: Logger;
  /** Longest a replacement may take to load, and any one request of a recovery. */
  timeoutMs: number;
  lastCheckpoint: () => Promise<string | undefined>;
  onRecovery?: (r: RecoveryRecord) => void;
  /** Fails the job (a recovery that cannot succeed). */
  fail: (err: Error) => void;
  /** An elastic job drops replicas whose replacements do not come in time (elastic.ts). */
  elastic?: Pick<ElasticShrink, "replaceDeadline" | "shrink">;
  /** ZeRO-1 with dp > 2: the number of moment shards per (stage, tp rank) (CoordinatorOptions.zeroShards). */
  zeroShards?: number;
  /** An elastic ZeRO-1 job: every recovery ends with all workers re-sharding the moments (CoordinatorOptions.zeroReshards). */
  zeroReshards?: boolean;
}

export class LiveRecovery {
  /** Workers lost since the last recovery, with the cause. */
  readonly victims = new Map<string, Victim>();
  /** Every recovery of this job, in order. */
  readonly records: RecoveryRecord[] = [];
  readonly ask: Ask;

  constructor(
    private readonly d: LiveRecoveryDeps,
    ask: (victims: ReadonlyMap<string, Victim>) => Ask,
  ) {
    this.ask = ask(this.victims);
  }

  /** Whether workers were lost since the last recovery. */
  get pending(): boolean {
    return this.victims.size > 0;
  }

  /**
   * A worker lost while the job runs steps: it joins the victims; the step in flight is abandoned. A replacement
   * lost before the recovery ended keeps the first loss's cause and time: an elastic job's replace timeout counts
   * from it (replacements that keep hanging would otherwise move it on for ever).
   */
  lost(w: RankMember, cause: string): void {
    const { group, job } = this.d;
    if (this.victims.size === 0 || job.getSnapshot().matches({ recovering: "restoring" })) group.bumpEpoch();
    const first = this.victims.get(w.id);
    this.victims.set(w.id, first && !first.joining ? first : { cause, at: Date.now() });
    job.send({ type: "FAILURE", actorId: w.id, cause });
  }

  /**
   * Workers restarted on purpose (an operator's restart, or the job's own: a coordinator taking the job over): victims
   * in a new epoch, their processes killed and started again.
   */
  restart(batch: readonly RankMember[], reason: string, by: "operator.restart" | "job.restart" = "operator.restart"): void {
    const { group, job } = this.d;
    group.bumpEpoch();
    const at = Date.now();
    const cause = by === "operator.restart" ? `restarted by operator: ${reason}` : reason;
    for (const w of batch) this.victims.set(w.id, { cause, at });
    job.send({ type: "FAILURE", actorId: batch.map((w) => w.id).join(","), cause: reason });
    for (const w of batch) group.restart(w, reason, by);
  }

  /**
   * Recovers every victim; `step` is the step in flight when they were lost. Answers whether every worker had applied
   * it already, or the checkpoint the job rolled back to.
   */
  async recover(step: number): Promise<RestoreOutcome> {
    const { group, job } = this.d;
    for (;;) {
      await this.settle();
      // over the restart intensity the supervisor escalates: the job ends in the escalation, no recovery starts
      if (job.getSnapshot().matches("escalating")) await group.failed;
      const victims = [...this.victims.keys()];
      const epoch = group.epoch;
      job.send({ type: "RESTORE" });
      try {
        const r = await this.attempt(step, epoch);
        await this.recovered(r);
        return r;
      } catch (err) {
        if (group.failure) throw group.failure;
        if (err instanceof ReplacementsLateError && this.d.elastic && !this.interrupted(epoch)) {
          await this.d.elastic.shrink(this.victims, step);
          continue;
        }
        if (!this.interrupted(epoch)) {
          this.d.fail(err as Error);
          throw group.failure ?? err;
        }
        await this.startOver(epoch, victims);
      }
    }
  }

  private attempt(step: number, epoch: number): Promise<RestoreOutcome> {
    const { group, job } = this.d;
    const guard = <T>(p: Promise<T>) =>
      whileJob(
        job,
        (s) => s.matches({ recovering: "restoring" }),
        Promise.race([p, group.failed]),
        () => new RecoveryInterruptedError(`the recovery in epoch ${epoch} was interrupted`),
      );
    return restoreLost({
      jobId: this.d.jobId,
      group,
      ask: this.ask,
      victims: this.victims,
      step,
      epoch,
      timeoutMs: this.d.timeoutMs,
      lastCheckpoint: this.d.lastCheckpoint,
      guard,
      ...(this.d.zeroShards ? { zeroShards: this.d.zeroShards, zeroReshards: this.d.zeroReshards ?? false } : {}),
      ...(this.d.elastic ? { replaceDeadline: this.d.elastic.replaceDeadline(this.victims) } : {}),
    });
  }

  /** Another loss moved the epoch on, or the job escalates: the attempt is given up. */
  private interrupted(epoch: number): boolean {
    return this.d.group.epoch !== epoch || this.d.job.getSnapshot().matches("escalating");
  }

  private async recovered(r: RestoreOutcome): Promise<void> {
    for (const rec of r.records) this.victims.delete(rec.actorId);
    for (const rec of r.records) {
      await this.d.events.publish(
        { type: "worker.restored", subject: rec.actorId, time: Date.now(), data: { ...rec } },
        `job:${rec.jobId}:restored:${rec.actorId}:e${rec.epoch}`,
      );
    }
    for (const rec of r.records) {
      this.records.push(rec);
      this.d.onRecovery?.(rec);
    }
    this.d.job.send({ type: "RECOVERED" });
  }

  /** The replacements started for the abandoned epoch are started again in the new one. */
  private async startOver(abandoned: number, victims: readonly string[]): Promise<void> {
    const { group, job, logger, events, jobId } = this.d;
    if (job.getSnapshot().matches("escalating")) await group.failed;
    const lost = [...this.victims.keys()];
    logger.warn({ epoch: abandoned, newEpoch: group.epoch, lost }, "a worker was lost during a recovery: it starts over with every victim");
    await events
      .publish(
        { type: "job.recovery-restarted", subject: jobId, time: Date.now(), data: { abandonedEpoch: abandoned, epoch: group.epoch, lost } },
        `job:${jobId}:recovery-restarted:e${group.epoch}`,
      )
      .catch((e: unknown) => logger.warn({ err: e }, "recovery-restarted event not written"));
    for (const w of group.members.filter((m) => victims.includes(m.id)))
      group.restart(w, `rejoin epoch ${group.epoch}: another worker was lost during its recovery`, "job.restart");
  }

  /**
   * Workers killed together are reported one by one (exit reports, heartbeats). Before a recovery starts every other
   * worker answers or is lost: one that is dying too joins this recovery (same epoch) rather than breaking it halfway.
   */
  private async settle(): Promise<void> {
    const { group } = this.d;
    const others = group.members.filter((w) => !this.victims.has(w.id));
    await Promise.race([group.settle(others, { deadlineMs: group.timeouts.killMs }), group.failed.catch(() => undefined)]);
  }
}
