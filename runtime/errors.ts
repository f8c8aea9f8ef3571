// Error classes of the runtime: small, named, with `cause`.

export class CodecError extends Error {
  override name = "CodecError";
}

export class SchemaError extends Error {
  override name = "SchemaError";
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
}

export class ClusterUnreachableError extends Error {
  override name = "ClusterUnreachableError";
}

export class UnknownActorError extends Error {
  override name = "UnknownActorError";
  constructor(readonly actorId: string) {
    super(`unknown actor '${actorId}' (see \`troupe ps\` for the actor ids)`);
  }
}

/** Why a request failed: nobody subscribed, no reply in time, the connection failed, or the handler answered with an error. */
export type RequestFailure = "no-responders" | "timeout" | "transport" | "malformed-reply" | "error-reply";

export class RequestFailedError extends Error {
  override name = "RequestFailedError";
  readonly reason: RequestFailure;
  constructor(message: string, options: ErrorOptions & { reason?: RequestFailure } = {}) {
    super(message, options);
    this.reason = options.reason ?? "error-reply";
  }
  /** Nothing answered (no responders or no reply in time): the handler may be gone, unlike an error reply. */
  get unanswered(): boolean {
    return this.reason === "no-responders" || this.reason === "timeout";
  }
}

/** A bucket entry or stream message that is not what its place says (written by a faulty or hostile client). */
export class MalformedRecordError extends Error {
  override name = "MalformedRecordError";
}

export class DeadlineError extends Error {
  override name = "DeadlineError";
}

export class NatsServerMissingError extends Error {
  override name = "NatsServerMissingError";
  constructor() {
    super(
      "nats-server was not found on PATH. Install it with `apt-get install -y nats-server` " +
        "(Debian/Ubuntu) or run `bash scripts/setup.sh`.",
    );
  }
}

export class NatsServerStartError extends Error {
  override name = "NatsServerStartError";
}

export class SpareIdentityError extends Error {
  override name = "SpareIdentityError";
}
