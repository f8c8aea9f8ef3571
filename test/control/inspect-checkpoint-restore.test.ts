// `troupe inspect` on a worker restored from a checkpoint: a dp 1 · pp 2 job on the test's shared nats-server loses
// its last stage (no DP peer holds it), every worker rolls back to the newest checkpoint, and inspect names the
// checkpoint's step, its folder and how long the load took.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJob, writeTinyConfig } from "../recovery/fixtures.ts";
import { startSharedCluster, type SharedCluster } from "../recovery/shared-cluster.ts";
import { troupe } from "./cli-troupe.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-inspect-"));
let cluster: SharedCluster;
beforeAll(async () => {
  cluster = await startSharedCluster("inspectckpt", 2);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("troupe inspect: restore from a checkpoint", () => {
  it("shows 'state from checkpoint step K (DIR) in N ms' for the lost worker, nothing for the survivor", async () => {
    const configFile = writeTinyConfig(root, { name: "insp", dp: 1, pp: 2, tp: 1, steps: 5, checkpointEvery: 2 });
    const run = await runJob(configFile, path.join(root, "run"), { cluster, faults: [{ rank: 1, step: 5, phase: "backward" }] });
    expect(run.recoveries.map((r) => [r.actorId, r.source])).toEqual([["insp-w1", "checkpoint"]]);
    // step 4's checkpoint, or step 2's when the lost worker had not finished writing its shard of step 4
    const dir = run.recoveries[0]!.from;
    const step = Number(/step-(\d+)$/.exec(dir)![1]);
    expect([2, 4]).toContain(step);
    const inspected = await troupe("inspect", "insp-w1", ...cluster.cliArgs);
    expect(inspected.stderr).toBe("");
    const line = new RegExp(
      `^ {2}\\S+ {2}epoch 2, step 5: state from checkpoint step ${step} \\(${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\) in \\d+ ms \\(lost: killed by SIGKILL\\)$`,
      "m",
    );
    expect(inspected.stdout).toMatch(line);
    const json = JSON.parse((await troupe("inspect", "insp-w1", ...cluster.cliArgs, "--json")).stdout) as { restores: unknown[] };
    expect(json.restores).toMatchObject([{ source: "checkpoint", from: dir, checkpointStep: step, step: 5, epoch: 2 }]);
    expect((await troupe("inspect", "insp-w0", ...cluster.cliArgs)).stdout).toMatch(/^restored {5}never$/m);
  }, 150_000);
});
