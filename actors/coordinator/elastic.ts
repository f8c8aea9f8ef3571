// Elastic data parallelism (pp = tp = 1), the shrinking half: a recovery whose replacements have not come
// `elastic.replaceTimeout` after the loss drops the lost replicas instead of waiting on (peer-restore.ts fails the
// attempt with ReplacementsLateError at that deadline). Their workers are stopped for good and leave the group, the
// epoch moves on (workers started from then on join the smaller communicator: TROUPE_DP_REPLICAS), the job machine
// records the change (SHRUNK), a `job.shrunk` event says why, and the recovery starts over with the survivors alone.
// Never below `elastic.minDp`: a job that cannot drop its victims waits for their replacements as any other.
import type { EventLog } from "../../runtime/event-log.ts";
import type { Logger } from "../../runtime/logger.ts";
import { DP_REPLICAS_ENV } from "../worker/load.ts";
import type { JobActor, Resize } from "./job-machine.ts";
import { elasticLayout, liveReplicas } from "./replicas.ts";
import type { ElasticOptions, Victim } from "./types.ts";
import type { WorkerGroup } from "./worker-group.ts";

export interface ElasticDeps {
  jobId: string;
  group: Pick<WorkerGroup, "members" | "retire" | "bumpEpoch" | "epoch">;
  job: JobActor;
  events: Pick<EventLog, "publish">;
  logger: Logger;
  /** Absent: the job is not elastic (it waits for every replacement). */
  options?: ElasticOptions;
  onResize?: (r: Resize) => void;
}

export class ElasticShrink {
  constructor(private readonly d: ElasticDeps) {}

  /**
   * When the job may go on without every victim: the time (ms) until which a recovery waits for their replacements,
   * `replaceTimeout` after the last of them was lost. Undefined when it may not (not elastic, pp or tp > 1, or fewer
   * than `minDp` replicas would be left): then it waits as long as any recovery does.
   */
  replaceDeadline(victims: ReadonlyMap<string, Victim>): number | undefined {
    const o = this.d.options;
    const { members } = this.d.group;
    if (!o || !elasticLayout(members)) return undefined;
    const lost = members.filter((w) => victims.has(w.id));
    if (lost.length === 0 || lost.some((w) => victims.get(w.id)!.joining)) return undefined;
    if (liveReplicas(members).length - lost.length < o.minDp) return undefined;
    return Math.max(...lost.map((w) => victims.get(w.id)!.at)) + o.replaceTimeoutMs;
  }

  /** Drops every victim's replica; `step` is the step in flight, run again by the survivors with the same batch. */
  async shrink(victims: Map<string, Victim>, step: number): Promise<Resize> {
    const { group, job, jobId, events, logger, options } = this.d;
    const lost = group.members.filter((w) => victims.has(w.id));
    const from = liveReplicas(group.members).length;
    const seconds = (options?.replaceTimeoutMs ?? 0) / 1000;
    const cause = lost.map((w) => `${w.id} lost (${victims.get(w.id)!.cause}) and not replaced within ${seconds} s`).join("; ");
    for (const w of lost) {
      group.retire(w, `job ${jobId} shrank: ${cause}`);
      victims.delete(w.id);
    }
    const replicas = liveReplicas(group.members);
    const epoch = group.bumpEpoch({ [DP_REPLICAS_ENV]: replicas.join(",") });
    const resize: Resize = {
      kind: "shrunk",
      from,
      to: replicas.length,
      replicas,
      step,
      workers: lost.map((w) => w.id),
      cause,
      time: Date.now(),
    };
    job.send({ type: "SHRUNK", resize });
    logger.warn({ ...resize, epoch }, "job shrunk: it goes on with fewer data-parallel replicas");
    await events
      .publish({ type: "job.shrunk", subject: jobId, time: resize.time, data: { ...resize, epoch } }, `job:${jobId}:shrunk:e${epoch}`)
      .catch((err: unknown) => logger.warn({ err }, "job.shrunk event not written"));
    this.d.onResize?.(resize);
    return resize;
  }
}
