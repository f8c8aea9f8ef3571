// Errors of a training worker: a verb asked at the wrong moment, a peer's state that does not fit, a bad job spec.

/** A verb asked in a lifecycle state that cannot take it, or of a compute that does not do it. */
export class WorkerProtocolError extends Error {
  override name = "WorkerProtocolError";
}

/** The state a peer sends is not of this rank's shard (tensor count or sizes differ). */
export class StateTransferError extends Error {
  override name = "StateTransferError";
}

/** A job.json that cannot be read or does not validate, or a backends module without createBackends(). */
export class JobSpecError extends Error {
  override name = "JobSpecError";
}
