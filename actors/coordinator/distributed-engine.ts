// A job of dp · pp · tp worker processes behind the training loop's engine interface (ml/train/engine.ts). The
// Coordinator takes the steps (a worker lost on the way is recovered inside runStep), validates through replica 0,
// and has dp rank 0 of every (stage, tp rank) write checkpoints in the background (sharded when pp or tp > 1).
// A worker lost during a validation or a checkpoint's copy is recovered and the request asked again; a checkpoint
// whose writer was lost before its files were on disk is reported lost (the loop leaves it to the next one); a
// rollback to a checkpoint (no live peer held a lost shard) is reported to the loop, which runs those steps again.
import type { TrainConfig } from "../../ml/train/config.ts";
import type {
  CheckpointRequest,
  CheckpointWritten,
  RollbackPoint,
  StartedCheckpoint,
  StepEngine,
  StepPlan,
} from "../../ml/train/engine.ts";
import type { TrainProgress } from "../../ml/train/types.ts";
import type { CombinedStep } from "./combine.ts";
import type { Coordinator } from "./coordinator.ts";
import type { CommittedStep } from "./job-store.ts";
import { RolledBackError, WorkerLostError } from "./errors.ts";

/** A committed step of the job and how its ranks' reports combined. */
export type JobStep = CommittedStep & CombinedStep;

export interface DistributedEngineOptions {
  config: TrainConfig;
  checkpointRoot: string;
  /** pp or tp > 1: every (stage, tp rank) writes its shard; the coordinator writes the manifest. */
  sharded: boolean;
}

export class DistributedEngine implements StepEngine<JobStep> {
  constructor(
    private readonly coordinator: Coordinator,
    private readonly o: DistributedEngineOptions,
  ) {}

  runStep(plan: StepPlan): Promise<JobStep> {
    return this.coordinator.runStep(plan);
  }

  validate(at: TrainProgress): Promise<number> {
    const c = this.o.config;
    return this.afterLoss(at.step, () =>
      this.coordinator.validate({ step: at.step, batches: c.eval.batches, microBatch: c.batch.microBatch }),
    );
  }

  async checkpoint(req: CheckpointRequest): Promise<StartedCheckpoint> {
    const { config } = this.o;
    const ask = { ...req, root: this.o.checkpointRoot, keep: config.checkpoint.keep };
    const pending = await this.afterLoss(req.step, async () => {
      // the writer of the previous checkpoint may have been lost with it: the job is whole again first
      await this.coordinator.recoverNow(req.step);
      return this.o.sharded ? this.coordinator.checkpointSharded({ ...ask, config }) : this.coordinator.checkpoint(ask);
    });
    return { step: pending.step, written: pending.written.then((dir): CheckpointWritten => ({ dir }), lostWriter) };
  }

  rolledBackTo(err: unknown): RollbackPoint | undefined {
    return err instanceof RolledBackError ? err.to : undefined;
  }

  /** Asks; a worker lost meanwhile is recovered (the job stands at the last committed step) and it is asked again. */
  private async afterLoss<T>(committed: number, ask: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await ask();
      } catch (err) {
        if (!(err instanceof WorkerLostError)) throw err;
        await this.coordinator.recoverNow(committed);
      }
    }
  }
}

function lostWriter(err: unknown): CheckpointWritten {
  if (!(err instanceof WorkerLostError)) throw err;
  return { lostWith: err.actorId, reason: err.message };
}
