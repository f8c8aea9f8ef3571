// Error paths, with two ranks in this process (real sockets, real nats-server for the rendezvous).
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  assignBuckets,
  GradientBuckets,
  CollectiveAbortedError,
  CollectiveError,
  CollectiveTimeoutError,
  createCpuCollectives,
  KvRendezvous,
  newCollectiveKey,
  PeerLostError,
  RendezvousError,
  type CollectivesWorld,
} from "../../runtime/collectives/mod.ts";

let nc: NatsConnection;
let sessions = 0;
beforeAll(async () => {
  nc = await connect({ servers: inject("natsUrl") });
});
afterAll(async () => {
  await nc.close();
});

async function pair(opTimeoutMs = 10_000): Promise<[CollectivesWorld, CollectivesWorld]> {
  const session = `inproc-${process.pid}-${Date.now()}-${sessions++}`;
  const rendezvous = await KvRendezvous.open(nc, session);
  const key = newCollectiveKey();
  const make = (rank: number) => createCpuCollectives({ rank, worldSize: 2, session, rendezvous, key, opTimeoutMs });
  return (await Promise.all([make(0), make(1)])) as [CollectivesWorld, CollectivesWorld];
}

describe("CPU collectives error paths", () => {
  it("work in one process too (sanity for the cases below)", async () => {
    const [a, b] = await pair();
    const x = Float32Array.of(1, 2, 3);
    const y = Float32Array.of(10, 20, 30);
    await Promise.all([a.allReduce(x), b.allReduce(y)]);
    expect([...x]).toEqual([11, 22, 33]);
    expect([...y]).toEqual([11, 22, 33]);
    await Promise.all([a.close(), b.close()]);
  });

  it("abort() fails the operation in flight at once and every later one; the peer sees a lost rank", async () => {
    const [a, b] = await pair();
    const pending = a.allReduce(new Float32Array(1000));
    const t = Date.now();
    a.abort("operator stop");
    await expect(pending).rejects.toBeInstanceOf(CollectiveAbortedError);
    await expect(pending).rejects.toThrow(/collectives aborted: operator stop/);
    expect(Date.now() - t).toBeLessThan(1000); // promptly: no waiting for any timeout
    await expect(a.barrier()).rejects.toBeInstanceOf(CollectiveAbortedError);
    await expect(b.barrier()).rejects.toBeInstanceOf(PeerLostError);
    b.abort();
  });

  it("times out an operation whose peer never joins, and refuses later ones with the same cause", async () => {
    const [a, b] = await pair(300);
    const t = Date.now();
    await expect(a.allReduce(new Float32Array(8))).rejects.toBeInstanceOf(CollectiveTimeoutError);
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    await expect(a.barrier()).rejects.toThrow(/allReduce on group \[0,1\] \(rank 0\) did not finish within 300 ms/);
    // point-to-point too: a receive nobody sends to
    await expect(b.group([0, 1]).recv(0, "x")).rejects.toThrow(
      /recv from 0 \(tag 'x'\) on group \[0,1\] \(rank 1\) did not finish within 300 ms/,
    );
    a.abort();
    b.abort();
  });

  it("names the problem when members pass buffers of different lengths", async () => {
    const [a, b] = await pair();
    const results = await Promise.allSettled([a.allReduce(new Float32Array(10)), b.allReduce(new Float32Array(12))]);
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(
      /rank 1 sent 12 elements where 10 were expected \(buffers differ in length\)/,
    );
    a.abort();
    b.abort();
    // above the one-round size, the reduce-scatter chunks are checked
    const [c, d] = await pair();
    const large = await Promise.allSettled([c.allReduce(new Float32Array(20_000)), d.allReduce(new Float32Array(20_002))]);
    expect(String((large[0] as PromiseRejectedResult).reason)).toMatch(/rank 1 sent 10001 elements where 10000 were expected/);
    c.abort();
    d.abort();
  });

  it("checks groups, roots and ops", async () => {
    const [a, b] = await pair();
    expect(() => a.group([1])).toThrow(/rank 0 is not a member of group \[1\]/);
    expect(() => a.group([0, 2])).toThrow(/outside the world 0..1/);
    expect(() => a.group([0, 0])).toThrow(/lists a rank twice/);
    expect(a.group([0, 1])).toBe(a.group([0, 1]));
    expect(() => a.broadcast(new Float32Array(1), 2)).toThrow(/broadcast root 2 is outside the group/);
    expect(() => a.allReduce(new Float32Array(1), "mean" as "sum")).toThrow(CollectiveError);
    // a one-member group needs no peer
    const solo = a.group([0]);
    const x = Float32Array.of(4, 5);
    await solo.allReduce(x);
    expect([...x]).toEqual([4, 5]);
    await Promise.all([a.close(), b.close()]);
  });

  it("a clean close rejects the peer's pending receive with a clear reason", async () => {
    const [a, b] = await pair();
    const waiting = expect(b.recv(0, "never")).rejects.toThrow(/rank 0 closed its communicator/);
    await a.close();
    await waiting;
    b.abort();
  });

  it("gives up on a rank that never publishes its address", async () => {
    const session = `inproc-alone-${process.pid}-${Date.now()}`;
    const rendezvous = await KvRendezvous.open(nc, session);
    await expect(
      createCpuCollectives({ rank: 1, worldSize: 2, session, rendezvous, key: newCollectiveKey(), connectTimeoutMs: 300 }),
    ).rejects.toThrow(RendezvousError);
    await expect(KvRendezvous.open(nc, "bad session!")).rejects.toThrow(/may only contain letters/);
  });
});

describe("gradient buckets", () => {
  it("pack consecutive gradients up to the bucket size (a larger gradient gets its own)", () => {
    expect(assignBuckets([10, 10, 10, 100, 1, 1], 80)).toEqual([
      [0, 2],
      [2, 3],
      [3, 4],
      [4, 6],
    ]);
    expect(assignBuckets([], 80)).toEqual([]);
    expect(() => assignBuckets([1], 0)).toThrow(/bucket size must be positive/);
  });

  it("reduce while later gradients are still being produced, and refuse misuse", async () => {
    const [a, b] = await pair();
    const make = (base: number) => [Float32Array.of(base, base), Float32Array.of(base + 1), Float32Array.of(base + 2, 0, 1)];
    const ga = make(1);
    const gb = make(10);
    const ba = new GradientBuckets(a, ga, { bucketBytes: 8, scale: 0.5 });
    const bb = new GradientBuckets(b, gb, { bucketBytes: 8, scale: 0.5 });
    expect(ba.bucketCount).toBe(3); // 8-byte buckets: [g0] [g1] [g2]
    for (const bk of [ba, bb]) bk.markReady(0); // bucket 0 starts now, before g1 and g2 exist
    for (const bk of [ba, bb]) {
      bk.markReady(1);
      bk.markReady(2);
    }
    await Promise.all([ba.finish(), bb.finish()]);
    expect(ga.map((g) => [...g])).toEqual([[5.5, 5.5], [6.5], [7.5, 0, 1]]);
    expect(gb.map((g) => [...g])).toEqual(ga.map((g) => [...g]));
    expect(() => ba.markReady(3)).toThrow(/gradient index 3 is outside 0..2/);
    ba.markReady(0);
    expect(() => ba.markReady(0)).toThrow(/gradient 0 was marked ready twice/);
    bb.markReady(0);
    await Promise.all([
      expect(ba.finish()).rejects.toThrow(/gradients 1, 2 were never marked ready/),
      expect(bb.finish()).rejects.toThrow(/gradients 1, 2 were never marked ready/),
    ]);
    await Promise.all([a.close(), b.close()]);
  });
});
