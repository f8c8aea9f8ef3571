// dp 2 · pp 2 · tp 2 (8 worker processes): SIGKILL a worker at each phase of a step (forward, backward, gradient
// all-reduce, apply) and in each role (first and last stage, TP shard 0 and 1, either replica). Only that
// process restarts, it takes its state from its live DP peer, and the final model, optimizer state and every
// committed loss equal the failure-free run's bit for bit.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { fingerprint, layoutOf, rankAt, runJob, writeTinyConfig, type TinyJob } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const job: TinyJob = { name: "rec222", dp: 2, pp: 2, tp: 2, steps: 6 };
const configFile = writeTinyConfig(root, job);
const layout = layoutOf(job);

describe("peer restore after SIGKILL (dp 2, pp 2, tp 2)", () => {
  it("kills at forward, backward, all-reduce and apply; the result equals the failure-free run bit for bit", async () => {
    const reference = await runJob(configFile, path.join(root, "reference"));
    expect(reference.recoveries).toEqual([]);
    const faults = [
      { rank: rankAt(layout, { dp: 0, pp: 0, tp: 0 }), step: 2, phase: "forward" as const },
      { rank: rankAt(layout, { dp: 1, pp: 1, tp: 1 }), step: 3, phase: "backward" as const },
      { rank: rankAt(layout, { dp: 1, pp: 0, tp: 1 }), step: 4, phase: "allreduce" as const },
      { rank: rankAt(layout, { dp: 0, pp: 1, tp: 0 }), step: 5, phase: "apply" as const },
    ];
    // after each recovery only the lost worker has a new process
    let coordinator: Coordinator | undefined;
    let pids: (number | null)[] = [];
    const changed: string[][] = [];
    const run = await runJob(configFile, path.join(root, "faulty"), {
      faults,
      onStarted: (c) => {
        coordinator = c;
        pids = c.workerRecords().map((r) => r.pid);
      },
      onRecovery: () => {
        const now = coordinator!.workerRecords();
        changed.push(now.filter((r, i) => r.pid !== pids[i]).map((r) => r.id));
        pids = now.map((r) => r.pid);
      },
    });
    expect(changed).toEqual(faults.map((f) => [`${run.jobId}-w${f.rank}`]));
    expect(run.recoveries.map((r) => [r.actorId, r.step, r.source])).toEqual(
      faults.map((f) => [`${run.jobId}-w${f.rank}`, f.step, "peer"]),
    );
    for (const r of run.recoveries) {
      expect(r.cause).toMatch(/SIGKILL/);
      const peer = layout.coords[Number(r.from.split("-w").at(-1))]!;
      const lost = layout.coords[Number(r.actorId.split("-w").at(-1))]!;
      expect([peer.pp, peer.tp, peer.dp === lost.dp]).toEqual([lost.pp, lost.tp, false]);
    }
    expect(run.output).toMatch(/recovered .*-w\d+ \(.*SIGKILL.*\): state from peer/);
    expect(run.output).toMatch(/after 4 recoveries/);
    expect(run.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 150_000);
});

describe("peer restore with a middle stage (dp 2, pp 3)", () => {
  it("recovers a middle stage, then two workers of different shards lost at once; the result is unchanged", async () => {
    const job3: TinyJob = { name: "rec23", dp: 2, pp: 3, tp: 1, steps: 4 };
    const file = writeTinyConfig(root, job3);
    const l3 = layoutOf(job3);
    const reference = await runJob(file, path.join(root, "reference3"));
    const middle = rankAt(l3, { dp: 0, pp: 1, tp: 0 });
    const together = [rankAt(l3, { dp: 1, pp: 0, tp: 0 }), rankAt(l3, { dp: 0, pp: 2, tp: 0 })];
    const run = await runJob(file, path.join(root, "faulty3"), {
      faults: [{ rank: middle, step: 2, phase: "backward" }, ...together.map((rank) => ({ rank, step: 3, phase: "forward" as const }))],
    });
    expect(run.recoveries.map((r) => [r.actorId, r.step])).toEqual([[`rec23-w${middle}`, 2], ...together.map((r) => [`rec23-w${r}`, 3])]);
    // the two lost together were recovered in one epoch
    expect(run.recoveries[1]!.epoch).toBe(run.recoveries[2]!.epoch);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 150_000);
});
