// Errors of ml/checkpoint/: a checkpoint that cannot be written, read, assembled or exported.

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export class CheckpointAssemblyError extends Error {
  override name = "CheckpointAssemblyError";
}

export class ManifestError extends Error {
  override name = "ManifestError";
}

export class HfExportError extends CheckpointError {
  override name = "HfExportError";
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

export class ShardWriteError extends Error {
  override name = "ShardWriteError";
}
