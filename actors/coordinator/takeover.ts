// A coordinator started again (its predecessor died) takes the job back from what NATS holds, without restarting
// the workers that kept running: the worker supervisor adopts them from their actor records (their processes belong
// to the host agents, not to the dead coordinator); the epoch goes on from the newest one any worker has seen; the
// last commit and the last apply sent come from the job store. A worker that is not serving the job in a steady
// state (lost, or a replacement still loading or restoring when the predecessor died) is restarted and recovered
// from a live peer, as after any loss; the survivors join the new epoch. Then the training loop re-drives the next
// step: step and apply are idempotent on the workers, so a step the predecessor had half driven ends exactly as it
// would have: the final parameters equal a failure-free run's.
import type { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { Registry } from "../../runtime/registry.ts";
import type { RankMember } from "../rank-members.ts";
import type { JobActor } from "./job-machine.ts";
import type { JobStore } from "./job-store.ts";
import type { LiveRecovery } from "./live-recovery.ts";
import type { StepProtocol } from "./step-protocol.ts";
import type { WorkerGroup } from "./worker-group.ts";

/** A worker's own lifecycle states in which it serves the job; any other means it was being (re)started. */
const STEADY = new Set(["idle", "stepping", "applying", "checkpointing", "recovering"]);

/** The newest epoch any of the job's workers recorded: the job's epoch when its coordinator died. */
export async function epochOfWorkers(registry: Registry, ids: readonly string[]): Promise<number> {
  const recs = await Promise.all(ids.map((id) => registry.getActor(id)));
  return Math.max(1, ...recs.map((r) => r?.epoch ?? 0));
}

export interface TakeoverDeps {
  jobId: string;
  group: WorkerGroup;
  job: JobActor;
  recovery: Pick<LiveRecovery, "restart">;
  steps: Pick<StepProtocol, "takeOver">;
  store: JobStore;
  lifecycles: LifecycleStore;
  logger: Logger;
}

/** After the group adopted its members: the workers to recover (none when every one kept serving). */
export async function takeOverJob(d: TakeoverDeps): Promise<RankMember[]> {
  const { group, job } = d;
  const [committed, applied] = await Promise.all([d.store.latest(d.jobId), d.store.lastApply(d.jobId)]);
  d.steps.takeOver(applied ?? undefined, committed ?? undefined);
  job.send({ type: "PROVISIONED" });
  job.send({ type: "INITIALIZED" });
  const lost: RankMember[] = [];
  for (const m of group.members) {
    const own = await d.lifecycles.get("worker", m.id);
    const state = group.record(m).state;
    const steady = (state === "alive" || state === "suspect") && own !== null && typeof own.value === "string" && STEADY.has(own.value);
    if (!steady) lost.push(m);
  }
  d.logger.warn(
    { job: d.jobId, committed: committed?.step ?? 0, epoch: group.epoch, lost: lost.map((m) => m.id) },
    "coordinator takes the job over",
  );
  if (lost.length > 0) d.recovery.restart(lost, "not serving the job when its coordinator took it over", "job.restart");
  return lost;
}
