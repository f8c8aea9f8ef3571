// One dp rank of the zero benchmark, as its own process: `node --import tsx rank.ts '<json>'`. Holds two copies of
// the same model on the same dp group, one trained with plain data parallelism (bucketed all-reduce, whole AdamW)
// and one with ZeRO-1 (reduce-scatter, shard AdamW, all-gather), plus a second plain copy as a control, and times
// their steps interleaved (plain, zero, control, then rotated) so all see the same machine load. Prints one JSON
// line with the step times in ms.
import { connect } from "@nats-io/transport-node";
import { createPipelineExecutor, createStageModel } from "../../../ml/parallel-model/mod.ts";
import { groupsForRank } from "../../../ml/parallel/rank-groups.ts";
import { rankLayout } from "../../../ml/parallel/ranks.ts";
import type { GptConfig } from "../../../ml/model/types.ts";
import { createCpuCollectives, KvRendezvous } from "../../../runtime/collectives/mod.ts";
import { microbatchTokens } from "../../parallel-model/data.ts";

interface Args {
  natsUrl: string;
  session: string;
  keyHex: string;
  rank: number;
  dp: number;
  config: GptConfig;
  microBatch: number;
  microbatches: number;
  steps: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const layout = rankLayout({ dp: a.dp, pp: 1, tp: 1 });
const nc = await connect({ servers: a.natsUrl });
const world = await createCpuCollectives({
  rank: a.rank,
  worldSize: a.dp,
  session: a.session,
  key: Buffer.from(a.keyHex, "hex"),
  rendezvous: await KvRendezvous.open(nc, a.session),
  opTimeoutMs: 120_000,
});
await nc.close();
const groups = groupsForRank(world, layout);
const executorFor = async (zero: boolean) => {
  const model = await createStageModel({
    config: a.config,
    layout: { sizes: { pp: 1, tp: 1 } },
    stage: 0,
    tpRank: 0,
    groups,
    seed: 7,
    microBatch: a.microBatch,
  });
  return createPipelineExecutor({ model, groups, schedule: "1f1b", microbatches: a.microbatches, zero });
};
// "control" is a second plain copy: its ratio to "plain" is the noise of the measurement on this machine
const executors = { plain: await executorFor(false), zero: await executorFor(true), control: await executorFor(false) };
const batch = (step: number) => {
  const mbs = Array.from({ length: a.microbatches }, (_, i) => microbatchTokens(step, a.rank * a.microbatches + i, a.config, a.microBatch));
  return { inputs: mbs.map((m) => m.inputs), targets: mbs.map((m) => m.targets) };
};
const KINDS = ["plain", "zero", "control"] as const;
const times: Record<(typeof KINDS)[number], number[]> = { plain: [], zero: [], control: [] };
for (let s = 0; s <= a.steps; s++) {
  // each kind goes first, second and third equally often
  for (const kind of KINDS.map((_, i) => KINDS[(i + s) % KINDS.length]!)) {
    await world.barrier();
    const t0 = performance.now();
    await executors[kind].step(batch(s), 1e-3, 1);
    if (s > 0) times[kind].push(performance.now() - t0); // step 0 warms up
  }
}
await world.close();
process.stdout.write(JSON.stringify({ rank: a.rank, done: true, ...times }) + "\n");
process.exit(0);
