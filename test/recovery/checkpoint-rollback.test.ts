// dp 1 · pp 2: no other replica holds the lost stage's shard, so every worker rolls back to the last checkpoint
// and the steps after it run again. The result equals the failure-free run bit for bit (checkpoints hold the
// whole state and the data is a pure function of the sample index), metrics.csv lists every step once, and
// without a checkpoint the job fails with the cause.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, runJob, writeTinyConfig } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("checkpoint rollback when no peer holds the shard (dp 1, pp 2)", () => {
  it("rolls every worker back to the last checkpoint and reruns the lost steps; the result is unchanged", async () => {
    const configFile = writeTinyConfig(root, { name: "ckdp1", dp: 1, pp: 2, tp: 1, steps: 6, checkpointEvery: 2 });
    const reference = await runJob(configFile, path.join(root, "reference"));
    const run = await runJob(configFile, path.join(root, "faulty"), { faults: [{ rank: 1, step: 6, phase: "backward" }] });
    expect(run.recoveries).toHaveLength(1);
    expect(run.recoveries[0]).toMatchObject({ actorId: "ckdp1-w1", step: 6, source: "checkpoint", rerun: true });
    // step 4's checkpoint is written in the background: if the lost worker had not written its shard yet, the job
    // falls back to step 2's (the next save waited for it); both give the same result
    expect(run.recoveries[0]!.from).toMatch(/step-0+[24]$/);
    expect(run.output).toMatch(/rolled back to the checkpoint of step [24]/);
    expect(run.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
    // every step once, with the failure-free figures (the timing columns tokens_per_s and elapsed_s differ)
    const rows = (dir: string) =>
      readFileSync(path.join(dir, "metrics.csv"), "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(",").slice(0, 8).join(","));
    expect(rows(run.runDir)).toEqual(rows(reference.runDir));
    expect(rows(run.runDir).map((r) => r.split(",")[0])).toEqual(["step", "0", "1", "2", "3", "4", "5", "6"]);
  }, 90_000);

  it("fails the job with the cause when there is no checkpoint to roll back to", async () => {
    const configFile = writeTinyConfig(root, { name: "nockpt", dp: 1, pp: 2, tp: 1, steps: 3 });
    await expect(runJob(configFile, path.join(root, "none"), { faults: [{ rank: 0, step: 2, phase: "forward" }] })).rejects.toThrow(
      /worker nockpt-w0 lost, no live data-parallel peer holds its shard \(stage 0, tp rank 0\) and there is no checkpoint to roll back to; lost: nockpt-w0 \(killed by SIGKILL\)/,
    );
  }, 90_000);
});
