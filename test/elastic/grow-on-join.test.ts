// Elastic growing by itself (`elastic.growOnJoin`), with real worker processes on a cluster of the shared
// nats-server: a dp 2 job loses rank 1 for good (SIGKILL, its replacements hung) and shrinks to dp 1; a second host
// agent then joins the cluster, and the job grows back to dp 2 with no `troupe scale`, naming the agent as the cause.
// Every loss stays within 1e-6 relative of the failure-free run's.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { startInProcessAgent, type InProcessAgent } from "../cluster/harness.ts";
import { startSharedCluster } from "../recovery/shared-cluster.ts";
import { runJob } from "../recovery/fixtures.ts";
import { elasticConfig, expectSameLosses, growWhenShrunk } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-grow-on-join-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 60;

describe("elastic growOnJoin", () => {
  it("a shrunk job grows back when a host agent joins the cluster; losses as the failure-free run's", async () => {
    const file = elasticConfig(root, "growjoin", 2, STEPS, 3);
    const yaml = readFileSync(file, "utf8");
    writeFileSync(file, yaml.replace(/^elastic: \{minDp: 1, replaceTimeout: 3\}$/m, ""));
    appendFileSync(file, "elastic: {minDp: 1, replaceTimeout: 3, growOnJoin: true}\n");
    const reference = await runJob(file, path.join(root, "ref"));
    const cluster = await startSharedCluster(`growjoin-${process.pid}`, 4);
    let joiner: Promise<InProcessAgent> | undefined;
    let coordinator: Coordinator | undefined;
    let grown: Promise<unknown> | undefined;
    const onStarted = (c: Coordinator) => {
      coordinator = c;
      // the shrunk job steps a while at dp 1, then a second agent joins; its next step waits for the grow asked
      grown = growWhenShrunk(c, 10, () => (joiner = startInProcessAgent(cluster.url, cluster.ns, { name: "joiner", slots: 2 })));
    };
    const faults = [
      { rank: 1, step: 3, phase: "allreduce" as const },
      { rank: 1, step: 0, phase: "join" as const, signal: "SIGSTOP" as const, repeat: "replacement" as const, untilResized: true },
    ];
    try {
      const run = await runJob(file, path.join(root, "run"), {
        faults,
        onStarted,
        cluster: { url: cluster.url, clusterId: cluster.clusterId },
      });
      await grown;
      const resizes = coordinator!.job.getSnapshot().context.resizes;
      expect(resizes.map((r) => [r.kind, r.from, r.to])).toEqual([
        ["shrunk", 2, 1],
        ["grown", 1, 2],
      ]);
      expect(resizes[1]!.cause).toBe("scaled to dp 2: host agent joiner joined");
      expect(resizes[1]!.step).toBeLessThan(STEPS - 10);
      expect(run.output).toMatch(/job grown from dp 1 to dp 2 \(replicas 0, 1\) at step \d+: scaled to dp 2: host agent joiner joined/);
      const worst = expectSameLosses(run, reference, 3, 30);
      console.log(`growOnJoin, dp 2 → 1 → 2 (grown at step ${resizes[1]!.step}): worst relative loss difference ${worst.toExponential(2)}`);
    } finally {
      const agent = await joiner?.catch(() => undefined);
      await agent?.agent.stop().catch(() => undefined);
      await agent?.nc.close().catch(() => undefined);
      await cluster.stop();
    }
  }, 300_000);
});
