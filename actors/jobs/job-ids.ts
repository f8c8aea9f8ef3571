// How a job's actors are named: its workers are supervised under the job's id; its coordinator `<job>-coordinator`
// is the one child of the job's own supervisor `jobs-<job>` (job-service.ts).
import type { ActorRecord } from "../../runtime/types.ts";

const JOB_SUPERVISOR_PREFIX = "jobs-";

/** The coordinator actor of a job. */
export const coordinatorIdOf = (jobId: string): string => `${jobId}-coordinator`;

/** The job whose coordinator this actor is, or null. */
export function jobOfCoordinator(actorId: string): string | null {
  return actorId.endsWith("-coordinator") ? actorId.slice(0, -"-coordinator".length) : null;
}

/** The supervisor the job service keeps per job, whose one child is the job's coordinator. */
export const jobSupervisorIdOf = (jobId: string): string => `${JOB_SUPERVISOR_PREFIX}${jobId}`;

/** The job an actor belongs to: its supervisor's, the coordinator's being the job's own supervisor. */
export function jobOfActor(r: Pick<ActorRecord, "supervisor">): string {
  return r.supervisor.startsWith(JOB_SUPERVISOR_PREFIX) ? r.supervisor.slice(JOB_SUPERVISOR_PREFIX.length) : r.supervisor;
}
