// dp = 2 with real worker processes on the embedded cluster (private nats-server + host agent):
// same losses as the single-rank step with the same global batch, bit-identical across two runs.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";
import { loadCheckpoint } from "../../ml/checkpoint/store.ts";
import { relative, singleRankRun } from "./fixtures/single-rank.ts";
import { writeTinyDpConfig, quietStream } from "./fixtures/tiny-dp-job.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-dp-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const backendsModule = path.resolve("test/distributed/fixtures/markov-gpt-backends.ts");
const STEPS = 4;

const configFile = path.join(root, "dp2.yaml");
writeTinyDpConfig(configFile, { name: "dp2-test", seed: 11, steps: STEPS, evalInterval: 2, evalBatches: 2, checkpointInterval: 10 });

describe("data-parallel training (dp 2, real worker processes)", () => {
  it("matches the single-rank losses within 1e-5, two runs agree bit for bit, and a resumed run ends bit-identical", async () => {
    const reference = await singleRankRun(configFile, STEPS);
    const runs = [];
    for (const name of ["a", "b"]) {
      runs.push(await runDistributed({ configFile, runDir: path.join(root, name), backendsModule, out: quietStream(), tty: false }));
    }
    const [a, b] = runs as [Awaited<ReturnType<typeof runDistributed>>, Awaited<ReturnType<typeof runDistributed>>];
    expect(a.steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    for (let i = 0; i < STEPS; i++) {
      expect(relative(a.steps[i]!.loss, reference.losses[i]!)).toBeLessThan(1e-5);
      expect(relative(a.steps[i]!.gradNorm, reference.gradNorms[i]!)).toBeLessThan(1e-5);
    }
    expect(b.steps.map((s) => s.loss)).toEqual(a.steps.map((s) => s.loss));
    expect(b.steps.map((s) => s.gradNorm)).toEqual(a.steps.map((s) => s.gradNorm));
    // validation at step 0, every eval.interval (2) and the end, from dp rank 0
    expect(a.validations.map((v) => v.step)).toEqual([0, 2, 4]);
    expect(relative(a.validations.at(-1)!.loss, reference.finalVal)).toBeLessThan(1e-5);
    // the clip (0.5) is active in this config, so the global norm reached every worker's update
    expect(a.steps.some((s) => s.gradNorm > 0.5)).toBe(true);

    // dp rank 0 wrote the final checkpoint: its weights equal the other run's bit for bit and the reference's closely
    const ca = loadCheckpoint(a.checkpointDir);
    const cb = loadCheckpoint(b.checkpointDir);
    expect(ca.manifest.step).toBe(STEPS);
    expect(ca.manifest.samplesSeen).toBe(STEPS * 8);
    let maxDiff = 0;
    const names = [...ca.params.keys()];
    expect(names.length).toBe(reference.params.length);
    for (const [i, name] of names.entries()) {
      const x = ca.params.get(name)!.data as Float32Array;
      const y = cb.params.get(name)!.data as Float32Array;
      expect(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength))).toBe(true);
      const r = reference.params[i]!;
      for (let j = 0; j < r.length; j++) maxDiff = Math.max(maxDiff, Math.abs(x[j]! - r[j]!));
    }
    expect(maxDiff).toBeLessThan(1e-5);

    // stopped after 2 steps and resumed: every worker loads dp rank 0's checkpoint, the end is bit-identical
    const runDir = path.join(root, "c");
    const first = await runDistributed({ configFile, runDir, steps: 2, backendsModule, out: quietStream(), tty: false });
    expect(first.progress.step).toBe(2);
    await expect(runDistributed({ configFile, runDir, backendsModule, out: quietStream(), tty: false })).rejects.toThrow(/pass --resume/);
    const resumed = await runDistributed({ configFile, runDir, resume: true, backendsModule, out: quietStream(), tty: false });
    expect(resumed.steps.map((s) => s.step)).toEqual([3, 4]);
    expect(resumed.steps.map((s) => s.loss)).toEqual(a.steps.slice(2).map((s) => s.loss));
    const cc = loadCheckpoint(resumed.checkpointDir);
    expect(cc.manifest.optimizer.stepCount).toBe(STEPS);
    for (const name of names) {
      const x = ca.params.get(name)!.data;
      const z = cc.params.get(name)!.data;
      expect(Buffer.from(z.buffer, z.byteOffset, z.byteLength).equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength))).toBe(true);
    }
    expect(
      readFileSync(path.join(runDir, "metrics.csv"), "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(",")[0]),
    ).toEqual(["step", "0", "1", "2", "3", "4"]);
    expect(readFileSync(path.join(a.runDir, "metrics.csv"), "utf8").trim().split("\n")).toHaveLength(STEPS + 2); // header, step 0 validation, 4 steps
  }, 150_000);
});
