// The tiny job the ZeRO tests train (2 layers, so pp 2 puts one on each stage), run with real worker processes on
// the embedded cluster, and comparisons of runs and checkpoints.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";
import { loadCheckpoint } from "../../ml/checkpoint/store.ts";
import { tinyJobYaml } from "../distributed/fixtures/tiny-job-yaml.ts";
import { quietStream } from "../distributed/fixtures/tiny-dp-job.ts";

const backendsModule = path.resolve("test/distributed/fixtures/markov-gpt-backends.ts");

export interface ZeroJob {
  name: string;
  dp: number;
  pp: number;
  tp: number;
  zero: 0 | 1;
  steps: number;
  checkpointInterval?: number;
  recovery?: string;
}

/** Writes `<dir>/<name>.yaml` and returns its path. */
export function writeZeroJob(dir: string, j: ZeroJob): string {
  const file = path.join(dir, `${j.name}.yaml`);
  const yaml = tinyJobYaml({
    name: j.name,
    seed: 11,
    layers: 2,
    seqLen: 16,
    vocabSize: 300,
    batchSize: 8,
    warmupTokens: 64,
    steps: j.steps,
    evalInterval: 1000,
    evalBatches: 1,
    checkpointInterval: j.checkpointInterval ?? 1000,
    keep: 2,
    parallel: `dp: ${j.dp}, pp: ${j.pp}, tp: ${j.tp}, zero: ${j.zero}`,
    recovery: j.recovery,
  });
  writeFileSync(file, yaml);
  return file;
}

export type Run = Awaited<ReturnType<typeof runDistributed>>;

/** Trains the job in `runDir` (quietly, no samples at the end). */
export function train(configFile: string, runDir: string, extra: { steps?: number; resume?: boolean } = {}): Promise<Run> {
  return runDistributed({ configFile, runDir, backendsModule, out: quietStream(), tty: false, noSamples: true, ...extra });
}

/** Largest |a − b| over the parameters (or moments) of two checkpoints, in the first's names. */
export function checkpointDiff(a: string, b: string, what: "params" | "optimizerState" = "params"): number {
  const x = loadCheckpoint(a)[what];
  const y = loadCheckpoint(b)[what];
  if (x.size !== y.size) throw new Error(`${x.size} tensors vs ${y.size}`);
  let worst = 0;
  for (const [name, t] of x) {
    const u = y.get(name);
    if (!u) throw new Error(`no ${name} in ${b}`);
    const p = t.data as Float32Array,
      q = u.data as Float32Array;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
  }
  return worst;
}
