// Error classes of the host agent.

/** A spawn request for something the agent does not start: only node running a program of troupe's installation. */
export class SpawnRefusedError extends Error {
  override name = "SpawnRefusedError";
  constructor(
    readonly actorId: string,
    readonly program: string,
    readonly reason: string,
  ) {
    super(`refused to start '${program}' for ${actorId}: ${reason}`);
  }
}
