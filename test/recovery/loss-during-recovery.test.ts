// dp 2 · pp 2: a second worker, of another shard, is SIGKILLed while the job is still recovering the first (it is
// joining the recovery's communicator). The recovery is given up, the first replacement is started again in the new
// epoch, and one recovery brings both back from their live DP peers: the job does not fail, and the final model,
// optimizer state and every committed loss equal the failure-free run's bit for bit.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { fingerprint, layoutOf, rankAt, runJob, writeTinyConfig, type TinyJob } from "./fixtures.ts";
import { startSharedCluster, type SharedCluster } from "./shared-cluster.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-second-"));
let cluster: SharedCluster;
beforeAll(async () => {
  cluster = await startSharedCluster("recsecond", 4);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** SIGKILLs `victim` as soon as it reports `recovering` (a recovery is in progress); resolves with the delay. */
async function killWhenRecovering(c: Coordinator, victim: string, since: () => number | undefined): Promise<number> {
  const pid = c.workerRecords().find((r) => r.id === victim)!.pid!;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const s = await c.status(victim).catch(() => undefined);
    if (s?.state === "recovering") {
      process.kill(pid, "SIGKILL");
      return Date.now() - (since() ?? Date.now());
    }
    if (Date.now() > deadline) throw new Error(`${victim} never reported recovering`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("a second worker lost during a recovery (dp 2, pp 2)", () => {
  it("restarts the recovery with both victims; the result equals the failure-free run bit for bit", async () => {
    const job: TinyJob = { name: "second", dp: 2, pp: 2, tp: 1, steps: 5 };
    const configFile = writeTinyConfig(root, job);
    const layout = layoutOf(job);
    const first = rankAt(layout, { dp: 0, pp: 0, tp: 0 });
    const second = rankAt(layout, { dp: 1, pp: 1, tp: 0 });
    const reference = await runJob(configFile, path.join(root, "reference"));

    let killed: Promise<number> | undefined;
    const run = await runJob(configFile, path.join(root, "faulty"), {
      cluster,
      faults: [{ rank: first, step: 3, phase: "forward" }],
      onStarted: (c) => {
        killed = killWhenRecovering(c, `second-w${second}`, () => c.lost.get(`second-w${first}`)?.at);
        killed.catch(() => undefined);
      },
    });
    const gapMs = await killed!;
    expect(gapMs).toBeLessThan(10_000);

    // one recovery, in one epoch, brought both back from their peers; step 3 ran again
    expect(run.recoveries.map((r) => [r.actorId, r.source, r.from, r.step, r.rerun])).toEqual([
      [`second-w${first}`, "peer", `second-w${rankAt(layout, { dp: 1, pp: 0, tp: 0 })}`, 3, true],
      [`second-w${second}`, "peer", `second-w${rankAt(layout, { dp: 0, pp: 1, tp: 0 })}`, 3, true],
    ]);
    expect(run.recoveries[0]!.epoch).toBe(run.recoveries[1]!.epoch);
    const restarted = (await cluster.events.readAll("second")).filter((e) => e.type === "job.recovery-restarted").map((e) => e.data);
    expect(restarted).toEqual([{ abandonedEpoch: 2, epoch: 3, lost: [`second-w${first}`, `second-w${second}`] }]);
    expect(run.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5]);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 240_000);
});
