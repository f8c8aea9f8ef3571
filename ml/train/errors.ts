// Errors the training loop raises instead of continuing silently.

export class NonFiniteLossError extends Error {
  override name = "NonFiniteLossError";
  constructor(
    readonly step: number,
    readonly what: "loss" | "gradient norm" | "validation loss",
    readonly value: number,
    options?: { cause?: unknown },
  ) {
    super(
      `step ${step}: the ${what} is ${value} (not finite); training stopped. ` +
        `Lower optimizer.lr, raise schedule.warmupTokens, or resume from an earlier checkpoint.`,
      options,
    );
  }
}

export class ResumeError extends Error {
  override name = "ResumeError";
}

/** `troupe train` cannot start as asked (a run's checkpoints in the way, nothing to resume, a bad option). */
export class TrainRunError extends Error {
  override name = "TrainRunError";
}

export class TrainConfigError extends Error {
  override name = "TrainConfigError";
}
