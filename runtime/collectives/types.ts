// The data-plane interface: collectives over fp32 buffers between the ranks of a group.
// Backends: the CPU backend over direct TCP sockets (tcp-collectives.ts); an NCCL backend may follow.
// Interfaces only.

export type ReduceOp = "sum" | "max" | "min";

/**
 * Collectives of one group. Every member must call the group's collective operations in the same order
 * (send/recv pair up by peer and tag instead). Ranks named here (`root`, `peer`) are positions in the group,
 * 0 … size−1; `ranks` maps them to world ranks. Reductions combine contributions in group-rank order
 * (((x0 ∘ x1) ∘ x2) …) whatever order they arrive in, so results are reproducible bit for bit.
 */
export interface Collectives {
  /** this process's position in the group */
  readonly rank: number;
  readonly size: number;
  /** world rank of each group position */
  readonly ranks: readonly number[];
  /** Reduces `data` over the group; every member ends with the result in `data`. */
  allReduce(data: Float32Array, op?: ReduceOp): Promise<void>;
  /** Reduces `data` over the group and returns this member's chunk of the result (see `chunkBounds`). */
  reduceScatter(data: Float32Array, op?: ReduceOp): Promise<Float32Array>;
  /** Concatenation of every member's `chunk`, in group order (chunks may differ in length). */
  allGather(chunk: Float32Array): Promise<Float32Array>;
  /** Copies `root`'s `data` into every member's `data` (same length everywhere). */
  broadcast(data: Float32Array, root: number): Promise<void>;
  /** Point-to-point: the n-th send to `peer` with `tag` pairs with the peer's n-th recv from here with `tag`. */
  send(data: Float32Array, peer: number, tag?: string): Promise<void>;
  recv(peer: number, tag?: string): Promise<Float32Array>;
  /** Resolves once every member has entered the barrier. */
  barrier(): Promise<void>;
}

/** The world communicator of one process: the all-ranks group, sub-groups, and the teardown. */
export interface CollectivesWorld extends Collectives {
  /**
   * The group of these world ranks (in this order; this process must be one of them). The same list always
   * gives the same group object.
   */
  group(worldRanks: readonly number[]): Collectives;
  /** Fails every operation in flight and every later one with CollectiveAbortedError; drops all sockets. */
  abort(reason?: string): void;
  /** Says goodbye to the peers and closes the sockets (pending operations are rejected). */
  close(): Promise<void>;
}

/** Where a rank listens for its peers; published through the rendezvous. */
export interface PeerAddress {
  host: string;
  port: number;
}

/** Exchanges listening addresses between the ranks of one session (never tensors). */
export interface Rendezvous {
  publish(rank: number, address: PeerAddress): Promise<void>;
  /** Waits until `rank` has published, or rejects with RendezvousError after `timeoutMs`. */
  lookup(rank: number, timeoutMs: number): Promise<PeerAddress>;
}
