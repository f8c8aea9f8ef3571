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

export class FrameFormatError extends Error {
  override name = "FrameFormatError";
}
