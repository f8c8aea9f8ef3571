// Each worker's collective bytes and seconds over a job, from the job's commits as the dashboard samples them: each
// commit carries every worker's counts since its process started (a count below the one before is a new process,
// whose whole count is added), so that no commit is needed but the newest. From an older coordinator, whose commits
// carry only the step's own counts, those of the commits seen are summed.
import type { CollectiveTally } from "../../runtime/collectives/transport-counters.ts";

/** Each worker's collective bytes and seconds: in a job's last committed step, and summed over its steps. */
export interface JobCollectives {
  step: number;
  last: Record<string, CollectiveTally>;
  total: Record<string, CollectiveTally>;
}

export class CollectiveTotals {
  /** "<job>/<worker>" → its counts since its process started, as last reported. */
  private readonly reported = new Map<string, CollectiveTally>();

  /** Adds a commit's counts of `job` to `c.total`; what each worker added. */
  add(job: string, c: JobCollectives, sinceStart: Record<string, CollectiveTally> | undefined): Record<string, CollectiveTally> {
    const added: Record<string, CollectiveTally> = {};
    for (const [worker, t] of Object.entries(sinceStart ?? c.last)) {
      const key = `${job}/${worker}`;
      const before = sinceStart && this.reported.get(key);
      const grew = before && t.sentBytes >= before.sentBytes && t.receivedBytes >= before.receivedBytes && t.seconds >= before.seconds;
      const d = grew
        ? {
            sentBytes: t.sentBytes - before.sentBytes,
            receivedBytes: t.receivedBytes - before.receivedBytes,
            seconds: t.seconds - before.seconds,
          }
        : t;
      if (sinceStart) this.reported.set(key, t);
      added[worker] = d;
      const sum = (c.total[worker] ??= { sentBytes: 0, receivedBytes: 0, seconds: 0 });
      sum.sentBytes += d.sentBytes;
      sum.receivedBytes += d.receivedBytes;
      sum.seconds += d.seconds;
    }
    return added;
  }
}
