// pp 2 · tp 2 (4 worker processes running the parallel-model stage executor) under the coordinator:
// the step protocol is the same, and the losses are the single-rank losses.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";
import { writeModelParallelConfig } from "./fixtures/model-parallel-config.ts";
import { relative, singleRankRun } from "./fixtures/single-rank.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-mp-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 3;
const configFile = writeModelParallelConfig(root, { name: "pp2tp2", pp: 2, tp: 2, steps: STEPS, checkpointEvery: 10, keep: 1 });

describe("model-parallel job (pp 2, tp 2, real worker processes)", () => {
  it("gives the single-rank losses and gradient norms within 1e-5", async () => {
    const reference = await singleRankRun(configFile, STEPS);
    const out = new PassThrough();
    out.resume();
    const run = await runDistributed({
      configFile,
      runDir: path.join(root, "run"),
      backendsModule: path.resolve("test/distributed/fixtures/markov-gpt-backends.ts"),
      out: out as unknown as NodeJS.WriteStream,
      tty: false,
    });
    expect(run.steps.map((s) => s.step)).toEqual([1, 2, 3]);
    for (let i = 0; i < STEPS; i++) {
      expect(relative(run.steps[i]!.loss, reference.losses[i]!)).toBeLessThan(1e-5);
      expect(relative(run.steps[i]!.gradNorm, reference.gradNorms[i]!)).toBeLessThan(1e-5);
    }
    expect(run.steps.some((s) => s.gradNorm > 0.5)).toBe(true); // clipping took part
  }, 120_000);
});
