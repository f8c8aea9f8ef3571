// Coordinator.restartWorkers (operator restart, graceful): at the next step boundary the named workers get new
// processes and take their state from a DP peer; two workers holding the same shard go one after the other so a
// peer always exists. The run ends bit-identical to one without restarts. A worker without a DP peer is refused.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import type { RecoveryRecord } from "../../actors/coordinator/types.ts";
import { fingerprint, runJob, writeTinyConfig } from "./fixtures.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-recovery-op-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("operator restart of live workers", () => {
  it("restarts both replicas of a shard one at a time, each from the other; the result is unchanged", async () => {
    const configFile = writeTinyConfig(root, { name: "opdp2", dp: 2, pp: 1, tp: 1, steps: 3 });
    const reference = await runJob(configFile, path.join(root, "reference"));
    let before: (number | null)[] = [];
    let restarted: Promise<{ records: RecoveryRecord[]; pids: (number | null)[] }> | undefined;
    const run = await runJob(configFile, path.join(root, "restarted"), {
      onStarted: (c: Coordinator) => {
        before = c.workerRecords().map((r) => r.pid);
        restarted = c
          .restartWorkers(
            c.workers.map((w) => w.id),
            "test",
          )
          .then((records) => ({ records, pids: c.workerRecords().map((r) => r.pid) }));
      },
    });
    const { records, pids } = await restarted!;
    expect(records.map((r) => [r.actorId, r.from, r.source])).toEqual([
      ["opdp2-w0", "opdp2-w1", "peer"],
      ["opdp2-w1", "opdp2-w0", "peer"],
    ]);
    expect(records[0]!.epoch).toBeLessThan(records[1]!.epoch);
    expect(pids.every((p, i) => p !== null && p !== before[i])).toBe(true);
    expect(fingerprint(run)).toEqual(fingerprint(reference));
  }, 90_000);

  it("refuses a worker that has no data-parallel peer, naming it", async () => {
    const configFile = writeTinyConfig(root, { name: "opdp1", dp: 1, pp: 2, tp: 1, steps: 1 });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => new Error("accepted"),
        (e: Error) => e,
      );
    let refused: Promise<Error>[] = [];
    await runJob(configFile, path.join(root, "dp1"), {
      onStarted: (c) => void (refused = [outcome(c.restartWorkers(["opdp1-w1"], "test")), outcome(c.restartWorkers(["nope"], "test"))]),
    });
    const [noPeer, unknown] = await Promise.all(refused);
    expect(noPeer!.message).toMatch(/worker opdp1-w1 has no data-parallel peer/);
    expect(unknown!.message).toMatch(/has no worker 'nope'/);
  }, 90_000);
});
