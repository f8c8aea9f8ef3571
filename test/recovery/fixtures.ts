// Shared by the recovery tests: a tiny 3D-parallel config, a run with injected faults, and the fingerprint of a
// run's outcome (final checkpoint's files by sha256, optimizer step count, every committed loss and grad norm).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { runDistributed, type DistributedRunResult } from "../../actors/coordinator/run-distributed.ts";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import type { RecoveryRecord } from "../../actors/coordinator/types.ts";
import { readManifest } from "../../ml/checkpoint/store.ts";
import { rankLayout, type RankLayout } from "../../ml/parallel/ranks.ts";
import type { FaultSpec } from "../../actors/worker/faults.ts";
import { tinyJobYaml } from "../distributed/fixtures/tiny-job-yaml.ts";

export interface TinyJob {
  name: string;
  dp: number;
  pp: number;
  tp: number;
  steps: number;
  layers?: number;
  checkpointEvery?: number;
  /** Model width, sequence length and samples per replica per step (default 16, 8, 4: a step is mostly overhead). */
  size?: { dModel: number; heads: number; seqLen: number; samplesPerReplica: number };
  /** Restart intensity (the config's `recovery` section); default 10 restarts in 60 s, so tests with several faults pass. */
  recovery?: { maxRestarts: number; periodSeconds: number };
}

/** Writes `<dir>/<name>.yaml` (layers = pp, so each stage holds one) and returns its path. */
export function writeTinyConfig(dir: string, j: TinyJob): string {
  const file = path.join(dir, `${j.name}.yaml`);
  const size = j.size ?? { dModel: 16, heads: 2, seqLen: 8, samplesPerReplica: 4 };
  writeFileSync(
    file,
    tinyJobYaml({
      name: j.name,
      seed: 5,
      layers: j.layers ?? j.pp,
      dModel: size.dModel,
      heads: size.heads,
      seqLen: size.seqLen,
      vocabSize: 260,
      batchSize: size.samplesPerReplica * j.dp,
      warmupTokens: 32,
      steps: j.steps,
      evalInterval: 100,
      evalBatches: 1,
      checkpointInterval: j.checkpointEvery ?? 100,
      keep: 3,
      parallel: `dp: ${j.dp}, pp: ${j.pp}, tp: ${j.tp}`,
      recovery: `maxRestarts: ${j.recovery?.maxRestarts ?? 10}, periodSeconds: ${j.recovery?.periodSeconds ?? 60}`,
    }),
  );
  return file;
}

export function layoutOf(j: TinyJob): RankLayout {
  return rankLayout({ dp: j.dp, pp: j.pp, tp: j.tp });
}

/** World rank of the worker at these coordinates. */
export function rankAt(layout: RankLayout, at: { dp: number; pp: number; tp: number }): number {
  const r = layout.coords.findIndex((c) => c.dp === at.dp && c.pp === at.pp && c.tp === at.tp);
  if (r < 0) throw new Error(`no rank at ${JSON.stringify(at)}`);
  return r;
}

/**
 * Short heartbeats so a hung worker is found in about two seconds; a generous start, since worker processes booting
 * on a loaded 2-core machine can take tens of seconds to send their first heartbeat.
 */
export const FAST_TIMEOUTS = { heartbeatMs: 200, suspectMs: 1000, killMs: 2000, stepMs: 60_000, startMs: 90_000 };

export interface RunJobOptions {
  faults?: FaultSpec[];
  /** Overrides the config's `recovery` section. */
  intensity?: { maxRestarts: number; periodMs: number };
  resume?: boolean;
  steps?: number;
  onStarted?: (c: Coordinator) => void;
  onRecovery?: (r: RecoveryRecord) => void;
  /** Stops the job as Ctrl-C does (step in flight, checkpoint) when it aborts. */
  stop?: AbortSignal;
  /** A running cluster (shared-cluster.ts); absent = the embedded one of the run. */
  cluster?: { url: string; clusterId: string };
}

function collector(): { out: NodeJS.WriteStream; text: () => string } {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  return { out: out as unknown as NodeJS.WriteStream, text: () => text };
}

function run(configFile: string, runDir: string, o: RunJobOptions, out: NodeJS.WriteStream): Promise<DistributedRunResult> {
  return runDistributed({
    natsUrl: o.cluster?.url,
    clusterId: o.cluster?.clusterId,
    configFile,
    runDir,
    backendsModule: path.resolve("test/distributed/fixtures/markov-gpt-backends.ts"),
    out,
    tty: false,
    noSamples: true,
    faults: o.faults,
    timeouts: FAST_TIMEOUTS,
    intensity: o.intensity,
    resume: o.resume,
    steps: o.steps,
    onStarted: o.onStarted,
    onRecovery: o.onRecovery,
    stop: o.stop,
  });
}

export async function runJob(
  configFile: string,
  runDir: string,
  o: RunJobOptions = {},
): Promise<DistributedRunResult & { output: string }> {
  const c = collector();
  const result = await run(configFile, runDir, o, c.out);
  return { ...result, output: c.text() };
}

/** A run expected to fail: its error and everything it wrote (throws if it succeeded). */
export async function runJobFailing(configFile: string, runDir: string, o: RunJobOptions = {}): Promise<{ error: Error; output: string }> {
  const c = collector();
  try {
    await run(configFile, runDir, o, c.out);
  } catch (error) {
    return { error: error as Error, output: c.text() };
  }
  throw new Error(`the run in ${runDir} was expected to fail and did not`);
}

/** What must be bit-identical between a run with failures and one without. */
export function fingerprint(run: DistributedRunResult): { files: string[]; stepCount: number; losses: number[]; gradNorms: number[] } {
  const m = readManifest(run.checkpointDir);
  return {
    files: m.files.map((f) => `${f.file} ${f.sha256}`).sort(),
    stepCount: m.optimizer.stepCount,
    losses: run.steps.map((s) => s.loss),
    gradNorms: run.steps.map((s) => s.gradNorm),
  };
}
