// Errors of the 3D-parallel foundations: layouts, shard specs and schedules that cannot work.

export class InvalidLayoutError extends Error {
  override name = "InvalidLayoutError";
}

export class ScheduleDeadlockError extends Error {
  override name = "ScheduleDeadlockError";
  constructor(
    message: string,
    readonly blocked: { stage: number; instruction: string }[],
  ) {
    super(message);
  }
}

export class ScheduleDependencyError extends Error {
  override name = "ScheduleDependencyError";
}

export class ShardSpecError extends InvalidLayoutError {
  override name = "ShardSpecError";
}
