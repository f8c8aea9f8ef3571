// Loading the job: every worker boots, joins the communicator of the current epoch and loads its model (or its
// slice of the checkpoint to resume from); the job is ready once each has recorded `idle` in that epoch. A worker
// killed or gone silent meanwhile (not one that exited with an error of its own: a restart would not mend that)
// makes every worker load again in a new epoch: survivors may be waiting in the old epoch's communicator for the
// lost one, and a job with one replica has no peer to restore it from. The lost worker's restart (supervisor,
// one_for_one) counts against the restart intensity; the others' do not.
import { LOAD_EPOCH_ENV } from "../../runtime/actor-process.ts";
import type { EventLog } from "../../runtime/event-log.ts";
import { EpochMovedError, NotReachedError } from "../../runtime/group/errors.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { RankMember } from "../rank-members.ts";
import { JobFailedError } from "./errors.ts";
import type { WorkerGroup } from "./worker-group.ts";

export interface LoadingDeps {
  jobId: string;
  group: Pick<WorkerGroup, "members" | "epoch" | "bumpEpoch" | "waitAll" | "restart" | "record">;
  events: Pick<EventLog, "publish">;
  logger: Logger;
  /** How long every worker has to reach idle (boot, join, load). */
  timeoutMs: number;
  onReload?: (r: { worker: string; cause: string; epoch: number }) => void;
}

export class Loading {
  constructor(private readonly d: LoadingDeps) {}

  /** Waits until every worker has loaded in the current epoch; starts over when a reload moved the epoch on. */
  async load(): Promise<void> {
    const { group } = this.d;
    for (;;) {
      const epoch = group.epoch;
      try {
        await group.waitAll("idle", { epoch, deadline: Date.now() + this.d.timeoutMs });
        return;
      } catch (err) {
        if (err instanceof EpochMovedError) continue;
        if (err instanceof NotReachedError)
          throw new JobFailedError(`worker ${err.memberId} did not finish loading in time (last state: ${err.last ?? "not recorded"})`);
        throw err;
      }
    }
  }

  /** Worker `w` was lost from outside while the job loaded: every worker loads again in a new epoch. */
  reload(w: RankMember, cause: string): void {
    const { group, jobId, logger } = this.d;
    // workers started in this epoch load from scratch; one started in a later epoch replaces a lost worker
    const epoch = group.bumpEpoch({ [LOAD_EPOCH_ENV]: String(group.epoch + 1) });
    const reason = `reload in epoch ${epoch}: worker ${w.id} was lost while the job loaded (${cause})`;
    logger.warn({ worker: w.id, cause, epoch }, "worker lost while the job loaded: every worker loads again");
    for (const m of group.members) {
      const state = group.record(m).state;
      if (m.id !== w.id && state !== "failed" && state !== "dead") group.restart(m, reason, "job.restart");
    }
    this.d.onReload?.({ worker: w.id, cause, epoch });
    void this.d.events
      .publish(
        { type: "job.reloaded", subject: jobId, time: Date.now(), data: { jobId, worker: w.id, cause, epoch } },
        `job:${jobId}:reloaded:e${epoch}`,
      )
      .catch((err: unknown) => logger.warn({ err }, "job.reloaded event not written"));
  }
}
