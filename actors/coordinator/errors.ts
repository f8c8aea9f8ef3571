// Error classes of the training coordinator.

/** Progress of the checkpoint the job rolled back to: the runner continues from it. */
export interface RollBack {
  dir: string;
  step: number;
  tokensSeen: number;
  samplesSeen: number;
}

/** Where an escalated job's state was left: a checkpoint written at the escalation, or the newest one before it. */
export interface FinalCheckpoint {
  /** What happened, for the job's cause: "stopped with a checkpoint of step K: DIR" or why none was written. */
  note: string;
  dir?: string;
  step?: number;
  /** true when written at the escalation from the live workers. */
  written: boolean;
}

export class JobFailedError extends Error {
  override name = "JobFailedError";
}

/** The job stopped because a worker kept failing (restart intensity exceeded); names the checkpoint to resume from. */
export class JobEscalatedError extends JobFailedError {
  override name = "JobEscalatedError";
  constructor(
    message: string,
    readonly checkpoint: FinalCheckpoint,
  ) {
    super(message);
  }
}

/** A worker was lost while something was asked of the job: it is recovered, and the request can be asked again. */
export class WorkerLostError extends Error {
  override name = "WorkerLostError";
  constructor(
    readonly actorId: string,
    cause: string,
  ) {
    super(`worker ${actorId} lost: ${cause}`);
  }
}

/** A recovery given up half-way: another worker was lost during it (it starts again) or the job is stopping. */
export class RecoveryInterruptedError extends Error {
  override name = "RecoveryInterruptedError";
}

/** A recovery that cannot succeed: the job fails with it. */
export class RecoveryFailedError extends Error {
  override name = "RecoveryFailedError";
}

/** A `troupe scale` request the job cannot do (bad dp, a layout that cannot change, a job stopping). */
export class ScaleRefusedError extends Error {
  override name = "ScaleRefusedError";
}

/** An elastic job's replacements did not come within `elastic.replaceTimeout`: it shrinks instead (elastic.ts). */
export class ReplacementsLateError extends Error {
  override name = "ReplacementsLateError";
}

/** runStep's answer when the job rolled back to a checkpoint: steps after `to.step` are lost and run again. */
export class RolledBackError extends Error {
  override name = "RolledBackError";
  constructor(readonly to: RollBack) {
    super(`rolled back to the checkpoint of step ${to.step} (${to.dir})`);
  }
}

/** An operator's restart request names no worker of the job, or an index out of range. */
export class InvalidTargetError extends Error {
  override name = "InvalidTargetError";
}

export class NonFiniteOptionsError extends Error {
  override name = "NonFiniteOptionsError";
}

export class StragglerOptionsError extends Error {
  override name = "StragglerOptionsError";
}
