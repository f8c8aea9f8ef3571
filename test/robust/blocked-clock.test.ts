// The busy-time clock of stage-parallel workers, on two real CPU-collective ranks in this process (real sockets,
// real nats-server for the rendezvous): time pending in collectives counts as blocked, once however many
// operations overlap; computing between them does not.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createCpuCollectives, KvRendezvous, newCollectiveKey, type CollectivesWorld } from "../../runtime/collectives/mod.ts";
import { BlockedClock } from "../../actors/worker/blocked-clock.ts";

let nc: NatsConnection;
let a: CollectivesWorld;
let b: CollectivesWorld;
beforeAll(async () => {
  nc = await connect({ servers: inject("natsUrl") });
  const session = `blocked-clock-${process.pid}-${Date.now()}`;
  const rendezvous = await KvRendezvous.open(nc, session);
  const key = newCollectiveKey();
  [a, b] = await Promise.all([0, 1].map((rank) => createCpuCollectives({ rank, worldSize: 2, session, rendezvous, key })));
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await nc.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("BlockedClock", () => {
  it("counts a recv waiting for a late peer, not the compute around it, and overlapping waits once", async () => {
    const clock = new BlockedClock();
    const mine = clock.wrap(a);
    spin(50); // compute before any collective
    expect(clock.blockedMs).toBe(0);

    const t0 = performance.now();
    const late = (async () => {
      await sleep(300);
      await b.send(Float32Array.of(1), 0, "x");
      await b.send(Float32Array.of(2), 0, "y");
    })();
    // two receives pending together for ~300 ms: blocked ~300 ms, not ~600
    const [x, y] = await Promise.all([mine.recv(1, "x"), mine.recv(1, "y")]);
    const waited = performance.now() - t0;
    await late;
    expect([x[0], y[0]]).toEqual([1, 2]);
    const afterWait = clock.blockedMs;
    expect(afterWait).toBeGreaterThanOrEqual(250);
    expect(afterWait).toBeLessThanOrEqual(waited + 1);

    spin(50); // compute after: the blocked time does not move
    expect(clock.blockedMs).toBe(afterWait);

    // an all-reduce whose peer comes late is blocked time too; reset starts a new step
    clock.reset();
    expect(clock.blockedMs).toBe(0);
    const data = Float32Array.of(1, 2);
    await Promise.all([mine.allReduce(data), sleep(200).then(() => b.allReduce(Float32Array.of(10, 20)))]);
    expect([...data]).toEqual([11, 22]);
    expect(clock.blockedMs).toBeGreaterThanOrEqual(150);
    // a wrapped group still answers everything else as itself
    expect([mine.rank, mine.size]).toEqual([0, 2]);
  });
});
