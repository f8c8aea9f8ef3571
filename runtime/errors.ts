// Error classes of the runtime: small, named, with `cause`.

export class CodecError extends Error {
  override name = "CodecError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class SchemaError extends Error {
  override name = "SchemaError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class StaleEpochError extends Error {
  override name = "StaleEpochError";
  constructor(
    readonly messageEpoch: number,
    readonly currentEpoch: number,
  ) {
    super(`message epoch ${messageEpoch} is older than the current epoch ${currentEpoch}`);
  }
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class ClusterUnreachableError extends Error {
  override name = "ClusterUnreachableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class UnknownActorError extends Error {
  override name = "UnknownActorError";
  constructor(readonly actorId: string) {
    super(`unknown actor '${actorId}' (see \`troupe ps\` for the actor ids)`);
  }
}

export class RequestFailedError extends Error {
  override name = "RequestFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A bucket entry or stream message that is not what its place says (written by a faulty or hostile client). */
export class MalformedRecordError extends Error {
  override name = "MalformedRecordError";
}
