// Checkpoints under ZeRO-1 (real worker processes). At dp 2, dp rank 0 writes whole moments per parameter,
// assembled from its own shard and its neighbour's copy, so the files have the unsharded format; at dp 4 every
// worker writes the parameters and moments of its shard (ZeRO-1 shard files). Either way a ZeRO-1 checkpoint equals the
// unsharded run's checkpoint of the same step within 1e-5 absolute (parameters and moments), resumes into another layout
// with zero 0, and an unsharded checkpoint resumes into another layout with zero 1; both continue with the
// unbroken run's losses (1e-5 relative) and end at its parameters and moments within 1e-5 absolute (another layout
// sums in another order, and Adam's normalised update turns that into absolute, not relative, differences).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../../ml/checkpoint/store.ts";
import { relative } from "../distributed/fixtures/single-rank.ts";
import { checkpointDiff, train, writeZeroJob, type Run } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-zero-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 4;
const SAVED_AT = 2;
const stepDir = (runDir: string, step: number) => path.join(runDir, "checkpoints", `step-${String(step).padStart(8, "0")}`);

/** A fresh run dir whose only checkpoint is `dir` (as if the run had stopped there). */
function runDirWith(dir: string, name: string): string {
  const runDir = path.join(root, name);
  mkdirSync(path.join(runDir, "checkpoints"), { recursive: true });
  cpSync(dir, path.join(runDir, "checkpoints", path.basename(dir)), { recursive: true });
  writeFileSync(path.join(runDir, "checkpoints", "latest"), path.basename(dir) + "\n");
  return runDir;
}

function expectContinues(resumed: Run, unbroken: Run): void {
  expect(resumed.steps.map((s) => s.step)).toEqual([3, 4]);
  resumed.steps.forEach((s, i) =>
    expect(relative(s.loss, unbroken.steps[SAVED_AT + i]!.loss), `loss at step ${s.step}`).toBeLessThan(1e-5),
  );
  expect(readManifest(resumed.checkpointDir).optimizer.stepCount).toBe(STEPS);
  expect(checkpointDiff(resumed.checkpointDir, unbroken.checkpointDir)).toBeLessThan(1e-5);
  expect(checkpointDiff(resumed.checkpointDir, unbroken.checkpointDir, "optimizerState")).toBeLessThan(1e-5);
}

describe("ZeRO-1 checkpoints (dp 2)", () => {
  let zero: Run;
  let plain: Run;
  beforeAll(async () => {
    const job = (z: 0 | 1) =>
      writeZeroJob(root, { name: `dp2z${z}`, dp: 2, pp: 1, tp: 1, zero: z, steps: STEPS, checkpointInterval: SAVED_AT });
    zero = await train(job(1), path.join(root, "zero"));
    plain = await train(job(0), path.join(root, "plain"));
  }, 240_000);

  it("hold the unsharded format and values: parameters and whole moments within 1e-5", () => {
    for (const step of [SAVED_AT, STEPS]) {
      const z = stepDir(zero.runDir, step),
        p = stepDir(plain.runDir, step);
      expect(
        readManifest(z)
          .files.map((f) => f.file)
          .sort(),
      ).toEqual(
        readManifest(p)
          .files.map((f) => f.file)
          .sort(),
      );
      expect(checkpointDiff(z, p)).toBeLessThan(1e-5);
      expect(checkpointDiff(z, p, "optimizerState")).toBeLessThan(1e-5);
    }
    // the moments are not trivially equal (zero): the comparison above is of trained state
    expect(checkpointDiff(stepDir(zero.runDir, SAVED_AT), stepDir(zero.runDir, STEPS), "optimizerState")).toBeGreaterThan(1e-6);
  });

  it("zero 1 → zero 0 on another layout (dp 1 · pp 2) continues as the unbroken run", { timeout: 240_000 }, async () => {
    const file = writeZeroJob(root, { name: "dp1pp2z0", dp: 1, pp: 2, tp: 1, zero: 0, steps: STEPS, checkpointInterval: 100 });
    const resumed = await train(file, runDirWith(stepDir(zero.runDir, SAVED_AT), "to-z0"), { resume: true });
    expectContinues(resumed, plain);
  });

  it("zero 0 → zero 1 on another layout (dp 2 · pp 2) continues as the unbroken run", { timeout: 240_000 }, async () => {
    const file = writeZeroJob(root, { name: "dp2pp2z1", dp: 2, pp: 2, tp: 1, zero: 1, steps: STEPS, checkpointInterval: 100 });
    const resumed = await train(file, runDirWith(stepDir(plain.runDir, SAVED_AT), "to-z1"), { resume: true });
    expectContinues(resumed, plain);
  });
});

describe("ZeRO-1 checkpoints (dp 4): every worker writes its shard", () => {
  let zero: Run;
  let plain: Run;
  beforeAll(async () => {
    const job = (z: 0 | 1) =>
      writeZeroJob(root, { name: `dp4z${z}`, dp: 4, pp: 1, tp: 1, zero: z, steps: STEPS, checkpointInterval: SAVED_AT });
    zero = await train(job(1), path.join(root, "zero4"));
    plain = await train(job(0), path.join(root, "plain4"));
  }, 300_000);

  it("one file per dp shard, each with a quarter of the state; values within 1e-5 of the unsharded run's", () => {
    for (const step of [SAVED_AT, STEPS]) {
      const z = stepDir(zero.runDir, step);
      const files = readManifest(z).files;
      expect(files.map((f) => f.file).sort()).toEqual([0, 1, 2, 3].map((d) => `zero-p0-t0-d${d}.safetensors`));
      const total = files.reduce((n, f) => n + f.bytes, 0);
      for (const f of files) expect(f.bytes / total, f.file).toBeLessThan(0.3);
      expect(checkpointDiff(z, stepDir(plain.runDir, step))).toBeLessThan(1e-5);
      expect(checkpointDiff(z, stepDir(plain.runDir, step), "optimizerState")).toBeLessThan(1e-5);
    }
    expect(checkpointDiff(stepDir(zero.runDir, SAVED_AT), stepDir(zero.runDir, STEPS), "optimizerState")).toBeGreaterThan(1e-6);
  });

  it("zero 1 at dp 4 → zero 0 at dp 2 · tp 2 continues as the unbroken run", { timeout: 240_000 }, async () => {
    const file = writeZeroJob(root, { name: "dp2tp2z0", dp: 2, pp: 1, tp: 2, zero: 0, steps: STEPS, checkpointInterval: 100 });
    const resumed = await train(file, runDirWith(stepDir(zero.runDir, SAVED_AT), "from-z4"), { resume: true });
    expectContinues(resumed, plain);
  });

  it("zero 0 at dp 4 → zero 1 at dp 4 continues as the unbroken run", { timeout: 240_000 }, async () => {
    const file = writeZeroJob(root, { name: "dp4z1b", dp: 4, pp: 1, tp: 1, zero: 1, steps: STEPS, checkpointInterval: 100 });
    const resumed = await train(file, runDirWith(stepDir(plain.runDir, SAVED_AT), "to-z4"), { resume: true });
    expectContinues(resumed, plain);
  });
});
