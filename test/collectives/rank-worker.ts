// One rank of a collectives test, run as its own process: `node --import tsx rank-worker.ts '<json>'`.
// Scenario "suite" runs every operation and writes each result to <outDir>/r<rank>-<name>.bin;
// "pipeline" runs one stage of a pipeline schedule with a toy model (see pipeline-rank.ts);
// "kill" waits in an all-reduce for a peer the parent kills, and reports how the wait ended.
import { connect } from "@nats-io/transport-node";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { createCpuCollectives, GradientBuckets, KvRendezvous } from "../../runtime/collectives/mod.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import { BUCKET_SIZES, layoutFor, testData } from "./data.ts";
import { runPipelineStage, type PipelineArgs } from "./pipeline-rank.ts";

interface Args {
  natsUrl: string;
  session: string;
  keyHex: string;
  rank: number;
  worldSize: number;
  scenario: "suite" | "kill" | "pipeline";
  outDir: string;
  victim?: number;
  pipeline?: PipelineArgs;
}

const args = JSON.parse(process.argv[2]!) as Args;
const say = (msg: object) => process.stdout.write(JSON.stringify({ rank: args.rank, ...msg }) + "\n");

const nc = await connect({ servers: args.natsUrl });
const rendezvous = await KvRendezvous.open(nc, args.session);
const world = await createCpuCollectives({
  rank: args.rank,
  worldSize: args.worldSize,
  session: args.session,
  key: Buffer.from(args.keyHex, "hex"),
  rendezvous,
  opTimeoutMs: 20_000,
});
await nc.close(); // addresses are exchanged; NATS is not needed for the data plane

const save = (name: string, data: Float32Array) =>
  writeFileSync(path.join(args.outDir, `r${args.rank}-${name}.bin`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));

if (args.scenario === "suite") {
  const { rank, worldSize: n } = args;
  for (const pass of ["", "-again"]) {
    const x = testData(1, rank, 1003);
    await world.allReduce(x);
    save(`ar-sum${pass}`, x);
  }
  const mx = testData(2, rank, 17);
  await world.allReduce(mx, "max");
  save("ar-max", mx);
  const mn = testData(2, rank, 17);
  await world.allReduce(mn, "min");
  save("ar-min", mn);
  const tiny = testData(3, rank, 3);
  await world.allReduce(tiny);
  save("ar-tiny", tiny);
  const big = testData(4, rank, 300_001); // above SMALL_ALL_REDUCE_BYTES: reduce-scatter + all-gather path
  await world.allReduce(big);
  save("ar-big", big);
  save("rs", await world.reduceScatter(testData(5, rank, 1003)));
  save("ag", await world.allGather(testData(6, rank, rank + 1)));
  const bc = rank === n - 1 ? testData(7, rank, 100) : new Float32Array(100);
  await world.broadcast(bc, n - 1);
  save("bc", bc);
  const [, got] = await Promise.all([world.send(testData(8, rank, 50), (rank + 1) % n, "ring"), world.recv((rank + n - 1) % n, "ring")]);
  save("p2p", got);
  await world.barrier();
  const groups = groupsForRank(world, rankLayout(layoutFor(n)));
  const tpX = testData(9, rank, 257);
  await groups.tp.allReduce(tpX);
  save("tp-ar", tpX);
  const dpX = testData(10, rank, 257);
  await groups.dp.allReduce(dpX);
  save("dp-ar", dpX);
  for (const [name, bucketBytes] of [
    ["buckets-small", 4096],
    ["buckets-one", 1 << 30],
  ] as const) {
    const grads = BUCKET_SIZES.map((len, i) => testData(30 + i, rank, len));
    const buckets = new GradientBuckets(world, grads, { bucketBytes, scale: 1 / n });
    for (let i = 0; i < grads.length; i++) {
      buckets.markReady(i);
      await new Promise((r) => setImmediate(r)); // backward keeps running while buckets reduce
    }
    await buckets.finish();
    save(name, Float32Array.from(grads.flatMap((g) => [...g])));
  }
  await world.barrier();
  await world.close();
  say({ done: true });
} else if (args.scenario === "pipeline") {
  const { wgrads, tied } = await runPipelineStage(world, args.pipeline!);
  wgrads.forEach((g, c) => save(`wgrad-c${c}`, g));
  if (tied) save("tied", tied);
  await world.close();
  say({ done: true });
} else {
  say({ ready: true });
  if (args.rank !== args.victim) {
    const x = testData(11, args.rank, 1 << 20);
    const waiting = world.allReduce(x);
    say({ waiting: true });
    try {
      await waiting;
      say({ result: "completed" });
    } catch (err) {
      say({ result: "rejected", name: (err as Error).name, message: (err as Error).message, at: Date.now() });
    }
    // a later operation fails at once with the same cause
    const t = Date.now();
    const next = await world.barrier().then(
      () => "completed",
      (e: Error) => e.name,
    );
    say({ next, nextMs: Date.now() - t });
    await new Promise((r) => setTimeout(r, 1000)); // leave the other survivor time to see the victim's death first
    world.abort("test over");
  } else {
    setInterval(() => {}, 1000); // the victim idles until killed
  }
}
