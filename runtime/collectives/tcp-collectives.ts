// CPU backend of the Collectives interface: the world communicator of one rank process, over the TCP mesh.
// Groups are created on demand (tcp-group.ts); a peer lost from the mesh fails every group it belongs to.
import { CollectiveAbortedError, CollectiveError } from "./errors.ts";
import { TcpGroup, type GroupOptions } from "./tcp-group.ts";
import { TcpMesh, type MeshOptions } from "./tcp-mesh.ts";
import type { Collectives, CollectivesWorld, ReduceOp } from "./types.ts";

export interface CpuCollectivesOptions extends MeshOptions {
  /** see GroupOptions.opTimeoutMs (default 60 s) */
  opTimeoutMs?: number;
}

class TcpWorld implements CollectivesWorld {
  private readonly groups = new Map<string, TcpGroup>();
  private readonly all: TcpGroup;

  constructor(
    private readonly mesh: TcpMesh,
    private readonly options: GroupOptions,
  ) {
    this.all = this.groupOf(Array.from({ length: mesh.worldSize }, (_, r) => r));
    mesh.onPeerLost((rank, err) => {
      for (const g of this.groups.values()) if (g.ranks.includes(rank)) g.fail(err);
    });
  }

  private groupOf(worldRanks: readonly number[]): TcpGroup {
    const key = worldRanks.join(",");
    let g = this.groups.get(key);
    if (!g) {
      if (worldRanks.some((r) => !Number.isInteger(r) || r < 0 || r >= this.mesh.worldSize)) {
        throw new CollectiveError(`group [${key}] names ranks outside the world 0..${this.mesh.worldSize - 1}`);
      }
      if (new Set(worldRanks).size !== worldRanks.length) throw new CollectiveError(`group [${key}] lists a rank twice`);
      if (!worldRanks.includes(this.mesh.rank)) throw new CollectiveError(`rank ${this.mesh.rank} is not a member of group [${key}]`);
      g = new TcpGroup(this.mesh, [...worldRanks], this.options);
      this.groups.set(key, g);
    }
    return g;
  }

  get rank() {
    return this.all.rank;
  }
  get size() {
    return this.all.size;
  }
  get ranks() {
    return this.all.ranks;
  }
  group(worldRanks: readonly number[]): Collectives {
    return this.groupOf(worldRanks);
  }
  allReduce(data: Float32Array, op?: ReduceOp) {
    return this.all.allReduce(data, op);
  }
  reduceScatter(data: Float32Array, op?: ReduceOp) {
    return this.all.reduceScatter(data, op);
  }
  allGather(chunk: Float32Array) {
    return this.all.allGather(chunk);
  }
  broadcast(data: Float32Array, root: number) {
    return this.all.broadcast(data, root);
  }
  send(data: Float32Array, peer: number, tag?: string) {
    return this.all.send(data, peer, tag);
  }
  recv(peer: number, tag?: string) {
    return this.all.recv(peer, tag);
  }
  barrier() {
    return this.all.barrier();
  }
  abort(reason = "aborted"): void {
    this.mesh.abort(reason);
    for (const g of this.groups.values()) g.fail(this.mesh.abortedError!);
  }
  async close(): Promise<void> {
    const closed = new CollectiveAbortedError(`rank ${this.mesh.rank} closed its communicator`);
    for (const g of this.groups.values()) g.fail(closed);
    await this.mesh.close();
  }
}

/** Connects this rank to every other rank of the session and returns its world communicator. */
export async function createCpuCollectives(options: CpuCollectivesOptions): Promise<CollectivesWorld> {
  const mesh = await TcpMesh.connect(options);
  return new TcpWorld(mesh, { opTimeoutMs: options.opTimeoutMs ?? 60_000 });
}
