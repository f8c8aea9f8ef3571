// dp 2 (two data-parallel worker processes). A worker that hangs (SIGSTOP) stops sending heartbeats: it is
// suspected, killed and replaced, and training ends bit-identical to the failure-free run. A worker that crashes
// at the same step in every incarnation exceeds the restart intensity: the job fails with that cause instead of
// looping.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, runJob, writeTinyConfig } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-hang-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const configFile = writeTinyConfig(root, { name: "recdp2", dp: 2, pp: 1, tp: 1, steps: 4 });

describe("hangs and crash loops (dp 2)", () => {
  it("a SIGSTOPped worker is detected by silence, killed, replaced from its peer; the result is unchanged", async () => {
    const reference = await runJob(configFile, path.join(root, "reference"));
    const run = await runJob(configFile, path.join(root, "hang"), { faults: [{ rank: 1, step: 2, phase: "allreduce", signal: "SIGSTOP", repeat: "once" }] });
    expect(run.recoveries).toHaveLength(1);
    expect(run.recoveries[0]).toMatchObject({ actorId: `${run.jobId}-w1`, step: 2, rerun: true, source: "peer", from: `${run.jobId}-w0` });
    expect(run.recoveries[0]!.cause).toMatch(/no heartbeat .*hung/);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 90_000);

  it("a worker crashing at the same step every time escalates: the job fails with the cause", async () => {
    const started = Date.now();
    await expect(
      runJob(configFile, path.join(root, "loop"), { faults: [{ rank: 0, step: 3, phase: "forward", signal: "SIGKILL", repeat: "every" }], intensity: { maxRestarts: 2, periodMs: 60_000 } }),
    ).rejects.toThrow(/restart intensity exceeded \(more than 2 restarts in 60000 ms\); last failure: recdp2-w0 killed by SIGKILL/);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);
});
