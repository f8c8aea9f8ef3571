// Mutual challenge–response authentication of one collective TCP connection, before any tensor frame
// (docs/reference/wire-protocol.md, "Collective handshake"). Both ends hold the job's 32-byte key:
//   listener → dialler  __challenge            nonceL (32 B)
//   dialler → listener  __hello|<session>|<r>  HMAC(key, L ‖ nonceL ‖ r ‖ l ‖ session) ‖ nonceD (32 B)
//   listener → dialler  __proof                HMAC(key, L ‖ nonceD ‖ l ‖ r ‖ session)
// (L: a fixed label, r: the dialler's rank, l: the listener's, ranks as u32 LE). Each side checks the other's MAC
// with timingSafeEqual; anything else (a wrong MAC, garbage, an oversized frame, silence past the timeout) destroys
// the socket with CollectiveAuthError. No secret ever crosses the wire, and a nonce is never reused.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type net from "node:net";
import { CollectiveAuthError, CollectiveKeyError } from "./errors.ts";
import { encodeHeader, FrameReader, type Frame } from "./framing.ts";

export const COLLECTIVE_KEY_BYTES = 32;
/** How long either side waits for the other's next handshake message (default of MeshOptions.handshakeTimeoutMs). */
export const HANDSHAKE_TIMEOUT_MS = 20_000; // generous: a stranger only holds a socket that long, while a slow real peer on a loaded host must not be dropped
const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const CHALLENGE = "__challenge";
const HELLO = "__hello";
const PROOF = "__proof";
const LABEL = Buffer.from("troupe collective auth v1\0", "utf8");

export function checkCollectiveKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== COLLECTIVE_KEY_BYTES) {
    throw new CollectiveKeyError(`the collective key must be ${COLLECTIVE_KEY_BYTES} bytes, got ${key?.length ?? typeof key}`);
  }
}

/** HMAC-SHA256(key, label ‖ nonce ‖ u32 rank ‖ u32 peer ‖ session): `rank` proves it holds the key to `peer`. */
function authMac(key: Uint8Array, nonce: Uint8Array, session: string, rank: number, peer: number): Buffer {
  const ranks = Buffer.allocUnsafe(8);
  ranks.writeUInt32LE(rank, 0);
  ranks.writeUInt32LE(peer, 4);
  return createHmac("sha256", key).update(LABEL).update(nonce).update(ranks).update(session, "utf8").digest();
}

function frame(tag: string, payload: Uint8Array): Buffer {
  return Buffer.concat([encodeHeader(tag, payload.length), payload]);
}

function bytesOf(f: Frame): Buffer {
  return Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
}

function sameMac(expected: Buffer, got: Buffer): boolean {
  return got.length === expected.length && timingSafeEqual(expected, got);
}

/**
 * Feeds the socket's handshake frames to `step` until it returns true (then pauses the socket: the caller
 * attaches its reader and resumes) or throws, the peer hangs up (`hungUp` says why), or `timeoutMs` passes
 * (then destroys the socket).
 */
function converse(
  socket: net.Socket,
  timeoutMs: number,
  who: string,
  step: (f: Frame) => boolean,
  hungUp = () => `${who}: the connection closed during the handshake`,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(NONCE_BYTES + MAC_BYTES);
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off("data", onData).off("error", onError).off("close", onClose);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        socket.pause();
        resolve();
      }
    };
    const fail = (err: unknown) =>
      finish(
        err instanceof CollectiveAuthError ? err : new CollectiveAuthError(`${who}: ${(err as Error).message}`, undefined, { cause: err }),
      );
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk, (f) => {
          if (done)
            socket.destroy(); // nothing may follow the last handshake message before the other side's answer
          else if (step(f)) finish();
        });
      } catch (err) {
        fail(err);
      }
    };
    const onError = (err: Error) => fail(err);
    const onClose = () => finish(new CollectiveAuthError(hungUp()));
    const timer = setTimeout(() => finish(new CollectiveAuthError(`${who}: no handshake answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    socket.on("data", onData).on("error", onError).on("close", onClose);
  });
}

export interface HandshakeOptions {
  key: Uint8Array;
  session: string;
  /** this side's rank */
  rank: number;
  timeoutMs: number;
}

/**
 * The listener's side: challenges a fresh connection, checks the dialler's MAC, and answers with its own.
 * Resolves with the dialler's rank (the socket paused); `admit` says whether that rank may connect now.
 */
export async function acceptHandshake(socket: net.Socket, o: HandshakeOptions & { admit: (peer: number) => boolean }): Promise<number> {
  const nonce = randomBytes(NONCE_BYTES);
  const who = `rank ${o.rank}: connection from ${socket.remoteAddress}:${socket.remotePort}`;
  let peer = -1;
  socket.write(frame(CHALLENGE, nonce));
  await converse(socket, o.timeoutMs, who, (f) => {
    const [word, session, rankText, ...rest] = f.tag.split("|");
    const claimed = Number(rankText);
    if (word !== HELLO || rest.length > 0 || f.data.byteLength !== MAC_BYTES + NONCE_BYTES || !Number.isInteger(claimed)) {
      throw new CollectiveAuthError(`${who}: not a collective hello`);
    }
    if (session !== o.session) throw new CollectiveAuthError(`${who}: hello for another session '${session}'`, claimed);
    if (claimed < 0 || !o.admit(claimed)) throw new CollectiveAuthError(`${who}: rank ${claimed} may not connect here now`, claimed);
    const bytes = bytesOf(f);
    if (!sameMac(authMac(o.key, nonce, o.session, claimed, o.rank), bytes.subarray(0, MAC_BYTES))) {
      throw new CollectiveAuthError(`${who}: claims rank ${claimed} but its MAC is wrong (not the job's key)`, claimed);
    }
    socket.write(frame(PROOF, authMac(o.key, bytes.subarray(MAC_BYTES), o.session, o.rank, claimed)));
    peer = claimed;
    return true;
  });
  return peer;
}

/** The dialler's side: answers `peer`'s challenge and checks its proof; rejects with CollectiveAuthError. */
export async function dialHandshake(socket: net.Socket, o: HandshakeOptions & { peer: number }): Promise<void> {
  const nonce = randomBytes(NONCE_BYTES);
  const who = `rank ${o.rank}: rank ${o.peer} at ${socket.remoteAddress}:${socket.remotePort}`;
  let challenged = false;
  await converse(
    socket,
    o.timeoutMs,
    who,
    (f) => {
      if (!challenged) {
        if (f.tag !== CHALLENGE || f.data.byteLength !== NONCE_BYTES) throw new CollectiveAuthError(`${who}: sent no challenge`);
        challenged = true;
        const mac = authMac(o.key, bytesOf(f), o.session, o.rank, o.peer);
        socket.write(frame(`${HELLO}|${o.session}|${o.rank}`, Buffer.concat([mac, nonce])));
        return false;
      }
      if (f.tag !== PROOF || !sameMac(authMac(o.key, nonce, o.session, o.peer, o.rank), bytesOf(f))) {
        throw new CollectiveAuthError(`${who}: its proof is wrong (it does not hold the job's key)`);
      }
      return true;
    },
    () =>
      challenged ? `${who}: refused our hello (do both ranks hold the job's key?)` : `${who}: the connection closed before its challenge`,
  );
}
