// One rank of the parallel-overhead benchmark's 2×2×2 run, as its own process:
// `node --import tsx rank.ts '{"natsUrl","session","rank","shape"}'`. 1F1B over 8 micro-batches of one sequence.
import { connect } from "@nats-io/transport-node";
import { createPipelineExecutor, createStageModel } from "../../../ml/parallel-model/mod.ts";
import { rankLayout } from "../../../ml/parallel/ranks.ts";
import { setBlasThreads } from "../../../native/mod.ts";
import { createCpuCollectives, KvRendezvous } from "../../../runtime/collectives/mod.ts";
import { groupsForRank } from "../../../ml/parallel/rank-groups.ts";
import {
  CLIP,
  cpuSeconds,
  mainThreadMeter,
  LAYOUT,
  LR,
  MICROBATCHES,
  microbatch,
  type ProcessReport,
  schedMeter,
  SEED,
  shapeNamed,
} from "./shapes.ts";

interface RankArgs {
  natsUrl: string;
  session: string;
  keyHex: string;
  rank: number;
  shape: string;
}

setBlasThreads(1);
const a = JSON.parse(process.argv[2]!) as RankArgs;
const { config, steps } = shapeNamed(a.shape);
const layout = rankLayout(LAYOUT);
const nc = await connect({ servers: a.natsUrl });
const world = await createCpuCollectives({
  rank: a.rank,
  worldSize: layout.worldSize,
  session: a.session,
  key: Buffer.from(a.keyHex, "hex"),
  rendezvous: await KvRendezvous.open(nc, a.session),
  opTimeoutMs: 600_000,
});
await nc.close();
const groups = groupsForRank(world, layout);
const coord = layout.coords[a.rank]!;
const baselineRssBytes = process.memoryUsage().rss;
const model = await createStageModel({ config, layout, stage: coord.pp, tpRank: coord.tp, groups, seed: SEED, microBatch: 1 });
const executor = createPipelineExecutor({ model, groups, schedule: "1f1b", microbatches: MICROBATCHES });
const builtRssBytes = process.memoryUsage().rss;

function replicaBatch(step: number): { inputs: Int32Array[]; targets: Int32Array[] } {
  const mbs = Array.from({ length: MICROBATCHES }, (_, i) => microbatch(config, step, coord.dp * MICROBATCHES + i));
  return { inputs: mbs.map((b) => b.inputs), targets: mbs.map((b) => b.targets) };
}

const first = await executor.step(replicaBatch(0), LR, CLIP); // warm-up
await world.barrier();
const t = performance.now(),
  c = cpuSeconds(),
  meter = mainThreadMeter(),
  sched = schedMeter();
for (let s = 1; s <= steps; s++) await executor.step(replicaBatch(s), LR, CLIP);
const wallSeconds = (performance.now() - t) / 1000,
  cpu = cpuSeconds() - c,
  js = meter(),
  scheduling = sched();
await world.barrier();
await world.close();
const report: ProcessReport = {
  done: true,
  rank: a.rank,
  firstLoss: first.loss,
  wallSeconds,
  cpuSeconds: cpu,
  maxRssBytes: process.resourceUsage().maxRSS * 1024,
  baselineRssBytes,
  builtRssBytes,
  params: executor.parameters().reduce((n, p) => n + p.data.length, 0),
  ...js,
  ...scheduling,
};
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(0);
