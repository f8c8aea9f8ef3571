// Sharded checkpoints of a pp 2 · tp 2 job (4 real worker processes): resuming with the same layout continues
// bit for bit; resuming on another layout (pp 1 · tp 2, single rank) continues with the same losses within 1e-5.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../../ml/checkpoint/store.ts";
import { runDistributed, type DistributedRunResult } from "../../actors/coordinator/run-distributed.ts";
import { writeModelParallelConfig } from "./fixtures/model-parallel-config.ts";
import { relative } from "./fixtures/single-rank.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-mp-resume-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 5;
const SAVED_AT = 2;
const backendsModule = path.resolve("test/distributed/fixtures/markov-gpt-backends.ts");

function configFor(pp: number, tp: number, checkpointEvery = SAVED_AT): string {
  return writeModelParallelConfig(root, { name: `resume-pp${pp}tp${tp}`, pp, tp, steps: STEPS, checkpointEvery, keep: 3 });
}

function run(configFile: string, runDir: string, resume = false): Promise<DistributedRunResult> {
  const out = new PassThrough();
  out.resume();
  return runDistributed({ configFile, runDir, resume, backendsModule, out: out as unknown as NodeJS.WriteStream, tty: false });
}

/** A fresh run dir whose only checkpoint is `stepDir` (as if the run had stopped there). */
function runDirWith(stepDir: string, name: string): string {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, "checkpoints"), { recursive: true });
  cpSync(stepDir, path.join(dir, "checkpoints", path.basename(stepDir)), { recursive: true });
  writeFileSync(path.join(dir, "checkpoints", "latest"), path.basename(stepDir) + "\n");
  return dir;
}

describe("sharded checkpoints of a pp 2 · tp 2 job", () => {
  let unbroken: DistributedRunResult;
  let saved: string;
  beforeAll(async () => {
    unbroken = await run(configFor(2, 2), path.join(root, "unbroken"));
    saved = path.join(root, "unbroken", "checkpoints", `step-${String(SAVED_AT).padStart(8, "0")}`);
  }, 90_000);

  it("writes the periodic and final checkpoints with one shard per (stage, tp rank) and the manifest", () => {
    expect(unbroken.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5]);
    for (const step of [SAVED_AT, STEPS]) {
      const dir = path.join(root, "unbroken", "checkpoints", `step-${String(step).padStart(8, "0")}`);
      const m = readManifest(dir);
      expect(m.step).toBe(step);
      expect(m.layout).toMatchObject({ dp: 1, pp: 2, tp: 2, layersPerStage: [1, 1] });
      expect(m.optimizer.stepCount).toBe(step);
      expect(m.samplesSeen).toBe(step * 8);
      expect(
        readdirSync(dir)
          .filter((f) => f.startsWith("model-"))
          .sort(),
      ).toEqual(["model-p0-t0.safetensors", "model-p0-t1.safetensors", "model-p1-t0.safetensors", "model-p1-t1.safetensors"]);
    }
    expect(unbroken.checkpointDir).toMatch(/step-00000005$/);
  });

  it("resumes with the same layout bit for bit", async () => {
    const resumed = await run(configFor(2, 2), runDirWith(saved, "same"), true);
    expect(resumed.steps.map((s) => s.step)).toEqual([3, 4, 5]);
    expect(resumed.steps.map((s) => [s.loss, s.gradNorm])).toEqual(unbroken.steps.slice(SAVED_AT).map((s) => [s.loss, s.gradNorm]));
  }, 60_000);

  it.each([
    [1, 2],
    [1, 1],
  ])(
    "resumes on pp %i · tp %i with the unbroken run's losses within 1e-5",
    async (pp, tp) => {
      // every step is saved, so the single-rank run leaves a single-rank checkpoint of step 3 for the next test
      const resumed = await run(configFor(pp, tp, 1), runDirWith(saved, `pp${pp}tp${tp}`), true);
      expect(resumed.steps.map((s) => s.step)).toEqual([3, 4, 5]);
      for (const [i, s] of resumed.steps.entries()) {
        const ref = unbroken.steps[SAVED_AT + i]!;
        expect(relative(s.loss, ref.loss)).toBeLessThan(1e-5);
        expect(relative(s.gradNorm, ref.gradNorm)).toBeLessThan(1e-5);
      }
      expect(existsSync(path.join(root, `pp${pp}tp${tp}`, "checkpoints", `step-${String(STEPS).padStart(8, "0")}`))).toBe(true);
    },
    60_000,
  );

  it("resumes pp 2 · tp 2 from a single-rank checkpoint", async () => {
    const single = path.join(root, "pp1tp1", "checkpoints", "step-00000003");
    expect(readManifest(single).layout).toMatchObject({ dp: 1, pp: 1, tp: 1 });
    const resumed = await run(configFor(2, 2), runDirWith(single, "from-single"), true);
    expect(resumed.steps.map((s) => s.step)).toEqual([4, 5]);
    for (const [i, s] of resumed.steps.entries()) {
      expect(relative(s.loss, unbroken.steps[3 + i]!.loss)).toBeLessThan(1e-5);
      expect(relative(s.gradNorm, unbroken.steps[3 + i]!.gradNorm)).toBeLessThan(1e-5);
    }
  }, 60_000);
});
