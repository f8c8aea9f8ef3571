// Errors of the collectives data plane. All extend CollectiveError so callers can catch the family.

export class CollectiveError extends Error {
  override name = "CollectiveError";
}

/** A peer's connection closed or failed without a goodbye: the process most likely died. */
export class PeerLostError extends CollectiveError {
  override name = "PeerLostError";
  constructor(
    readonly peerRank: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class CollectiveTimeoutError extends CollectiveError {
  override name = "CollectiveTimeoutError";
}

export class CollectiveAbortedError extends CollectiveError {
  override name = "CollectiveAbortedError";
}

/** A peer never published its address or could not be reached while connecting. */
export class RendezvousError extends CollectiveError {
  override name = "RendezvousError";
}

/**
 * A collective connection failed its challenge–response authentication (wrong key, not a member, garbage,
 * no answer in time). The listener drops such a connection and keeps waiting; the dialler fails with it.
 */
export class CollectiveAuthError extends RendezvousError {
  override name = "CollectiveAuthError";
  constructor(
    message: string,
    /** the rank the connection claimed to be (listener side, when its hello named one) */
    readonly claimedRank?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The job's collective key file is missing, unreadable, of the wrong size, or readable by others. */
export class CollectiveKeyError extends CollectiveError {
  override name = "CollectiveKeyError";
}

export class FrameFormatError extends Error {
  override name = "FrameFormatError";
}
