// What the training loop (loop.ts) asks of whatever takes the steps: the model and optimizer in this process
// (local-engine.ts), or a coordinator driving one worker process per rank (actors/coordinator/distributed-engine.ts).
// The loop owns the cadence and the bookkeeping; an engine owns the state and how it is stepped, validated and saved.
import type { TrainProgress } from "./types.ts";

/** The next step as the loop's schedules decide it (batch size and LR follow the tokens seen). */
export interface StepPlan {
  /** 1-based number of the step. */
  step: number;
  lr: number;
  batchSize: number;
  /** Global index of the step's first sequence. */
  firstSample: number;
  /** Tokens seen once the step is taken. */
  tokensAfter: number;
}

/** A step taken (committed, for a job): where training stands after it, and its figures. */
export interface EngineStep extends TrainProgress {
  loss: number;
  /** Before clipping. */
  gradNorm: number;
  /** Factor applied to the gradients (1 when not clipped). */
  clipScale: number;
  lr: number;
  batchSize: number;
}

/** A checkpoint of the state after `step`, with the figures its manifest records. */
export interface CheckpointRequest extends TrainProgress {
  metrics: Record<string, number>;
}

/**
 * How a background write ended: whole on disk (`dir`), or lost with the process that was writing it (the checkpoint
 * before it stays the newest; a later one replaces it).
 */
export type CheckpointWritten = { dir: string } | { lostWith: string; reason: string };

/** A checkpoint whose state is copied (training may go on); `written` settles once its files are on disk. */
export interface StartedCheckpoint {
  step: number;
  /** Rejects when the write failed for another reason than a lost writer (a full disk). */
  written: Promise<CheckpointWritten>;
}

/** A checkpoint the engine went back to, when no live copy of some state was left: the steps after it run again. */
export interface RollbackPoint extends TrainProgress {
  dir: string;
}

export interface StepEngine<S extends EngineStep = EngineStep> {
  runStep(plan: StepPlan): Promise<S>;
  /** Mean loss over the held-out batches of the current weights (`at`: where training stands, for messages). */
  validate(at: TrainProgress): Promise<number>;
  /** Copies the state and writes it in the background. The loop asks for one only once the previous one settled. */
  checkpoint(req: CheckpointRequest): Promise<StartedCheckpoint>;
  /** The checkpoint `err` (thrown by any of the above) says every rank went back to; undefined for other errors. */
  rolledBackTo?(err: unknown): RollbackPoint | undefined;
}
