// Errors of the optimizer: state or options that do not fit the model.

export class OptimizerError extends Error {
  override name = "OptimizerError";
}
