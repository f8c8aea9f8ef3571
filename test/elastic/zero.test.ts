// Elastic + ZeRO-1 with real worker processes: a dp 2 job with sharded AdamW moments loses rank 1, or rank 0
// (SIGKILL), and its replacements hang (SIGSTOP), so it shrinks to dp 1: the survivor's optimizer becomes a 1-rank
// one holding the whole moments (its own half and its backup copy of the lost half). Scaled back to dp 2 (Coordinator.scale, what
// `troupe scale --dp 2` asks), both ranks re-shard to the 2-rank layout, the new one taking its halves from the live
// peer. Every loss stays within 1e-6 relative of the failure-free zero-1 dp 2 run's, over 30+ steps after the shrink.
// At dp 3 no rank holds every chunk: after the shrink to 2 and the grow back to 3, every replica (the new one as
// `fresh`) takes part in one re-shard of the moments and parameters (ZeroAdamW.reshardOn, the `reshard` verb).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import type { Resize } from "../../actors/coordinator/job-machine.ts";
import { runJob } from "../recovery/fixtures.ts";
import { readManifest } from "../../ml/checkpoint/store.ts";
import { checkpointDiff } from "../zero/fixtures.ts";
import { elasticConfig, expectSameLosses, growWhenShrunk, lostForGood } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-elastic-zero-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 40;

describe("elastic ZeRO-1", () => {
  // losing rank 0 also moves the survivor: dp position 1 of 2 → 0 of 1 → 1 of 2
  it.each([1, 0])(
    "rank %i lost: dp 2 → 1 → 2 re-shards the moments live; losses as the failure-free zero-1 run's",
    async (lost) => {
      const live = 1 - lost;
      const name = `ezero${lost}`;
      const file = elasticConfig(root, name, 2, STEPS, 3, 1);
      expect(readFileSync(file, "utf8")).toMatch(/zero: 1/);
      const reference = await runJob(file, path.join(root, `ref${lost}`));
      let grown: Promise<Resize> | undefined;
      // the shrunk job steps a while at dp 1 (the 1-rank optimizer's moments move on) before it grows back
      const onStarted = (c: Coordinator) => (grown = growWhenShrunk(c, 12, () => c.scale(2, "capacity is back")));
      // killed at step 3; its replacements hang until the job shrinks, the worker the grow starts does not
      const faults = [
        { rank: lost, step: 3, phase: "allreduce" as const },
        { rank: lost, step: 0, phase: "join" as const, signal: "SIGSTOP" as const, repeat: "replacement" as const, untilResized: true },
      ];
      const run = await runJob(file, path.join(root, `run${lost}`), { faults, onStarted });
      const resize = await grown!;
      expect([resize.kind, resize.from, resize.to, resize.workers]).toEqual(["grown", 1, 2, [`${name}-w${lost}`]]);
      expect(run.output.match(new RegExp(`job shrunk from dp 2 to dp 1 \\(replicas ${live}\\) at step 3`, "g"))).toHaveLength(1);
      expect(run.output).toMatch(new RegExp(`job grown from dp 1 to dp 2 \\(replicas 0, 1\\) at step ${resize.step}: scaled to dp 2`));
      expect(run.recoveries.map((r) => [r.actorId, r.source, r.from])).toEqual([[`${name}-w${lost}`, "peer", `${name}-w${live}`]]);
      // the grow comes after steps at dp 1 and leaves steps to compare with both ranks re-sharded
      expect(resize.step).toBeGreaterThan(12);
      expect(resize.step).toBeLessThan(STEPS - 10);
      const worst = expectSameLosses(run, reference, 3, 30);
      console.log(
        `zero 1, rank ${lost} lost, dp 2 → 1 → 2 (grown at step ${resize.step}): worst relative loss difference ${worst.toExponential(2)}`,
      );
    },
    300_000,
  );

  it("dp 3, rank 1 lost: 3 → 2 → 3, every replica re-sharding the moments together; losses as the failure-free zero-1 run's", async () => {
    const name = "ezero3";
    const file = elasticConfig(root, name, 3, STEPS, 3, 1);
    const reference = await runJob(file, path.join(root, "ref3"));
    let grown: Promise<Resize> | undefined;
    const onStarted = (c: Coordinator) => (grown = growWhenShrunk(c, 12, () => c.scale(3, "capacity is back")));
    const faults = [
      { rank: 1, step: 3, phase: "allreduce" as const },
      { rank: 1, step: 0, phase: "join" as const, signal: "SIGSTOP" as const, repeat: "replacement" as const, untilResized: true },
    ];
    const run = await runJob(file, path.join(root, "run3"), { faults, onStarted });
    const resize = await grown!;
    expect([resize.kind, resize.from, resize.to, resize.workers]).toEqual(["grown", 2, 3, [`${name}-w1`]]);
    expect(run.output).toMatch(/job shrunk from dp 3 to dp 2 \(replicas 0, 2\) at step 3/);
    expect(run.recoveries.map((r) => [r.actorId, r.source])).toEqual([[`${name}-w1`, "peer"]]);
    expect(resize.step).toBeGreaterThan(12);
    expect(resize.step).toBeLessThan(STEPS - 10);
    const worst = expectSameLosses(run, reference, 3, 30);
    console.log(`zero 1, dp 3 → 2 → 3 (grown at step ${resize.step}): worst relative loss difference ${worst.toExponential(2)}`);
  }, 300_000);

  it("dp 3, rank 2 lost for good: 3 → 2, the final checkpoint written whole by one replica, close to the failure-free run's", async () => {
    const name = "ezero3s";
    const file = elasticConfig(root, name, 3, STEPS, 3, 1);
    const reference = await runJob(file, path.join(root, "ref3s"));
    const run = await runJob(file, path.join(root, "run3s"), { faults: lostForGood(2, 3) });
    expect(run.output).toMatch(/job shrunk from dp 3 to dp 2 \(replicas 0, 1\) at step 3/);
    // at 2 replicas each holds the whole moments: one writes the (stage 0, tp 0) shard whole; the reference, at 3,
    // wrote one chunk per replica
    expect(
      readManifest(run.checkpointDir)
        .files.map((f) => f.file)
        .sort(),
    ).toEqual(["model-p0-t0.safetensors", "optimizer-p0-t0.safetensors"]);
    expect(
      readManifest(reference.checkpointDir)
        .files.map((f) => f.file)
        .sort(),
    ).toEqual([0, 1, 2].map((d) => `zero-p0-t0-d${d}.safetensors`));
    // 37 steps summed in another grouping: Adam's normalised update turns the last-bit differences of the gradients
    // into absolute ones of the parameters and moments (the losses, below, stay within 1e-6 relative)
    const worst = [
      checkpointDiff(run.checkpointDir, reference.checkpointDir),
      checkpointDiff(run.checkpointDir, reference.checkpointDir, "optimizerState"),
    ];
    console.log(
      `dp 3 → 2, final checkpoint against the failure-free run's: parameters ${worst[0]!.toExponential(2)}, moments ${worst[1]!.toExponential(2)}`,
    );
    for (const w of worst) expect(w).toBeLessThan(1e-3);
    expectSameLosses(run, reference, 3, 30);
  }, 300_000);
});
