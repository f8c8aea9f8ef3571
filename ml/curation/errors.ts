// Errors of corpus curation: configs, sources, blends and worker threads.

export class BlendError extends Error {
  override name = "BlendError";
}

export class CurationConfigError extends Error {
  override name = "CurationConfigError";
}

export class SourceError extends Error {
  override name = "SourceError";
}

export class WorkerFailedError extends Error {
  override name = "WorkerFailedError";
}
