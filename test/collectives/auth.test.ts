// Authenticated collective connections (runtime/collectives/auth-handshake.ts), with real sockets and a real
// nats-server for the rendezvous: strangers at a rank's port are dropped without disturbing the mesh, and a peer
// or a listener without the job's key is refused with CollectiveAuthError.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { dialHandshake } from "../../runtime/collectives/auth-handshake.ts";
import {
  CollectiveAuthError,
  CollectiveKeyError,
  createCpuCollectives,
  KvRendezvous,
  newCollectiveKey,
  readCollectiveKeyFile,
  RendezvousError,
  writeCollectiveKeyFile,
  type CollectivesWorld,
  type PeerAddress,
} from "../../runtime/collectives/mod.ts";

let nc: NatsConnection;
let sessions = 0;
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-collauth-"));
beforeAll(async () => {
  nc = await connect({ servers: inject("natsUrl") });
});
afterAll(async () => {
  await nc.close();
  rmSync(root, { recursive: true, force: true });
});

const newSession = () => `auth-${process.pid}-${Date.now()}-${sessions++}`;

/** Connects a raw socket that reads and drops everything; resolves once connected. */
function stranger(address: PeerAddress): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(address.port, address.host);
    s.once("connect", () => resolve(s)).once("error", reject);
    s.on("error", () => {});
    s.resume(); // read (and drop) what the listener sends, so its hang-up is seen
  });
}

const closed = (s: net.Socket) => new Promise<void>((resolve) => (s.destroyed && s.closed ? resolve() : s.once("close", () => resolve())));

/** `reached` resolves once `bump` has been called `n` times. */
function counter(n: number): { bump: () => void; reached: Promise<void> } {
  let seen = 0;
  let done!: () => void;
  const reached = new Promise<void>((r) => (done = r));
  return { bump: () => ++seen >= n && done(), reached };
}

/** The fp32 sum of two vectors, element by element: what an all-reduce of two ranks must give bit for bit. */
const sum2 = (a: Float32Array, b: Float32Array) => Float32Array.from(a, (x, i) => Math.fround(x + b[i]!));
const random = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i) * 3.7);

describe("authenticated collective connections", () => {
  it("drops strangers (garbage, a wrong key, an oversized frame, silence) while the mesh forms; the mesh's numbers are exact", async () => {
    const session = newSession();
    const rendezvous = await KvRendezvous.open(nc, session);
    const key = newCollectiveKey();
    const refused: CollectiveAuthError[] = [];
    const three = counter(3);
    const onAuthFailure = (err: CollectiveAuthError) => {
      refused.push(err);
      three.bump();
    };
    const a = createCpuCollectives({ rank: 0, worldSize: 2, session, rendezvous, key, onAuthFailure });
    const address = await rendezvous.lookup(0, 10_000);

    const garbage = await stranger(address);
    garbage.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const oversized = await stranger(address);
    const header = Buffer.alloc(8 + 7);
    header.writeUInt32LE(7, 0);
    header.writeUInt32LE(1 << 20, 4);
    header.write("__hello", 8);
    oversized.write(header);
    const silent = await stranger(address);
    // the real protocol, claiming rank 1, with another key
    const wrongKey = await stranger(address);
    await expect(dialHandshake(wrongKey, { key: newCollectiveKey(), session, rank: 1, peer: 0, timeoutMs: 5000 })).rejects.toThrow(
      /refused our hello/,
    );
    await three.reached;
    expect(refused.every((e) => e instanceof CollectiveAuthError)).toBe(true);
    expect(refused.map((e) => e.message).join("\n")).toMatch(/MAC is wrong/);

    const b = createCpuCollectives({ rank: 1, worldSize: 2, session, rendezvous, key });
    const [wa, wb] = (await Promise.all([a, b])) as [CollectivesWorld, CollectivesWorld];
    await Promise.all([garbage, oversized, silent, wrongKey].map(closed)); // the silent one: dropped once the mesh is up
    expect(refused.length).toBeGreaterThanOrEqual(3); // the silent one may count too, once dropped

    for (const n of [5, 40_000]) {
      const x = random(n, 1);
      const y = random(n, 2);
      const want = sum2(x, y);
      await Promise.all([wa.allReduce(x), wb.allReduce(y)]);
      expect(Buffer.from(x.buffer).equals(Buffer.from(want.buffer))).toBe(true);
      expect(Buffer.from(y.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    }
    // once the mesh is complete the port accepts no one
    await expect(stranger(address)).rejects.toThrow(/ECONNREFUSED/);
    await Promise.all([wa.close(), wb.close()]);
  });

  it("drops a stranger that says nothing once the handshake times out, and keeps waiting for the real peer", async () => {
    const session = newSession();
    const rendezvous = await KvRendezvous.open(nc, session);
    const key = newCollectiveKey();
    const one = counter(1);
    const refused: CollectiveAuthError[] = [];
    const a = createCpuCollectives({
      rank: 0,
      worldSize: 2,
      session,
      rendezvous,
      key,
      handshakeTimeoutMs: 200,
      onAuthFailure: (e) => (refused.push(e), one.bump()),
    });
    const silent = await stranger(await rendezvous.lookup(0, 10_000));
    await one.reached;
    await closed(silent);
    expect(refused[0]!.message).toMatch(/no handshake answer within 200 ms/);
    const [wa, wb] = await Promise.all([a, createCpuCollectives({ rank: 1, worldSize: 2, session, rendezvous, key })]);
    const x = Float32Array.of(1, 2);
    const y = Float32Array.of(3, 4);
    await Promise.all([wa.allReduce(x), wb.allReduce(y)]);
    expect([...x]).toEqual([4, 6]);
    await Promise.all([wa.close(), wb.close()]);
  });

  it("refuses a peer with the wrong key: both ranks fail with CollectiveAuthError", async () => {
    const session = newSession();
    const rendezvous = await KvRendezvous.open(nc, session);
    const make = (rank: number) =>
      createCpuCollectives({ rank, worldSize: 2, session, rendezvous, key: newCollectiveKey(), connectTimeoutMs: 1500 });
    const [a, b] = await Promise.allSettled([make(0), make(1)]);
    // the dialler learns at once: the listener hung up on its hello
    expect(b.status === "rejected" && b.reason).toBeInstanceOf(CollectiveAuthError);
    expect(String((b as PromiseRejectedResult).reason.message)).toMatch(/rank 1: rank 0 at .* refused our hello/);
    // the listener at its connect deadline, naming the rank that failed authentication (still a RendezvousError)
    const err = (a as PromiseRejectedResult).reason as CollectiveAuthError;
    expect(err).toBeInstanceOf(CollectiveAuthError);
    expect(err).toBeInstanceOf(RendezvousError);
    expect(err.claimedRank).toBe(1);
    expect(err.message).toMatch(/ranks 1 did not connect within 1500 ms; a connection failed authentication: .*MAC is wrong/);
  });

  it("refuses a listener that cannot prove the key, or never challenges", async () => {
    const fakes: net.Socket[] = [];
    const listen = (onConnection: (s: net.Socket) => void) =>
      new Promise<PeerAddress>((resolve) => {
        const server = net.createServer((s) => (fakes.push(s), onConnection(s)));
        server.listen(0, "127.0.0.1", () => resolve({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }));
        server.unref();
      });
    const challenge = Buffer.alloc(8 + 11 + 32);
    challenge.writeUInt32LE(11, 0);
    challenge.writeUInt32LE(32, 4);
    challenge.write("__challenge", 8);
    const proof = Buffer.alloc(8 + 7 + 32);
    proof.writeUInt32LE(7, 0);
    proof.writeUInt32LE(32, 4);
    proof.write("__proof", 8);
    const forger = await listen((s) => {
      s.write(challenge);
      s.once("data", () => s.write(proof)); // a proof of zeros
    });
    const mute = await listen(() => {});
    const dialler = (address: PeerAddress) =>
      createCpuCollectives({
        rank: 1,
        worldSize: 2,
        session: newSession(),
        rendezvous: { publish: async () => {}, lookup: async () => address },
        key: newCollectiveKey(),
        handshakeTimeoutMs: 300,
      });
    await expect(dialler(forger)).rejects.toThrow(/its proof is wrong/);
    await expect(dialler(mute)).rejects.toThrow(CollectiveAuthError);
    await expect(dialler(mute)).rejects.toThrow(/no handshake answer within 300 ms/);
    for (const s of fakes) s.destroy();
  });
});

describe("collective key file", () => {
  it("is 32 random bytes of mode 0600; a key readable by others, of the wrong size or missing is refused", async () => {
    const file = writeCollectiveKeyFile(root);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = readCollectiveKeyFile(file);
    expect(key).toHaveLength(32);
    expect(readCollectiveKeyFile(writeCollectiveKeyFile(root)).equals(key)).toBe(false);
    chmodSync(file, 0o644);
    expect(() => readCollectiveKeyFile(file)).toThrow(/mode 644: it must be readable by its owner only/);
    expect(statSync(writeCollectiveKeyFile(root)).mode & 0o777).toBe(0o600); // rewriting narrows it again
    const short = path.join(root, "short.key");
    writeFileSync(short, Buffer.alloc(16), { mode: 0o600 });
    expect(() => readCollectiveKeyFile(short)).toThrow(CollectiveKeyError);
    expect(() => readCollectiveKeyFile(path.join(root, "absent.key"))).toThrow(/cannot read the collective key file/);
    const rendezvous = { publish: async () => {}, lookup: async () => ({ host: "127.0.0.1", port: 1 }) };
    await expect(createCpuCollectives({ rank: 0, worldSize: 1, session: "s", rendezvous, key: Buffer.alloc(8) })).rejects.toThrow(
      /must be 32 bytes/,
    );
  });
});
