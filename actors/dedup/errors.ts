// Error classes of the dedup actors.

/** The actor running a task died or stopped answering: the task may be run again elsewhere. */
export class ActorLostError extends Error {
  override name = "ActorLostError";
}

/** The dedup cannot go on: actors are dead for good, never started, or a task keeps failing. */
export class DedupActorsError extends Error {
  override name = "DedupActorsError";
}

/** A dedup work file that cannot be read, or is not what it should be. */
export class DedupFileError extends Error {
  override name = "DedupFileError";
}
