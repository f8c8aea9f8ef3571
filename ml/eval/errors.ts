// Errors of evaluation with the file (and line) they are about.

export class TaskFileError extends Error {
  override name = "TaskFileError";
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super(line === undefined ? `${file}: ${message}` : `${file} line ${line}: ${message}`, options);
  }
}

export class CheckpointLoadError extends Error {
  override name = "CheckpointLoadError";
}
