// Errors of the parallel model: a bad layout or shape for sharding, and a misuse of the stage model.
export class ParallelModelError extends Error {
  override name = "ParallelModelError";
}

/** Parallel inference: a layout the model cannot be split into, a bad request, a failed inference job. */
export class InferenceError extends Error {
  override name = "InferenceError";
}
