// Elastic shrink with real worker processes: a replica SIGKILLed mid-step whose replacements never come (each
// hangs before it joins) is dropped after elastic.replaceTimeout; the job goes on with one replica fewer and the
// same global batch. Every committed loss before the loss equals the failure-free run's bit for bit, every one from
// the step in flight on within 1e-6 relative (only the grouping of the gradient sum changed), over 30+ steps.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { describeDp, jobDpOf } from "../../actors/jobs/job-dp.ts";
import { runJob } from "../recovery/fixtures.ts";
import { startSharedCluster } from "../recovery/shared-cluster.ts";
import { elasticConfig, expectSameLosses, lostForGood } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-elastic-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 34;

describe("elastic shrink after SIGKILL with no replacement", () => {
  it("dp 2 → 1: the survivor takes every micro-batch; losses as the failure-free dp 2 run's", async () => {
    const file = elasticConfig(root, "shrink2", 2, STEPS);
    const reference = await runJob(file, path.join(root, "ref2"));
    let coordinator: Coordinator | undefined;
    // on a cluster the test can still read after the job: its lifecycle record and events say what happened
    const cluster = await startSharedCluster(`elastic-${process.pid}`, 4);
    const run = await runJob(file, path.join(root, "run2"), {
      faults: lostForGood(1, 3),
      onStarted: (c) => (coordinator = c),
      cluster: { url: cluster.url, clusterId: cluster.clusterId },
    });
    const replicas = jobDpOf(await cluster.lifecycles.get("job", run.jobId), 2);
    const shrunk = (await cluster.events.readAll(run.jobId)).filter((e) => e.type === "job.shrunk");
    await cluster.stop();
    expect(describeDp(replicas)).toBe("1 (shrunk from 2 at step 3)");
    expect(shrunk.map((e) => [e.data.from, e.data.to, e.data.step, e.data.workers])).toEqual([[2, 1, 3, ["shrink2-w1"]]]);
    expect(shrunk[0]!.data.cause).toMatch(/shrink2-w1 lost \(.*SIGKILL.*\) and not replaced within 3 s/);
    expect(run.output).toMatch(
      /job shrunk from dp 2 to dp 1 \(replicas 0\) at step 3: shrink2-w1 lost \(.*SIGKILL.*\) and not replaced within 3 s/,
    );
    expect(run.recoveries).toEqual([]);
    expect(coordinator!.workers.map((w) => w.id)).toEqual(["shrink2-w0"]);
    const resizes = coordinator!.job.getSnapshot().context.resizes;
    expect(resizes.map((r) => [r.kind, r.from, r.to, r.step])).toEqual([["shrunk", 2, 1, 3]]);
    const worst = expectSameLosses(run, reference, 3, 30);
    console.log(`dp 2 → 1: worst relative loss difference ${worst.toExponential(2)} over ${STEPS - 2} steps`);
  }, 240_000);

  it("dp 3 → 2: the middle replica lost; replicas 0 and 2 split its micro-batches", async () => {
    const file = elasticConfig(root, "shrink3", 3, STEPS);
    const reference = await runJob(file, path.join(root, "ref3"));
    let coordinator: Coordinator | undefined;
    const run = await runJob(file, path.join(root, "run3"), { faults: lostForGood(1, 2), onStarted: (c) => (coordinator = c) });
    expect(run.output).toMatch(/job shrunk from dp 3 to dp 2 \(replicas 0, 2\) at step 2/);
    expect(coordinator!.workers.map((w) => w.id)).toEqual(["shrink3-w0", "shrink3-w2"]);
    const worst = expectSameLosses(run, reference, 2, 30);
    console.log(`dp 3 → 2: worst relative loss difference ${worst.toExponential(2)} over ${STEPS - 1} steps`);
  }, 240_000);
});
