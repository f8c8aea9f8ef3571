// Errors of the parallel model: a bad layout or shape for sharding, and a misuse of the stage model.
export class ParallelModelError extends Error {
  override name = "ParallelModelError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
