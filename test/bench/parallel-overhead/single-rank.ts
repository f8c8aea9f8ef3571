// The single-rank run of the parallel-overhead benchmark, as its own process (so its peak RSS is its own):
// `node --import tsx single-rank.ts <shape>`. Gradient accumulation over the 16 global micro-batches, one AdamW step.
import { createGpt } from "../../../ml/model/mod.ts";
import { createAdamW } from "../../../ml/optim/mod.ts";
import { clipScaleFor } from "../../../ml/train/step.ts";
import { setBlasThreads } from "../../../native/mod.ts";
import {
  CLIP,
  cpuSeconds,
  GLOBAL_MICROBATCHES,
  mainThreadMeter,
  type MainThreadFigures,
  LR,
  microbatch,
  type ProcessReport,
  schedMeter,
  SEED,
  shapeNamed,
} from "./shapes.ts";

/** Field-wise sum of two sets of figures. */
const add = <T extends Record<string, number>>(a: T, b: T): T => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v + b[k]!])) as T;

setBlasThreads(1);
const { config, steps } = shapeNamed(process.argv[2] ?? "");
const baselineRssBytes = process.memoryUsage().rss;
const model = await createGpt(config, { seed: SEED });
const opt = createAdamW(model);
const builtRssBytes = process.memoryUsage().rss;
let firstLoss = 0,
  wall = 0,
  cpu = 0;
let js: MainThreadFigures = { mainThreadCpuSeconds: 0, mainThreadUserSeconds: 0, mainThreadSystemSeconds: 0, gcSeconds: 0 };
let scheduling = { userSeconds: 0, systemSeconds: 0, runQueueSeconds: 0, voluntarySwitches: 0, involuntarySwitches: 0 };
for (let s = 0; s <= steps; s++) {
  const t = performance.now(),
    c = cpuSeconds(),
    meter = mainThreadMeter(),
    sched = schedMeter();
  await model.zeroGrad();
  let sum = 0;
  for (let i = 0; i < GLOBAL_MICROBATCHES; i++) {
    const { inputs, targets } = microbatch(config, s, i);
    sum += (await model.forwardBackward(inputs, targets, 1, 1 / GLOBAL_MICROBATCHES)).loss;
  }
  await opt.step(LR, clipScaleFor(await opt.gradNorm(), CLIP));
  const stepWall = (performance.now() - t) / 1000,
    stepCpu = cpuSeconds() - c,
    m = meter(),
    d = sched();
  if (s === 0)
    firstLoss = sum / GLOBAL_MICROBATCHES; // warm-up: allocations, page faults, JIT
  else {
    wall += stepWall;
    cpu += stepCpu;
    js = add(js, m);
    scheduling = add(scheduling, d);
  }
}
const report: ProcessReport = {
  done: true,
  rank: -1,
  firstLoss,
  wallSeconds: wall,
  cpuSeconds: cpu,
  maxRssBytes: process.resourceUsage().maxRSS * 1024,
  baselineRssBytes,
  builtRssBytes,
  params: model.parameterCount(),
  ...js,
  ...scheduling,
};
process.stdout.write(JSON.stringify(report) + "\n");
