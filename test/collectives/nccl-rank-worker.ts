// One rank of the NCCL collectives test, as its own process on its own GPU (device = rank):
// `node --import tsx nccl-rank-worker.ts '<json>'`. Scenario "suite" runs the operations on CUDA-backend arrays
// and writes each result to <outDir>/r<rank>-<name>.bin; "kill" waits in an all-reduce for a peer the parent kills.
import { connect } from "@nats-io/transport-node";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createCudaBackend } from "../../native/cuda-backend.ts";
import { createNcclCollectives } from "../../runtime/collectives/nccl-collectives.ts";
import { KvNcclIdExchange } from "../../runtime/collectives/nccl-rendezvous.ts";
import { KvRendezvous } from "../../runtime/collectives/mod.ts";
import { testData } from "./data.ts";

const args = JSON.parse(process.argv[2]!) as {
  natsUrl: string;
  session: string;
  keyHex: string;
  rank: number;
  worldSize: number;
  scenario: "suite" | "kill";
  outDir: string;
  victim?: number;
};
const say = (msg: object) => process.stdout.write(JSON.stringify({ rank: args.rank, ...msg }) + "\n");

const backend = createCudaBackend({ device: args.rank, precision: "fp32" });
const nc = await connect({ servers: args.natsUrl });
const world = await createNcclCollectives({
  rank: args.rank,
  worldSize: args.worldSize,
  session: args.session,
  key: Buffer.from(args.keyHex, "hex"),
  rendezvous: await KvRendezvous.open(nc, args.session),
  ids: await KvNcclIdExchange.open(nc, args.session),
  backend,
  opTimeoutMs: 20_000,
});

/** `data` in a fresh device array. */
async function onDevice(data: Float32Array): Promise<Float32Array> {
  const a = backend.alloc(data.length);
  a.set(data);
  await backend.upload([a]);
  return a;
}
async function save(name: string, a: Float32Array): Promise<void> {
  await backend.download([a]);
  writeFileSync(path.join(args.outDir, `r${args.rank}-${name}.bin`), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

const { rank, worldSize: n } = args;
if (args.scenario === "suite") {
  for (const pass of ["", "-again"]) {
    const x = await onDevice(testData(1, rank, 1003));
    await world.allReduce(x);
    await save(`ar-sum${pass}`, x);
  }
  for (const op of ["max", "min"] as const) {
    const x = await onDevice(testData(2, rank, 17));
    await world.allReduce(x, op);
    await save(`ar-${op}`, x);
  }
  const big = await onDevice(testData(4, rank, 300_001));
  await world.allReduce(big);
  await save("ar-big", big);
  await save("rs", await world.reduceScatter(await onDevice(testData(5, rank, 1003))));
  await save("ag", await world.allGather(await onDevice(testData(6, rank, rank + 1))));
  const bc = await onDevice(rank === n - 1 ? testData(7, rank, 100) : new Float32Array(100));
  await world.broadcast(bc, n - 1);
  await save("bc", bc);
  const [, got] = await Promise.all([
    world.send(await onDevice(testData(8, rank, 50)), (rank + 1) % n, "ring"),
    world.recv((rank + n - 1) % n, "ring"),
  ]);
  await save("p2p", got);
  await world.barrier();
  await world.close();
  await nc.close();
  say({ done: true });
} else {
  const x = await onDevice(testData(11, rank, 1 << 20));
  await world.allReduce(x); // the communicator exists on every rank before the victim dies
  say({ ready: true });
  if (rank !== args.victim) {
    const waiting = world.allReduce(x);
    say({ waiting: true });
    try {
      await waiting;
      say({ result: "completed" });
    } catch (err) {
      say({ result: "rejected", name: (err as Error).name, message: (err as Error).message });
    }
    world.abort("test over");
  } else {
    setInterval(() => {}, 1000); // the victim idles until killed
  }
}
