// Recovery without disk under ZeRO-1 (dp 2, real worker processes, SIGKILL): a lost worker's optimizer shard comes
// back from the memory of its ring neighbour, which keeps a copy of it updated every step, and its parameters from
// the same live peer. No checkpoint exists while the job recovers (the checkpoint folder is absent: nothing could
// have been read from disk), and the final model, optimizer state and every committed loss equal the failure-free
// ZeRO-1 run's bit for bit. At dp 4 a replacement's two shards come from its two neighbours, and a kill before an
// apply breaks the others' all-gather of parameters after their (local) update: the recovery patches and gathers again. Kills: in the gradient reduction (the step runs again) and just before a worker's apply,
// while its peer updates (at dp 2 the peer updates both halves itself, with no gather; the step is committed).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, layoutOf, rankAt, runJob, writeTinyConfig, type TinyJob } from "../recovery/fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-zero-recovery-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function killAndCompare(
  job: TinyJob,
  faults: { at: { dp: number; pp: number; tp: number }; step: number; phase: "allreduce" | "apply" }[],
) {
  const configFile = writeTinyConfig(root, job);
  const zeroFile = configFile.replace(/\.yaml$/, "-zero.yaml");
  const { readFileSync, writeFileSync } = await import("node:fs");
  writeFileSync(zeroFile, readFileSync(configFile, "utf8").replace(/parallel: \{(.*)\}/, "parallel: {$1, zero: 1}"));
  const layout = layoutOf(job);
  const reference = await runJob(zeroFile, path.join(root, `${job.name}-reference`));
  expect(reference.recoveries).toEqual([]);
  const runDir = path.join(root, `${job.name}-faulty`);
  const checkpointsSeen: boolean[] = [];
  const ranks = faults.map((f) => rankAt(layout, f.at));
  const run = await runJob(zeroFile, runDir, {
    faults: faults.map((f, i) => ({ rank: ranks[i]!, step: f.step, phase: f.phase })),
    onRecovery: () => checkpointsSeen.push(existsSync(path.join(runDir, "checkpoints"))),
  });
  expect(run.recoveries.map((r) => [r.actorId, r.step, r.source])).toEqual(
    faults.map((f, i) => [`${run.jobId}-w${ranks[i]}`, f.step, "peer"]),
  );
  for (const r of run.recoveries) expect(r.cause).toMatch(/SIGKILL/);
  expect(checkpointsSeen).toEqual(faults.map(() => false));
  expect(fingerprint(run)).toEqual(fingerprint(reference));
  return run;
}

describe("ZeRO-1 peer restore after SIGKILL, without disk", () => {
  it("dp 2: killed in the reduce-scatter and before an apply, recovered bit-identically", async () => {
    const run = await killAndCompare({ name: "z2", dp: 2, pp: 1, tp: 1, steps: 5 }, [
      { at: { dp: 1, pp: 0, tp: 0 }, step: 2, phase: "allreduce" },
      { at: { dp: 0, pp: 0, tp: 0 }, step: 4, phase: "apply" },
    ]);
    expect(run.recoveries.map((r) => r.rerun)).toEqual([true, false]);
  }, 240_000);

  it("dp 4: killed in the reduce-scatter, and before an apply (its peers' gather breaks), recovered bit-identically from two neighbours each", async () => {
    const run = await killAndCompare({ name: "z4", dp: 4, pp: 1, tp: 1, steps: 5 }, [
      { at: { dp: 1, pp: 0, tp: 0 }, step: 2, phase: "allreduce" },
      { at: { dp: 3, pp: 0, tp: 0 }, step: 4, phase: "apply" },
    ]);
    expect(run.recoveries.map((r) => r.rerun)).toEqual([true, false]);
  }, 300_000);

  it("dp 4 × pp 2: a stage killed before its apply is recovered bit-identically (stage shards from two neighbours)", async () => {
    await killAndCompare({ name: "z42", dp: 4, pp: 2, tp: 1, steps: 4 }, [{ at: { dp: 0, pp: 1, tp: 0 }, step: 3, phase: "apply" }]);
  }, 360_000);

  it("dp 2 × pp 2: a stage killed before its apply is recovered bit-identically", async () => {
    await killAndCompare({ name: "z22", dp: 2, pp: 2, tp: 1, steps: 4 }, [{ at: { dp: 1, pp: 1, tp: 0 }, step: 3, phase: "apply" }]);
  }, 240_000);
});
