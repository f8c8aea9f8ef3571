// GPU backend of the Collectives interface: tensors move over NCCL between the device twins of CUDA-backend arrays
// (native/cuda-backend.ts); the TCP mesh of the CPU backend stays up beside it, for what NCCL cannot do well:
//   - liveness: a peer lost from the mesh aborts every NCCL communicator it belongs to (ncclCommAbort), so an
//     operation waiting on a dead rank fails as it does on TCP, instead of hanging;
//   - small control data (allGather lengths), barriers, and point-to-point send/recv, which go over TCP through
//     host copies (download/upload). This keeps the buffered-send behaviour the pipeline schedules rely on; NCCL
//     send/recv would block a sender until its peer posts the receive.
// Reductions run as p2p exchanges plus our own combine kernel in group-rank order (native/cuda/nccl_ops.cc), so
// results equal the TCP backend's bit for bit and do not depend on NCCL_ALGO/NCCL_PROTO.
// One communicator per group, created on the group's first operation; its id goes through the NATS rendezvous.
import type { Backend } from "../../native/backend.ts";
import { loadCudaAddon, type CudaAddon, type NcclComm } from "../../native/cuda-addon.ts";
import { CollectiveAbortedError, CollectiveError, CollectiveTimeoutError } from "./errors.ts";
import type { NcclIdExchange } from "./nccl-rendezvous.ts";
import { checkOp, chunkBounds } from "./reduce.ts";
import { TcpGroup } from "./tcp-group.ts";
import { TcpMesh, type MeshOptions } from "./tcp-mesh.ts";
import type { Collectives, CollectivesWorld, ReduceOp } from "./types.ts";

export interface NcclCollectivesOptions extends MeshOptions {
  ids: NcclIdExchange;
  /** The CUDA backend: every tensor passed in must come from its alloc(); results are allocated there too. */
  backend: Backend;
  /** an operation that has not finished after this long fails the group with CollectiveTimeoutError (default 60 s) */
  opTimeoutMs?: number;
}

const OPS: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

class NcclGroup implements Collectives {
  readonly rank: number;
  readonly size: number;
  private comm: Promise<NcclComm> | undefined;
  private made: NcclComm | undefined;
  private broken: Error | undefined;
  private readonly pending = new Set<(err: Error) => void>();
  /** The last operation issued: the next starts after it (the native side must see them in issue order). */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly ranks: readonly number[],
    private readonly tcp: TcpGroup,
    private readonly addon: CudaAddon,
    private readonly o: NcclCollectivesOptions,
  ) {
    this.rank = tcp.rank;
    this.size = tcp.size;
  }

  /** A member died or the world was aborted: abort the communicator, fail what is in flight and what follows. */
  fail(err: Error): void {
    this.broken ??= err;
    this.tcp.fail(err);
    if (this.made) this.addon.ncclAbort(this.made);
    for (const reject of [...this.pending]) reject(err);
  }

  /** Orderly release when idle (ncclCommDestroy), else abort; later operations fail with `err`. */
  shutdown(err: Error): void {
    if (this.made && this.pending.size === 0 && !this.broken) this.addon.ncclDestroy(this.made);
    this.fail(err);
  }

  private communicator(): Promise<NcclComm> {
    this.comm ??= (async () => {
      const timeout = this.o.connectTimeoutMs ?? 30_000;
      let id: Uint8Array;
      if (this.rank === 0) {
        id = this.addon.ncclUniqueId();
        await this.o.ids.publish(this.ranks, id);
      } else {
        id = await this.o.ids.lookup(this.ranks, timeout);
      }
      const comm = await this.addon.ncclInit(id, this.size, this.rank);
      this.made = comm;
      if (this.broken) this.addon.ncclAbort(comm);
      return comm;
    })();
    return this.comm;
  }

  private run<T>(what: string, body: (comm: NcclComm) => Promise<T>): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<T>((resolve, reject) => {
      const finish = (err: Error | undefined, value?: T) => {
        clearTimeout(timer);
        this.pending.delete(onFail);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onFail = (err: Error) => finish(err);
      const timer = setTimeout(() => {
        this.fail(
          new CollectiveTimeoutError(
            `${what} on NCCL group [${this.ranks.join(",")}] did not finish within ${this.o.opTimeoutMs ?? 60_000} ms`,
          ),
        );
      }, this.o.opTimeoutMs ?? 60_000);
      timer.unref();
      this.pending.add(onFail);
      const op = this.tail.then(() => this.communicator()).then(body);
      this.tail = op.catch(() => {});
      op.then(
        (v) => finish(undefined, v),
        (e: unknown) => finish(this.broken ?? new CollectiveError(`${what}: ${(e as Error).message}`, { cause: e })),
      );
    });
  }

  allReduce(data: Float32Array, op: ReduceOp = "sum"): Promise<void> {
    checkOp(op);
    return this.run("allReduce", (comm) => this.addon.ncclAllReduce(comm, data, OPS[op]));
  }

  reduceScatter(data: Float32Array, op: ReduceOp = "sum"): Promise<Float32Array> {
    checkOp(op);
    const [start, end] = chunkBounds(data.length, this.size, this.rank);
    const out = this.o.backend.alloc(end - start);
    return this.run("reduceScatter", (comm) => this.addon.ncclReduceScatter(comm, data, OPS[op], out)).then(() => out);
  }

  async allGather(chunk: Float32Array): Promise<Float32Array> {
    const lengths = [...(await this.tcp.allGather(Float32Array.of(chunk.length)))];
    const out = this.o.backend.alloc(lengths.reduce((s, n) => s + n, 0));
    return this.run("allGather", (comm) => this.addon.ncclAllGather(comm, chunk, lengths, out)).then(() => out);
  }

  broadcast(data: Float32Array, root: number): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.size)
      return Promise.reject(new CollectiveError(`broadcast root ${root} is outside the group 0..${this.size - 1}`));
    return this.run("broadcast", (comm) => this.addon.ncclBroadcast(comm, data, root));
  }

  async send(data: Float32Array, peer: number, tag?: string): Promise<void> {
    await this.o.backend.download([data]);
    await this.tcp.send(data, peer, tag);
  }

  async recv(peer: number, tag?: string): Promise<Float32Array> {
    const received = await this.tcp.recv(peer, tag);
    const out = this.o.backend.alloc(received.length);
    out.set(received);
    await this.o.backend.upload([out]);
    return out;
  }

  barrier(): Promise<void> {
    return this.tcp.barrier();
  }
}

class NcclWorld implements CollectivesWorld {
  private readonly groups = new Map<string, NcclGroup>();
  private readonly all: NcclGroup;

  constructor(
    private readonly mesh: TcpMesh,
    private readonly addon: CudaAddon,
    private readonly o: NcclCollectivesOptions,
  ) {
    this.all = this.groupOf(Array.from({ length: mesh.worldSize }, (_, r) => r));
    mesh.onPeerLost((rank, err) => {
      for (const g of this.groups.values()) if (g.ranks.includes(rank)) g.fail(err);
    });
  }

  private groupOf(worldRanks: readonly number[]): NcclGroup {
    const key = worldRanks.join(",");
    let g = this.groups.get(key);
    if (!g) {
      if (worldRanks.some((r) => !Number.isInteger(r) || r < 0 || r >= this.mesh.worldSize)) {
        throw new CollectiveError(`group [${key}] names ranks outside the world 0..${this.mesh.worldSize - 1}`);
      }
      if (new Set(worldRanks).size !== worldRanks.length) throw new CollectiveError(`group [${key}] lists a rank twice`);
      if (!worldRanks.includes(this.mesh.rank)) throw new CollectiveError(`rank ${this.mesh.rank} is not a member of group [${key}]`);
      const tcp = new TcpGroup(this.mesh, [...worldRanks], { opTimeoutMs: this.o.opTimeoutMs ?? 60_000 });
      g = new NcclGroup([...worldRanks], tcp, this.addon, this.o);
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
    for (const g of this.groups.values()) g.shutdown(closed);
    await this.mesh.close();
  }
}

/** Connects this rank to every other (TCP mesh) and returns its NCCL-backed world communicator. */
export async function createNcclCollectives(options: NcclCollectivesOptions): Promise<CollectivesWorld> {
  if (options.backend.memory !== "device")
    throw new CollectiveError(`NCCL collectives need the CUDA backend's memory, not '${options.backend.name}'`);
  const addon = loadCudaAddon();
  addon.ncclVersion(); // fail here, before connecting, when libnccl cannot be loaded
  const mesh = await TcpMesh.connect(options);
  return new NcclWorld(mesh, addon, options);
}
