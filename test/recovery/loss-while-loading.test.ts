// A worker lost while the job is still loading (before step 1): killed before it joined the communicator, or after
// it joined and before its model was built. Nothing has trained yet, so every worker loads again in a new epoch
// (the survivors may be waiting for the lost one in the old communicator, and with one replica no peer could
// give it state); the job then trains as if nothing happened. A worker that exits with an error of its own while
// loading still fails the job at once (test/train/resume-corrupt-distributed.test.ts).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, runJob, writeTinyConfig } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-loading-loss-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("a worker lost while the job loads", () => {
  it("killed before joining (dp 1, pp 2: no peer to take state from): the job reloads and equals the failure-free run", async () => {
    const configFile = writeTinyConfig(root, { name: "load12", dp: 1, pp: 2, tp: 1, steps: 3 });
    const reference = await runJob(configFile, path.join(root, "ref12"));
    const run = await runJob(configFile, path.join(root, "faulty12"), { faults: [{ rank: 1, step: 0, phase: "join" }] });
    expect(run.output).toMatch(/load12-w1 lost while the job loaded \(killed by SIGKILL.*\): every worker loads again \(epoch 2\)/);
    expect(run.recoveries).toEqual([]);
    expect(run.steps.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 150_000);

  it("killed after joining (dp 2, pp 2): the job reloads, the result equals the failure-free run", async () => {
    const configFile = writeTinyConfig(root, { name: "load22", dp: 2, pp: 2, tp: 1, steps: 3 });
    const reference = await runJob(configFile, path.join(root, "ref22"));
    const run = await runJob(configFile, path.join(root, "faulty22"), { faults: [{ rank: 3, step: 0, phase: "load" }] });
    expect(run.output).toMatch(/load22-w3 lost while the job loaded \(killed by SIGKILL.*\): every worker loads again \(epoch 2\)/);
    expect(run.recoveries).toEqual([]);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
    const log = readFileSync(path.join(root, "faulty22", "train.log"), "utf8");
    expect(log).toMatch(/every worker loads again/);
  }, 150_000);
});
