// Elastic data parallelism, the growing half: `troupe scale --dp N` (or Coordinator.scale) asks a job that shrank
// for its replicas back. At the next step boundary the dropped replicas (lowest dp first) join again: their workers
// are started in a new epoch whose communicator holds them (TROUPE_DP_REPLICAS), the survivors recover into it, and
// each new worker takes parameters, moments and step count from a live peer as a replacement does (peer-restore.ts);
// then the step runs with the new replicas and the same global batch. The job machine records it (GROWN) and a
// `job.grown` event says why. A job grows back to its configured dp at most: its workers are the config's ranks.
import type { EventLog } from "../../runtime/event-log.ts";
import type { Logger } from "../../runtime/logger.ts";
import { DP_REPLICAS_ENV } from "../worker/load.ts";
import { JobFailedError, ScaleRefusedError } from "./errors.ts";
import { isEnding, type JobActor, type Resize } from "./job-machine.ts";
import type { LiveRecovery } from "./live-recovery.ts";
import { elasticLayout, liveReplicas } from "./replicas.ts";
import type { WorkerGroup } from "./worker-group.ts";

interface Queued {
  dp: number;
  reason: string;
  done: (r: Resize | Error) => void;
}

export interface ElasticGrowDeps {
  jobId: string;
  group: Pick<WorkerGroup, "members" | "retiredMembers" | "reinstate" | "bumpEpoch" | "failure">;
  job: JobActor;
  recovery: Pick<LiveRecovery, "victims" | "recover">;
  events: Pick<EventLog, "publish">;
  logger: Logger;
  onResize?: (r: Resize) => void;
}

export class ElasticGrow {
  private queued: Queued | undefined;

  constructor(private readonly d: ElasticGrowDeps) {}

  /** Asks for `dp` replicas from the next step boundary; resolves once they step. Refuses what cannot be done. */
  scale(dp: number, reason: string): Promise<Resize> {
    const { group, jobId } = this.d;
    const now = liveReplicas(group.members).length;
    const most = now + group.retiredMembers.length;
    if (group.failure) return Promise.reject(group.failure);
    if (isEnding(this.d.job.getSnapshot())) return Promise.reject(new ScaleRefusedError(`job ${jobId} is stopping: it does not scale`));
    if (!elasticLayout(group.members))
      return Promise.reject(new ScaleRefusedError(`job ${jobId} has pp or tp > 1: only dp-only jobs scale`));
    if (!Number.isInteger(dp) || dp < 1) return Promise.reject(new ScaleRefusedError(`--dp must be a positive integer (got ${dp})`));
    if (dp < now) return Promise.reject(new ScaleRefusedError(`job ${jobId} runs dp ${now}: scaling down on request is not supported`));
    if (dp > most)
      return Promise.reject(new ScaleRefusedError(`job ${jobId} can grow to its configured dp ${most} at most (asked for ${dp})`));
    if (this.queued) return Promise.reject(new ScaleRefusedError(`job ${jobId} has a scale to dp ${this.queued.dp} pending`));
    return new Promise((resolve, reject) => {
      this.queued = { dp, reason, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) };
    });
  }

  /** At the boundary before `step`: grows the job if asked; the step then runs with the new replicas. */
  async runQueued(step: number): Promise<void> {
    const q = this.queued;
    if (!q) return;
    this.queued = undefined;
    try {
      q.done(await this.grow(q, step));
    } catch (err) {
      q.done(err as Error);
      throw err;
    }
  }

  private async grow(q: Queued, step: number): Promise<Resize> {
    const { group, job, jobId, recovery, events, logger } = this.d;
    const from = liveReplicas(group.members).length;
    const add = [...group.retiredMembers].sort((a, b) => a.coords.dp - b.coords.dp).slice(0, q.dp - from);
    if (add.length === 0)
      return { kind: "grown", from, to: from, replicas: liveReplicas(group.members), step, workers: [], cause: q.reason, time: Date.now() };
    const replicas = liveReplicas([...group.members, ...add]);
    const epoch = group.bumpEpoch({ [DP_REPLICAS_ENV]: replicas.join(",") });
    const cause = `scaled to dp ${q.dp}: ${q.reason}`;
    for (const w of add) {
      recovery.victims.set(w.id, { cause, at: Date.now(), joining: true });
      group.reinstate(w, `job ${jobId} grows: ${cause}`);
    }
    job.send({ type: "FAILURE", actorId: add.map((w) => w.id).join(","), cause });
    const r = await recovery.recover(step);
    if (r.rolledBack) throw new JobFailedError(`growing job ${jobId} rolled it back to ${r.rolledBack.dir}`);
    const resize: Resize = {
      kind: "grown",
      from,
      to: replicas.length,
      replicas,
      step,
      workers: add.map((w) => w.id),
      cause,
      time: Date.now(),
    };
    job.send({ type: "GROWN", resize });
    logger.warn({ ...resize, epoch }, "job grown: new data-parallel replicas took their state from live peers");
    await events
      .publish({ type: "job.grown", subject: jobId, time: resize.time, data: { ...resize, epoch } }, `job:${jobId}:grown:e${epoch}`)
      .catch((err: unknown) => logger.warn({ err }, "job.grown event not written"));
    this.d.onResize?.(resize);
    return resize;
  }
}
