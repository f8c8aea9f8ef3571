// dp 2 with a checkpoint after every step: the checkpoint writer (dp rank 0) is killed while the previous
// checkpoint may still be written in the background. The job recovers, drops a checkpoint lost with its writer,
// keeps checkpointing, and ends bit-identical to the failure-free run with its final checkpoint on disk.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, runJob, writeTinyConfig } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-ckw-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("a worker lost around a checkpoint (dp 2, checkpoint every step)", () => {
  it("recovers, checkpoints on, and ends with the failure-free final checkpoint", async () => {
    const configFile = writeTinyConfig(root, { name: "ckw", dp: 2, pp: 1, tp: 1, steps: 4, checkpointEvery: 1 });
    const reference = await runJob(configFile, path.join(root, "reference"));
    const run = await runJob(configFile, path.join(root, "faulty"), { faults: [{ rank: 0, step: 3, phase: "forward" }] });
    expect(run.recoveries.map((r) => [r.actorId, r.source, r.from])).toEqual([["ckw-w0", "peer", "ckw-w1"]]);
    expect(run.checkpointDir).toMatch(/step-0+4$/);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 90_000);
});
