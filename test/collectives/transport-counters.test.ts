// The collective counters a worker reports with each step (runtime/collectives/transport-counters.ts), with two ranks
// in this process over real sockets: the bytes the mesh writes and reads are the frames' (payload and header), an
// all-reduce of P floats between two ranks moves 4P bytes each way (2·(n−1)/n·4P), the seconds are the time a call
// was pending (a rank waiting for a late peer counts it), and take() gives what happened since the previous take.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createCpuCollectives, KvRendezvous, newCollectiveKey } from "../../runtime/collectives/mod.ts";
import { TransportCounters } from "../../runtime/collectives/transport-counters.ts";

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connect({ servers: inject("natsUrl") });
});
afterAll(async () => {
  await nc.close();
});

describe("transport counters", () => {
  it("count each rank's bytes both ways and its seconds in collective calls, of the world and its groups", async () => {
    const session = `counters-${process.pid}-${Date.now()}`;
    const rendezvous = await KvRendezvous.open(nc, session);
    const key = newCollectiveKey();
    const counters = [new TransportCounters(), new TransportCounters()];
    const worlds = await Promise.all(
      [0, 1].map(async (rank) =>
        counters[rank]!.timeWorld(await createCpuCollectives({ rank, worldSize: 2, session, rendezvous, key, counters: counters[rank] })),
      ),
    );
    const handshake = counters.map((c) => c.take()); // the handshake's bytes are not the collective's

    const P = 100_000; // above the one-round size: the direct-exchange path
    await Promise.all(worlds.map((w) => w.group([0, 1]).allReduce(new Float32Array(P).fill(1))));
    const headerSlack = 64; // per frame: 8 bytes and the tag
    const reduced = counters.map((c) => c.take());
    for (const t of reduced) {
      expect(t.sentBytes).toBeGreaterThanOrEqual(4 * P);
      expect(t.sentBytes).toBeLessThan(4 * P + 4 * headerSlack);
      expect(t.receivedBytes).toBe(t.sentBytes); // two ranks: each receives what the other sent
      expect(t.seconds).toBeGreaterThan(0);
    }

    // rank 1 joins 300 ms late: rank 0 spent that long in the call, the bytes of a small all-reduce are 4·8 each way
    const early = worlds[0]!.allReduce(new Float32Array(8));
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([early, worlds[1]!.allReduce(new Float32Array(8))]);
    const [t0, t1] = counters.map((c) => c.take());
    expect(t0!.seconds).toBeGreaterThanOrEqual(0.29);
    expect(t1!.seconds).toBeLessThan(t0!.seconds);
    expect(t0!.sentBytes).toBeGreaterThanOrEqual(32);
    expect(t0!.sentBytes).toBeLessThan(32 + headerSlack);
    expect(counters[0]!.take()).toEqual({ sentBytes: 0, receivedBytes: 0, seconds: 0 });
    // total(): everything since the counters were made, the handshake included (what a worker reports as its total)
    const total = counters[0]!.total();
    const taken = [handshake[0]!, reduced[0]!, t0!];
    expect(total.sentBytes).toBe(taken.reduce((n, t) => n + t.sentBytes, 0));
    expect(total.receivedBytes).toBe(taken.reduce((n, t) => n + t.receivedBytes, 0));
    expect(total.seconds).toBeCloseTo(
      taken.reduce((n, t) => n + t.seconds, 0),
      9,
    );
    await Promise.all(worlds.map((w) => w.close()));
  });
});
