// What a coordinator holds open while it drives a job, apart from the policy: the job's lifecycle record and its
// store (opened), the job's control subject (served), and the end of the job (recorded: completed, stopped, or
// failed with the checkpoint it left).
import { randomUUID } from "node:crypto";
import type { Subscription } from "@nats-io/transport-node";
import type { ActorGroup } from "../../runtime/group/actor-group.ts";
import { LifecycleStore, recordLifecycle, type RecorderHandle } from "../../runtime/lifecycle-recorder.ts";
import type { RankMember, RankPlace } from "../rank-members.ts";
import type { WorkerProtocol } from "../worker/protocol.ts";
import { serveJobControl } from "./control.ts";
import { JobEscalatedError } from "./errors.ts";
import type { JobActor, Resize } from "./job-machine.ts";
import { JobStore } from "./job-store.ts";
import type { CoordinatorDeps, RecoveryRecord } from "./types.ts";

export interface OpenedJob {
  lifecycles: LifecycleStore;
  recorder: RecorderHandle;
  store: JobStore;
}

export type JobEnd = { finished: true } | { finished: false; cause: string };

/** Starts the job machine with its lifecycle record (KV and events) and opens the job store. */
export async function openJob(deps: CoordinatorDeps, jobId: string, job: JobActor): Promise<OpenedJob> {
  const { nc, ns, events, logger } = deps;
  const lifecycles = await LifecycleStore.open(nc, ns);
  job.start();
  const recorder = await recordLifecycle(job, {
    kind: "job",
    id: jobId,
    store: lifecycles,
    events,
    onError: (err) => logger.warn({ err }, "job lifecycle write failed"),
  });
  return { lifecycles, recorder, store: await JobStore.open(nc, ns, events) };
}

/**
 * Serves operator control (troupe restart --stage/--replica: graceful restarts at the next step boundary; troupe
 * stop); resolves once served, so that a request from another connection finds the subject.
 */
export async function serveControl(
  deps: CoordinatorDeps,
  target: {
    jobId: string;
    workers: readonly RankMember[];
    restartWorkers: (ids: string[], reason: string) => Promise<RecoveryRecord[]>;
    requestStop?: (reason: string) => { step: number };
    scale?: (dp: number, reason: string) => Promise<Resize>;
  },
): Promise<Subscription> {
  const { nc, ns, logger } = deps;
  const sub = serveJobControl(nc, ns, target, (err, subject) =>
    logger.warn({ kind: err.name, reason: err.message, subject }, "control request rejected"),
  );
  await nc.flush();
  return sub;
}

/**
 * Stops every worker (a worker answers drain once a checkpoint it writes in the background is whole; one that dies
 * is not waited for) and records the job's end: completed when `finished`, failed when the group failed (with the
 * checkpoint an escalation left, as a job.failed event), else stopped.
 */
export async function endJob(
  deps: CoordinatorDeps,
  jobId: string,
  job: JobActor,
  group: ActorGroup<RankPlace, WorkerProtocol>,
  outcome: JobEnd,
): Promise<void> {
  await group.drain("drain", {}, { timeoutMs: 60_000 });
  const failure = group.failure;
  if (outcome.finished) job.send({ type: "FINISHED" });
  else if (failure) {
    job.send({ type: "GIVE_UP", cause: outcome.cause });
    const saved = failure instanceof JobEscalatedError ? failure.checkpoint : undefined;
    const data = {
      cause: outcome.cause,
      checkpoint: saved?.dir ?? null,
      checkpointStep: saved?.step ?? null,
      checkpointWritten: saved?.written ?? false,
    };
    await deps.events
      .publish({ type: "job.failed", subject: jobId, time: Date.now(), data }, `job:${jobId}:failed:${randomUUID()}`)
      .catch((err: unknown) => deps.logger.warn({ err }, "job.failed event not written"));
  } else job.send({ type: "STOP" });
  await group.stop(outcome.finished ? "job completed" : outcome.cause);
}
