// Elastic grow with real worker processes: a dp 2 job shrinks to 1 after a SIGKILL whose replacements hang, then is
// scaled back to 2 (Coordinator.scale, what `troupe scale` asks over the control subject). The replica's new worker
// takes its state from the live one and joins at a step boundary; every loss stays within 1e-6 relative of the
// failure-free dp 2 run's, over 30+ steps after the grow.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import type { Resize } from "../../actors/coordinator/job-machine.ts";
import { runJob } from "../recovery/fixtures.ts";
import { elasticConfig, expectSameLosses, growWhenShrunk } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-elastic-grow-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const STEPS = 40;

describe("elastic grow", () => {
  it("dp 1 → 2 after a shrink: the new replica is restored from its peer; losses as the failure-free dp 2 run's", async () => {
    const file = elasticConfig(root, "grow2", 2, STEPS);
    const reference = await runJob(file, path.join(root, "ref"));
    let grown: Promise<Resize> | undefined;
    const onStarted = (c: Coordinator) => (grown = growWhenShrunk(c, 0, () => c.scale(2, "capacity is back")));
    // rank 1 is killed at step 3; its replacements hang until the job shrinks, the worker the grow starts does not
    const faults = [
      { rank: 1, step: 3, phase: "allreduce" as const },
      { rank: 1, step: 0, phase: "join" as const, signal: "SIGSTOP" as const, repeat: "replacement" as const, untilResized: true },
    ];
    const run = await runJob(file, path.join(root, "run"), { faults, onStarted });
    const resize = await grown!;
    expect([resize.kind, resize.from, resize.to, resize.workers]).toEqual(["grown", 1, 2, ["grow2-w1"]]);
    expect(run.output.match(/job shrunk from dp 2 to dp 1 \(replicas 0\) at step 3/g)).toHaveLength(1);
    expect(run.output).not.toMatch(/job shrunk from dp 2 to dp 1 \(replicas 0\) at step [^3]/);
    expect(run.output).toMatch(new RegExp(`job grown from dp 1 to dp 2 \\(replicas 0, 1\\) at step ${resize.step}: scaled to dp 2`));
    expect(run.recoveries.map((r) => [r.actorId, r.source, r.from])).toEqual([["grow2-w1", "peer", "grow2-w0"]]);
    expect(STEPS - resize.step + 1).toBeGreaterThanOrEqual(30);
    const worst = expectSameLosses(run, reference, 3, 30);
    console.log(`dp 2 → 1 → 2 (grown at step ${resize.step}): worst relative loss difference ${worst.toExponential(2)}`);
  }, 300_000);
});
