// Checkpoints written in the background while training goes on: the loop waits for the copy of the state only.
// At most one write is in flight (the next checkpoint waits for it: checkpoints more frequent than the disk allows
// are paced, never dropped); one lost with its writer is reported and left for a later one to replace; and the
// newest whole checkpoint is known (where a job rolls back to, what a run names at its end).
import type { CheckpointRequest, CheckpointWritten, RollbackPoint, StartedCheckpoint } from "./engine.ts";
import type { TrainProgress } from "./types.ts";

export interface CheckpointEvents {
  checkpointSaved?(at: TrainProgress, dir: string): void;
  checkpointLost?(at: TrainProgress, lost: { lostWith: string; reason: string }): void;
}

interface Write {
  written: Promise<CheckpointWritten>;
  done: boolean;
}

export class BackgroundCheckpoints {
  /** Step of the newest checkpoint started, or of the one the run continues from; -1 before any. */
  savedAt: number;
  private newestDir: string | undefined;
  private inFlight: Write | undefined;
  /** Bumped by a rollback: a write started before it no longer decides the newest checkpoint. */
  private generation = 0;

  constructor(
    private readonly save: (req: CheckpointRequest) => Promise<StartedCheckpoint>,
    from: { step: number; dir: string } | undefined,
    private readonly events: CheckpointEvents = {},
  ) {
    this.savedAt = from?.step ?? -1;
    this.newestDir = from?.dir;
  }

  /** True while a write runs. */
  get busy(): boolean {
    return this.inFlight !== undefined && !this.inFlight.done;
  }

  /** Starts a checkpoint once the write in flight settled (throwing if that one failed); returns after the copy. */
  async start(req: CheckpointRequest): Promise<void> {
    await this.settle();
    const started = await this.save(req);
    this.savedAt = req.step;
    const at = { step: req.step, tokensSeen: req.tokensSeen, samplesSeen: req.samplesSeen };
    const generation = this.generation;
    const write: Write = {
      done: false,
      written: started.written.then(
        (w) => {
          write.done = true;
          if (generation === this.generation) this.record(at, w);
          return w;
        },
        (err: unknown) => {
          write.done = true;
          throw err;
        },
      ),
    };
    write.written.catch(() => undefined); // thrown by the next settle
    this.inFlight = write;
  }

  /** Waits for the write in flight: true when it is on disk (or there was none), false when it was lost with its writer. */
  async settle(): Promise<boolean> {
    const write = this.inFlight;
    if (!write) return true;
    try {
      return "dir" in (await write.written);
    } finally {
      if (this.inFlight === write) this.inFlight = undefined;
    }
  }

  /** The newest checkpoint on disk, once the one being written is (a failed or lost one leaves the one before). */
  async newest(): Promise<string | undefined> {
    await this.inFlight?.written.catch(() => undefined);
    return this.newestDir;
  }

  /** The engine went back to `to`: it is the newest checkpoint, and a write still in flight is stale. */
  rollBack(to: RollbackPoint): void {
    this.generation++;
    this.inFlight = undefined;
    this.savedAt = to.step;
    this.newestDir = to.dir;
  }

  private record(at: TrainProgress, w: CheckpointWritten): void {
    if ("dir" in w) {
      this.newestDir = w.dir;
      this.events.checkpointSaved?.(at, w.dir);
    } else this.events.checkpointLost?.(at, w);
  }
}
