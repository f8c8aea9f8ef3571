// Forming the TCP mesh: the lower rank listens, the higher rank dials; every connection is authenticated
// (auth-handshake.ts) before it carries a frame. A connection that fails the handshake is dropped and counted,
// and the listener keeps waiting for the real peer until the connect deadline.
import net from "node:net";
import { acceptHandshake, dialHandshake, type HandshakeOptions } from "./auth-handshake.ts";
import { CollectiveAuthError, RendezvousError } from "./errors.ts";
import type { Frame, FrameReader } from "./framing.ts";
import type { PeerAddress, Rendezvous } from "./types.ts";

/** A higher rank's authenticated connection; frames that come before the mesh attaches it wait in `early`. */
interface AcceptedPeer {
  socket: net.Socket;
  reader: FrameReader;
  early: Frame[];
  onData: (chunk: Buffer) => void;
}

/** The listening side of connect: the higher ranks authenticated so far, and a hook called on each. */
export interface HelloServer {
  server: net.Server;
  accepted: Map<number, AcceptedPeer>;
  /** connections still in their handshake (destroyed once the mesh is complete or has failed) */
  pending: Set<net.Socket>;
  /** connections refused so far */
  refused: CollectiveAuthError[];
  onAccepted: () => void;
}

export interface ListenOptions extends HandshakeOptions {
  host: string;
  worldSize: number;
  newReader: () => FrameReader;
  onAuthFailure?: (err: CollectiveAuthError) => void;
}

/**
 * Listens on `host` (any port) for the higher ranks: each must pass the handshake for this session, naming a rank
 * above ours that has not connected yet; any other connection is destroyed, counted and reported.
 */
export async function listenForHellos(o: ListenOptions): Promise<HelloServer> {
  const { rank, worldSize } = o;
  const hellos: HelloServer = { server: undefined!, accepted: new Map(), pending: new Set(), refused: [], onAccepted: () => {} };
  const { accepted } = hellos;
  const admit = (r: number) => r > rank && r < worldSize && !accepted.has(r);
  const authenticated = (socket: net.Socket, peer: number) => {
    const reader = o.newReader();
    const early: Frame[] = [];
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk, (frame) => void early.push(frame));
      } catch {
        socket.destroy();
      }
    };
    socket.on("data", onData).on("error", () => socket.destroy());
    socket.resume();
    accepted.set(peer, { socket, reader, early, onData });
    hellos.onAccepted();
  };
  hellos.server = net.createServer((socket) => {
    socket.setNoDelay(true);
    hellos.pending.add(socket);
    acceptHandshake(socket, { ...o, admit }).then(
      (peer) => {
        hellos.pending.delete(socket);
        authenticated(socket, peer);
      },
      (err: CollectiveAuthError) => {
        hellos.pending.delete(socket);
        hellos.refused.push(err);
        o.onAuthFailure?.(err);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    hellos.server.once("error", reject);
    hellos.server.listen(0, o.host, () => resolve());
  });
  return hellos;
}

/** Connects to and authenticates with every lower rank; on any failure closes the others and throws the first error. */
export async function dialLowerRanks(
  rendezvous: Rendezvous,
  auth: HandshakeOptions,
  deadline: number,
): Promise<Array<readonly [number, net.Socket]>> {
  const dials = await Promise.allSettled(
    Array.from({ length: auth.rank }, async (_, peer) => {
      const address = await rendezvous.lookup(peer, Math.max(1, deadline - Date.now()));
      const socket = await dial(address, peer, deadline);
      await dialHandshake(socket, { ...auth, peer });
      return [peer, socket] as const;
    }),
  );
  const failed = dials.find((d) => d.status === "rejected");
  if (failed) {
    for (const d of dials) if (d.status === "fulfilled") d.value[1].destroy();
    throw failed.reason;
  }
  return dials.map((d) => (d as PromiseFulfilledResult<readonly [number, net.Socket]>).value);
}

/** The error for ranks that never authenticated: CollectiveAuthError when a refused connection claimed one of them. */
function missingRanksError(hellos: HelloServer, rank: number, missing: number[], timeoutMs: number): RendezvousError {
  const text = `rank ${rank}: ranks ${missing.join(", ")} did not connect within ${timeoutMs} ms`;
  const impostor = hellos.refused.find((e) => e.claimedRank !== undefined && missing.includes(e.claimedRank));
  if (impostor) return new CollectiveAuthError(`${text}; a connection failed authentication: ${impostor.message}`, impostor.claimedRank);
  const refused = hellos.refused.length ? ` (${hellos.refused.length} other connection(s) failed authentication)` : "";
  return new RendezvousError(text + refused);
}

/** Resolves once every higher rank has authenticated; rejects naming the missing ones at the deadline. */
export async function waitForHigherRanks(
  hellos: HelloServer,
  rank: number,
  worldSize: number,
  deadline: number,
  timeoutMs: number,
): Promise<void> {
  const { accepted } = hellos;
  const expected = worldSize - 1 - rank;
  if (accepted.size >= expected) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        const missing = Array.from({ length: worldSize }, (_, r) => r).filter((r) => r > rank && !accepted.has(r));
        reject(missingRanksError(hellos, rank, missing, timeoutMs));
      },
      Math.max(1, deadline - Date.now()),
    );
    hellos.onAccepted = () => {
      if (accepted.size === expected) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
}

async function dial(address: PeerAddress, peer: number, deadline: number): Promise<net.Socket> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect({ host: address.host, port: address.port });
        socket.once("connect", () => {
          socket.off("error", reject);
          resolve(socket);
        });
        socket.once("error", reject);
      });
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new RendezvousError(`cannot connect to rank ${peer} at ${address.host}:${address.port}`, { cause: lastError });
}
