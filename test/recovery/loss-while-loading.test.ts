// A worker lost while the job is still loading (before step 1): killed before it joined the communicator, or after
// it joined and before its model was built. Nothing has trained yet, so every worker loads again in a new epoch
// (the survivors may be waiting for the lost one in the old communicator, and with one replica no peer could
// give it state); the job then trains as if nothing happened. A worker that exits with an error of its own while
// loading still fails the job at once (test/distributed/step-protocol.test.ts).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { FaultSpec } from "../../actors/worker/faults.ts";
import { fingerprint, runJob, writeTinyConfig, type TinyJob } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-loading-loss-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs `job` without and with `fault`; the faulty run reloads once and ends where the failure-free one does. */
async function expectReloadEqualsReference(job: TinyJob, fault: FaultSpec): Promise<void> {
  const configFile = writeTinyConfig(root, job);
  const reference = await runJob(configFile, path.join(root, `${job.name}-reference`));
  const runDir = path.join(root, `${job.name}-faulty`);
  const run = await runJob(configFile, runDir, { faults: [fault] });
  expect(run.output).toMatch(
    new RegExp(`${job.name}-w${fault.rank} lost while the job loaded \\(killed by SIGKILL.*\\): every worker loads again \\(epoch 2\\)`),
  );
  expect(readFileSync(path.join(runDir, "train.log"), "utf8")).toMatch(/"worker lost while the job loaded: every worker loads again"/);
  expect(run.recoveries).toEqual([]);
  expect(run.steps.map((s) => s.step)).toEqual(Array.from({ length: job.steps }, (_, i) => i + 1));
  expect(fingerprint(run)).toEqual(fingerprint(reference));
}

describe("a worker lost while the job loads", () => {
  it("killed before joining (dp 1, pp 2: no peer to take state from): the job reloads and equals the failure-free run", async () => {
    await expectReloadEqualsReference({ name: "load12", dp: 1, pp: 2, tp: 1, steps: 3 }, { rank: 1, step: 0, phase: "join" });
  }, 150_000);

  it("killed after joining (dp 2, pp 2): the job reloads and equals the failure-free run", async () => {
    await expectReloadEqualsReference({ name: "load22", dp: 2, pp: 2, tp: 1, steps: 3 }, { rank: 3, step: 0, phase: "load" });
  }, 150_000);
});
