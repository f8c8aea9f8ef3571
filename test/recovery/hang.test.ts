// dp 2 (two data-parallel worker processes). A worker that hangs (SIGSTOP) stops sending heartbeats: it is
// suspected, killed and replaced, and training ends bit-identical to the failure-free run. (A worker that crashes
// at the same step in every incarnation: escalation.test.ts.)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, runJob, writeTinyConfig } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-hang-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const configFile = writeTinyConfig(root, { name: "recdp2", dp: 2, pp: 1, tp: 1, steps: 4 });

describe("hangs (dp 2)", () => {
  it("a SIGSTOPped worker is detected by silence, killed, replaced from its peer; the result is unchanged", async () => {
    const reference = await runJob(configFile, path.join(root, "reference"));
    const run = await runJob(configFile, path.join(root, "hang"), {
      faults: [{ rank: 1, step: 2, phase: "allreduce", signal: "SIGSTOP", repeat: "once" }],
    });
    expect(run.recoveries).toHaveLength(1);
    expect(run.recoveries[0]).toMatchObject({ actorId: `${run.jobId}-w1`, step: 2, rerun: true, source: "peer", from: `${run.jobId}-w0` });
    expect(run.recoveries[0]!.cause).toMatch(/no heartbeat .*hung/);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 90_000);
});
