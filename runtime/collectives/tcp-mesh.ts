// Direct TCP connections between every pair of ranks of one session, carrying tagged fp32 frames.
// Addresses come from a Rendezvous (NATS KV in production); tensors never touch NATS.
// The higher rank dials the lower one; both prove they hold the job's key (auth-handshake.ts) before any frame.
import type net from "node:net";
import { checkCollectiveKey, HANDSHAKE_TIMEOUT_MS } from "./auth-handshake.ts";
import { CollectiveAbortedError, CollectiveError, PeerLostError, type CollectiveAuthError } from "./errors.ts";
import { FramePool } from "./frame-pool.ts";
import { encodeHeader, FrameReader, payloadOf, type Frame } from "./framing.ts";
import { dialLowerRanks, listenForHellos, waitForHigherRanks } from "./mesh-connect.ts";
import type { TransportCounters } from "./transport-counters.ts";
import type { Rendezvous } from "./types.ts";

export interface MeshOptions {
  rank: number;
  worldSize: number;
  /** job and epoch: ranks only connect to peers of the same session */
  session: string;
  rendezvous: Rendezvous;
  /** address to listen on and advertise (default 127.0.0.1; workers pass runtime/advertise.ts advertisedHost()) */
  host?: string;
  /** how long to wait for every peer to publish and connect (default 30 s) */
  connectTimeoutMs?: number;
  /** the job's 32-byte secret (collective-key.ts): every connection proves both ends hold it */
  key: Uint8Array;
  /** how long one connection's handshake may take (default 5 s) */
  handshakeTimeoutMs?: number;
  /** called for each connection refused by the handshake (a stranger, a wrong key); it is dropped either way */
  onAuthFailure?: (err: CollectiveAuthError) => void;
  /** adds the bytes this rank writes to and reads from its peers' sockets (frames with their headers) */
  counters?: TransportCounters;
}

const BYE = "__bye";

interface Waiter {
  resolve(data: Float32Array): void;
  reject(err: Error): void;
}

class PeerLink {
  readonly inbox = new Map<string, Float32Array>();
  readonly waiters = new Map<string, Waiter>();
  /** set once no more frames will come: the peer said goodbye, died, or we aborted */
  ended: Error | undefined;
  constructor(
    readonly rank: number,
    readonly socket: net.Socket,
  ) {}

  deliver(frame: Frame): void {
    const waiter = this.waiters.get(frame.tag);
    if (waiter) {
      this.waiters.delete(frame.tag);
      waiter.resolve(frame.data);
    } else {
      this.inbox.set(frame.tag, frame.data);
    }
  }

  end(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }
}

export class TcpMesh {
  private readonly peers = new Map<number, PeerLink>();
  private readonly lostListeners = new Set<(rank: number, err: Error) => void>();
  private aborted: Error | undefined;
  private closing = false;
  private counters: TransportCounters | undefined;

  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly server: net.Server | undefined,
    /** received payload buffers, reused (recycle) */
    private readonly pool = new FramePool(),
  ) {}

  /** Listens, publishes the address, connects to every peer; resolves when the full, authenticated mesh is up. */
  static async connect(opts: MeshOptions): Promise<TcpMesh> {
    const { rank, worldSize, session } = opts;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new CollectiveError(`world size must be a positive integer, got ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new CollectiveError(`rank ${rank} is outside 0..${worldSize - 1}`);
    checkCollectiveKey(opts.key);
    if (worldSize === 1) return new TcpMesh(rank, worldSize, undefined);
    const host = opts.host ?? "127.0.0.1";
    const timeoutMs = opts.connectTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const auth = { key: opts.key, session, rank, timeoutMs: opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS };

    const pool = new FramePool();
    const newReader = () => new FrameReader(undefined, (bytes) => pool.take(bytes));
    const hellos = await listenForHellos({ ...auth, host, worldSize, newReader, onAuthFailure: opts.onAuthFailure });
    const { server, accepted, pending } = hellos;
    const mesh = new TcpMesh(rank, worldSize, server, pool);
    mesh.counters = opts.counters;
    try {
      const { port } = server.address() as net.AddressInfo;
      await opts.rendezvous.publish(rank, { host, port });
      for (const [peer, socket] of await dialLowerRanks(opts.rendezvous, auth, deadline)) mesh.attach(peer, socket, newReader(), []);
      await waitForHigherRanks(hellos, rank, worldSize, deadline, timeoutMs);
      for (const [peer, { socket, reader, early, onData }] of accepted) {
        socket.off("data", onData);
        mesh.attach(peer, socket, reader, early);
      }
      server.close(); // the mesh is complete: accept no one else (open connections stay)
      return mesh;
    } catch (err) {
      for (const a of accepted.values()) a.socket.destroy();
      mesh.abort(err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      for (const socket of pending) socket.destroy(); // strangers still in their handshake
    }
  }

  private attach(peerRank: number, socket: net.Socket, reader: FrameReader, early: Frame[]): void {
    const link = new PeerLink(peerRank, socket);
    this.peers.set(peerRank, link);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1000);
    let cause: unknown;
    const onFrame = (frame: Frame) => {
      if (frame.tag === BYE) link.end(new PeerLostError(peerRank, `rank ${peerRank} closed its communicator`));
      else link.deliver(frame);
    };
    early.forEach(onFrame);
    socket.on("data", (chunk: Buffer) => {
      if (this.counters) this.counters.receivedBytes += chunk.length;
      try {
        reader.push(chunk, onFrame);
      } catch (err) {
        cause = err;
        socket.destroy();
      }
    });
    socket.on("error", (err) => (cause = err));
    const lost = () => {
      if (link.ended || this.aborted || this.closing) return;
      const err = new PeerLostError(peerRank, `rank ${peerRank} connection lost (process died or network failed)`, { cause });
      link.end(err);
      for (const listener of this.lostListeners) listener(peerRank, err);
    };
    // FIN without a goodbye frame means the peer process is gone; do not wait for our side to close too
    socket.on("end", lost);
    socket.on("close", lost);
    if (socket.destroyed) lost(); // died while the mesh was still forming
    socket.resume(); // the handshake left it paused
  }

  private link(peer: number): PeerLink {
    if (this.aborted) throw this.aborted;
    const link = this.peers.get(peer);
    if (!link) throw new CollectiveError(`rank ${this.rank} has no connection to rank ${peer} (world size ${this.worldSize})`);
    return link;
  }

  /** The error operations fail with after abort(), if aborted. */
  get abortedError(): Error | undefined {
    return this.aborted;
  }

  /** Called when a peer dies without saying goodbye (not for a clean close or our own abort). */
  onPeerLost(listener: (rank: number, err: Error) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  send(peer: number, tag: string, data: Float32Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const link = this.link(peer);
      if (link.ended) return reject(link.ended);
      const { socket } = link;
      const header = encodeHeader(tag, data.byteLength);
      if (this.counters) this.counters.sentBytes += header.length + data.byteLength;
      socket.cork();
      socket.write(header);
      socket.write(payloadOf(data), (err) =>
        err ? reject(link.ended ?? new PeerLostError(peer, `send to rank ${peer} failed`, { cause: err })) : resolve(),
      );
      socket.uncork();
    });
  }

  /** Hands back a buffer recv returned once nothing uses it any more: the next frame of its size reuses it. */
  recycle(data: Float32Array): void {
    this.pool.give(data);
  }

  recv(peer: number, tag: string): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      const link = this.link(peer);
      const ready = link.inbox.get(tag);
      if (ready) {
        link.inbox.delete(tag);
        return resolve(ready);
      }
      if (link.ended) return reject(link.ended);
      link.waiters.set(tag, { resolve, reject });
    });
  }

  abort(reason = "aborted"): void {
    if (this.aborted) return;
    this.aborted = new CollectiveAbortedError(`rank ${this.rank}: collectives aborted: ${reason}`);
    for (const link of this.peers.values()) {
      link.end(this.aborted);
      link.socket.destroy();
    }
    this.server?.close();
  }

  async close(): Promise<void> {
    if (this.aborted || this.closing) return;
    this.closing = true;
    const closed = [...this.peers.values()].map(
      (link) =>
        new Promise<void>((resolve) => {
          link.end(new CollectiveAbortedError(`rank ${this.rank} closed its communicator`));
          if (link.socket.destroyed) return resolve();
          link.socket.once("close", () => resolve());
          link.socket.end(encodeHeader(BYE, 0));
          setTimeout(() => link.socket.destroy(), 2000).unref();
        }),
    );
    this.server?.close();
    await Promise.all(closed);
  }
}
