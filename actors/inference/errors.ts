// Errors of parallel inference: a layout the model cannot be split into, a bad request, a failed job.
export class InferenceError extends Error {
  override name = "InferenceError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
