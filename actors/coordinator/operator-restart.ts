// Graceful restarts an operator asks for (troupe restart --stage/--replica/--actor, or a repeat NaN/inf offender):
// at the next step boundary the named workers are killed and started again, and each takes its state from a live
// data-parallel peer. Workers holding the same shard (a whole stage of every replica) go one batch after another,
// so a peer always exists.
import { sameShard, type RankMember } from "../rank-members.ts";
import { JobFailedError } from "./errors.ts";
import { isEnding, type JobActor } from "./job-machine.ts";
import type { LiveRecovery } from "./live-recovery.ts";
import type { RecoveryRecord } from "./types.ts";
import type { WorkerGroup } from "./worker-group.ts";

interface Queued {
  ids: string[];
  reason: string;
  done: (r: RecoveryRecord[] | Error) => void;
}

/** Splits workers into batches in which no two hold the same shard (stage, tp rank), first come first. */
function shardBatches(ws: readonly RankMember[]): RankMember[][] {
  const batches: RankMember[][] = [];
  for (const w of ws) {
    const fits = batches.find((b) => !b.some((x) => sameShard(x.coords, w.coords)));
    if (fits) fits.push(w);
    else batches.push([w]);
  }
  return batches;
}

export class OperatorRestarts {
  private readonly queue: Queued[] = [];

  constructor(
    private readonly d: {
      jobId: string;
      group: Pick<WorkerGroup, "members" | "failure">;
      job: JobActor;
      recovery: Pick<LiveRecovery, "restart" | "recover" | "records">;
    },
  ) {}

  /** Queues a restart of `ids` for the next step boundary; resolves with one record per worker once all are back. */
  restartWorkers(ids: string[], reason: string): Promise<RecoveryRecord[]> {
    const { group, jobId } = this.d;
    if (group.failure) return Promise.reject(group.failure);
    if (isEnding(this.d.job.getSnapshot())) return Promise.reject(new JobFailedError(`job ${jobId} is stopping: no restart`));
    for (const id of ids) {
      const w = group.members.find((x) => x.id === id);
      if (!w)
        return Promise.reject(
          new JobFailedError(`job ${jobId} has no worker '${id}' (workers: ${group.members.map((x) => x.id).join(", ")})`),
        );
      if (!group.members.some((x) => x.id !== id && sameShard(x.coords, w.coords))) {
        return Promise.reject(
          new JobFailedError(
            `worker ${id} has no data-parallel peer to take its state from (dp = 1): restart the job from a checkpoint instead`,
          ),
        );
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ ids: [...new Set(ids)], reason, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  /** Runs the queued restarts, one batch of distinct shards at a time; called before step `step` runs. */
  async runQueued(step: number): Promise<void> {
    const { group, recovery } = this.d;
    for (let q = this.queue.shift(); q; q = this.queue.shift()) {
      const records: RecoveryRecord[] = [];
      try {
        for (const batch of shardBatches(q.ids.map((id) => group.members.find((w) => w.id === id)!))) {
          recovery.restart(batch, q.reason);
          const before = recovery.records.length;
          await recovery.recover(step - 1);
          records.push(...recovery.records.slice(before));
        }
        q.done(records);
      } catch (err) {
        q.done(err as Error);
        throw err;
      }
    }
  }

  /** The job ends: queued restarts will not run. */
  cancelAll(): void {
    for (let q = this.queue.shift(); q; q = this.queue.shift())
      q.done(new JobFailedError(`job ${this.d.jobId} ended before the restart of ${q.ids.join(", ")}`));
  }
}
