// Stragglers with pp and tp > 1, in real 1×2×2 and 2×2×1 jobs (4 worker processes running the stage executor, real
// nats-server): the test backends make rank 3 (stage 1; TP rank 1, or replica 1) sleep after each micro-batch's
// forward. Pipeline, TP and DP waits make every worker's wall time the same, so only a busy time that leaves out
// time blocked in collectives, compared within a stage, can single it out: rank 3 is flagged (event, `troupe ps`);
// its stage peer (which waits for it in every TP or DP all-reduce) and stage 0 (which waits for its gradients) are
// not. The job runs until rank 3 is flagged and at least MIN_STEPS steps are committed (the events say when): on a
// loaded machine early steps are noisy and the flag comes later than step 5.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";
import type { PsRow } from "../../cli/commands/ps.ts";
import type { StoredEvent } from "../../runtime/event-log.ts";
import { hooksFile, type RobustHooks } from "./fixtures/fault-backends.ts";
import { startJobCluster, type JobCluster } from "./fixtures/job-cluster.ts";
import { quietStream } from "../distributed/fixtures/tiny-dp-job.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-robust-stage-straggler-"));
const backendsModule = path.resolve("test/robust/fixtures/fault-backends.ts");
const MIN_STEPS = 9;
const MAX_STEPS = 60;

function writeConfig(name: string, dp: number, tp: number): string {
  const file = path.join(root, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 11
model: {layers: 2, dModel: 16, heads: 2, seqLen: 16}
data: {corpus: brown, vocabSize: 300, heldOutPerGenre: 1}
optimizer: {lr: 0.01, clip: 0.5}
batch: {size: 8, microBatch: 2}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: ${MAX_STEPS}}
eval: {interval: 100, batches: 1}
checkpoint: {interval: 100, keep: 1}
parallel: {dp: ${dp}, pp: 2, tp: ${tp}}
`,
  );
  return file;
}

describe.each([
  { layout: "1x2x2", dp: 1, tp: 2 },
  { layout: "2x2x1", dp: 2, tp: 1 },
])("stragglers in a real $layout (dp x pp x tp) job", ({ layout, dp, tp }) => {
  let cluster: JobCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it("flags the slow stage-1 worker only, against its own stage", async () => {
    const dir = path.join(root, layout);
    cluster = await startJobCluster(dir, 4);
    const name = `slow-${layout}`;
    const configFile = writeConfig(name, dp, tp);
    const runDir = path.join(dir, "run");
    // 8 / 2 / dp micro-batches per replica a step: rank 3 computes 240 ms more per step than its stage peer
    const microBatches = 8 / 2 / dp;
    const hooks: RobustHooks = { slow: { rank: 3, msPerMicroBatch: 240 / microBatches } };
    mkdirSync(runDir, { recursive: true });
    writeFileSync(hooksFile(runDir), JSON.stringify(hooks));
    // stop (as Ctrl-C does) once rank 3 is flagged and MIN_STEPS steps are committed
    const stop = new AbortController();
    const watching = new AbortController();
    let flagged = false;
    const watch = cluster.events.read({ follow: true, signal: watching.signal }, (e: StoredEvent) => {
      if (e.type === "worker.straggler" && e.subject === `${name}-w3`) flagged = true;
      if (e.type === "step.committed" && e.subject === name && (e.data.step as number) >= MIN_STEPS && flagged) stop.abort();
    });
    const run = await runDistributed({
      configFile,
      runDir,
      natsUrl: cluster.url,
      backendsModule,
      out: quietStream(),
      tty: false,
      stop: stop.signal,
    }).finally(() => watching.abort());
    await watch;
    expect(run.steps.length).toBeGreaterThanOrEqual(MIN_STEPS);
    expect(run.steps.map((s) => s.step)).toEqual(Array.from({ length: run.steps.length }, (_, i) => i + 1));
    expect(run.steps.every((s) => Number.isFinite(s.loss))).toBe(true);

    const events = await cluster.events.readAll();
    const flags = events.filter((e) => e.type === "worker.straggler");
    expect(flags.map((e) => e.subject)).toEqual([`${name}-w3`]);
    const f = flags[0]!.data as { step: number; ratio: number; busyMs: number; medianMs: number; stepMs: number; minStepShare: number };
    expect(f.step).toBeGreaterThanOrEqual(5);
    expect(f.ratio).toBeGreaterThan(1.5);
    // its own sleeps alone are 240 ms a step; its peer's busy time (the median of one) leaves out the waits for it
    expect(f.busyMs).toBeGreaterThanOrEqual(240);
    expect(f.busyMs - f.medianMs).toBeGreaterThanOrEqual(f.minStepShare * f.stepMs);

    const ps = await promisify(execFile)("node", ["bin/troupe.js", "ps", "--job", name, "--nats", cluster.url, "--json"], {
      encoding: "utf8",
    });
    const rows = JSON.parse(ps.stdout) as PsRow[];
    expect(rows.find((r) => r.id === `${name}-w3`)?.straggler?.ratio).toBeGreaterThan(1.5);
    for (const w of [0, 1, 2]) expect(rows.find((r) => r.id === `${name}-w${w}`)?.straggler).toBeNull();
  }, 240_000);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));
