// Which actors `troupe ps` shows: by default the live ones and every actor of a job still running (its dead workers
// included); --all adds the dead actors of jobs that ended; --job, --state and --host narrow the list.
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { jobOfActor } from "../../actors/jobs/job-ids.ts";

export interface ActorFilter {
  all?: boolean;
  /** Actors of this job: its workers and its coordinator (actors/jobs/job-ids.ts). */
  job?: string;
  /** The supervisor's state (alive, dead, …) or the actor's own phase (stepping, idle, …). */
  state?: string;
  host?: string;
}

/** Ids of jobs whose lifecycle has not reached a final state (completed, failed, stopped). */
export function runningJobs(jobs: ReadonlyMap<string, LifecycleRecord>): Set<string> {
  return new Set([...jobs].filter(([, r]) => r.status !== "done").map(([id]) => id));
}

export function selectActors(
  records: readonly ActorRecord[],
  f: ActorFilter,
  running: ReadonlySet<string>,
  phases: ReadonlyMap<string, string> = new Map(),
): ActorRecord[] {
  return records.filter((r) => {
    if (f.job !== undefined && jobOfActor(r) !== f.job) return false;
    if (f.state !== undefined && r.state !== f.state && phases.get(r.id) !== f.state) return false;
    if (f.host !== undefined && r.host !== f.host) return false;
    return f.all || f.job !== undefined || r.state !== "dead" || running.has(jobOfActor(r));
  });
}
