// One rank of a parallel-model test, run as its own process: `node --import tsx rank-worker.ts '<json>'`.
// Trains `steps` steps of the tiny model on its (replica, stage, TP rank) and prints one JSON line with the
// losses, gradient norms, a checksum of its parameters, the time of the steps and its peak RSS.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { createPipelineExecutor, createStageModel } from "../../ml/parallel-model/mod.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { createCpuCollectives, KvRendezvous } from "../../runtime/collectives/mod.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import { CLIP, LR, MICRO_BATCH, microbatchesAt, replicaBatch, SEED, TINY, validationTokens } from "./data.ts";
import type { RunArgs } from "./spawn.ts";

/** What spawn.ts asks of every rank, plus this rank's identity. */
interface Args extends RunArgs {
  session: string;
  keyHex: string;
  rank: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const layout = rankLayout({ dp: a.dp, pp: a.pp, tp: a.tp });
const nc = await connect({ servers: a.natsUrl });
const world = await createCpuCollectives({
  rank: a.rank,
  worldSize: layout.worldSize,
  session: a.session,
  key: Buffer.from(a.keyHex, "hex"),
  rendezvous: await KvRendezvous.open(nc, a.session),
  opTimeoutMs: 30_000,
});
await nc.close();
const groups = groupsForRank(world, layout);
const coord = layout.coords[a.rank]!;
const v = a.virtualStages ?? 1;
// chunk c of this pipeline rank is virtual stage c·pp + stage of a pp·v-stage model
const chunks = await Promise.all(
  Array.from({ length: v }, (_, c) =>
    createStageModel({
      config: TINY,
      layout: { sizes: { pp: a.pp * v, tp: a.tp } },
      stage: c * a.pp + coord.pp,
      tpRank: coord.tp,
      groups,
      seed: SEED,
      microBatch: MICRO_BATCH,
      layersPerStage: a.layersPerStage,
    }),
  ),
);
const executor = createPipelineExecutor({
  model: chunks,
  groups,
  schedule: a.schedule,
  microbatches: a.microbatches,
  bucketBytes: 64 << 10,
  zero: a.zero,
});
const losses: number[] = [],
  norms: number[] = [],
  validationSums: number[] = [];
const validate = async () => {
  const held = Array.from({ length: a.validationBatches ?? 0 }, (_, i) => validationTokens(i));
  if (held.length)
    validationSums.push((await executor.evaluate({ inputs: held.map((b) => b.inputs), targets: held.map((b) => b.targets) })).lossSum);
};
await validate();
const started = performance.now();
for (let s = 0; s < a.steps; s++) {
  const r = await executor.step(replicaBatch(s, coord.dp, microbatchesAt(a.ramp, s, a.microbatches)), LR, CLIP);
  losses.push(r.loss);
  norms.push(r.gradNorm);
}
const stepsMs = performance.now() - started;
await validate();
let checksum = 0;
for (const p of executor.parameters()) for (const x of p.data) checksum += x;
if (a.dumpDir)
  writeFileSync(
    path.join(a.dumpDir, `rank${a.rank}.f32`),
    Buffer.concat(executor.parameters().map((p) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength))),
  );
await world.close();
process.stdout.write(
  JSON.stringify({
    rank: a.rank,
    done: true,
    losses,
    norms,
    checksum,
    validationSums,
    stepsMs,
    maxRssKiB: process.resourceUsage().maxRSS,
  }) + "\n",
);
process.exit(0);
