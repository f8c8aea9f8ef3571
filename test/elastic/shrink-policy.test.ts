// The elastic shrink policy (actors/coordinator/elastic.ts) over fake workers: a lost replica whose replacement does
// not come within elastic.replaceTimeout is dropped, the step in flight runs again on the survivors with the same
// micro-batches, and the job records why; one that comes in time is restored as always; minDp is never crossed.
import { describe, expect, it } from "vitest";
import type { Resize } from "../../actors/coordinator/job-machine.ts";
import { fakeJob, plan } from "../coordinator/fake-workers.ts";

const never = new Promise<never>(() => undefined);
const elastic = { minDp: 1, replaceTimeoutMs: 50 };

/** The samples each worker was asked to train at `step` in `epoch`, by worker. */
function samplesOf(asks: { id: string; epoch: number; req: object }[], step: number, epoch: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const a of asks) {
    const r = a.req as { step: number; firstSample: number; microBatches: number; microBatch: number };
    if (r.step !== step || a.epoch !== epoch) continue;
    out[a.id] = Array.from({ length: r.microBatches }, (_, m) => r.firstSample + m * r.microBatch);
  }
  return out;
}

describe("elastic shrink over fake workers", () => {
  it("dp 3 → 2: the lost replica is dropped, the survivors rerun the step on the same samples", async () => {
    const resizes: Resize[] = [];
    const { group, policy, job, committed, events } = fakeJob({ dp: 3 }, { elastic, onResize: (r) => resizes.push(r) });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 6));
    const w1 = group.member("j-w1");
    group.unreplaceable.add(w1.id);
    group.on.step = (w, req) => {
      if (w !== w1 || req.step !== 2) return undefined;
      group.kill(w1);
      return never;
    };
    const c = await policy.steps.runStep(plan(2, 6));
    expect(c.step).toBe(2);
    expect(group.members.map((w) => w.id)).toEqual(["j-w0", "j-w2"]);
    expect(group.retired).toEqual(["j-w1"]);
    // epoch 2: the loss, the replacement awaited in vain; epoch 3: the shrink, a communicator of replicas 0 and 2
    expect(group.asked("recover").map((a) => [a.id, a.epoch, a.req])).toEqual([
      ["j-w0", 2, { replicas: [0, 1, 2] }],
      ["j-w2", 2, { replicas: [0, 1, 2] }],
      ["j-w0", 3, { replicas: [0, 2] }],
      ["j-w2", 3, { replicas: [0, 2] }],
    ]);
    expect(samplesOf(group.asked("step"), 2, 1)).toEqual({ "j-w0": [6, 7], "j-w1": [8, 9], "j-w2": [10, 11] });
    expect(samplesOf(group.asked("step"), 2, 3)).toEqual({ "j-w0": [6, 7, 8], "j-w2": [9, 10, 11] });
    expect(committed.map((s) => [s.step, s.epoch, s.batchSize])).toEqual([
      [1, 1, 6],
      [2, 3, 6],
    ]);
    expect(resizes.map((r) => [r.kind, r.from, r.to, r.replicas, r.step, r.workers])).toEqual([["shrunk", 3, 2, [0, 2], 2, ["j-w1"]]]);
    expect(resizes[0]!.cause).toMatch(/j-w1 lost \(killed by SIGKILL\) and not replaced within 0.05 s/);
    expect(job.getSnapshot().context.resizes).toEqual(resizes);
    expect(job.getSnapshot().value).toBe("training");
    expect(events.filter((e) => e.type === "job.shrunk").map((e) => (e.data as unknown as Resize).to)).toEqual([2]);
    expect(policy.recovery.pending).toBe(false);
  });

  it("the first replica lost: the next one reports the norm, validates and checkpoints", async () => {
    const { group, policy } = fakeJob({ dp: 2 }, { elastic });
    await policy.start(() => group.start());
    const w0 = group.member("j-w0");
    group.unreplaceable.add(w0.id);
    group.on.step = (w, req) => {
      if (w !== w0 || req.step !== 1) return undefined;
      group.kill(w0);
      return never;
    };
    group.on.step = ((orig) => (w, req) =>
      w.id === "j-w1" && group.epoch === 3 ? { step: 1, epoch: 3, lossSum: 4, gradNormSquared: 9 } : orig(w, req))(group.on.step);
    const c = await policy.steps.runStep(plan(1, 2));
    expect([c.loss, c.gradNorm]).toEqual([2, 3]);
    expect(await policy.steps.validate({ step: 1, batches: 1, microBatch: 1 })).toBe(1.5);
    expect(group.asked("validate").map((a) => a.id)).toEqual(["j-w1"]);
  });

  it("a replacement that comes in time is restored from its peer: the job keeps its replicas", async () => {
    const { group, policy, job } = fakeJob({ dp: 2 }, { elastic });
    await policy.start(() => group.start());
    const w1 = group.member("j-w1");
    group.on.step = (w, req) => {
      if (w !== w1 || req.step !== 1 || group.asked("recover").length > 0) return undefined;
      group.kill(w1);
      return never;
    };
    await policy.steps.runStep(plan(1, 2));
    expect(group.retired).toEqual([]);
    expect(policy.recovery.records.map((r) => [r.actorId, r.source])).toEqual([["j-w1", "peer"]]);
    expect(job.getSnapshot().context.resizes).toEqual([]);
  });

  it("never below minDp: a job at minDp waits for the replacement as any other (and fails when it never comes)", async () => {
    const { group, policy, job } = fakeJob({ dp: 2 }, { elastic: { minDp: 2, replaceTimeoutMs: 50 }, loadTimeoutMs: 300 });
    await policy.start(() => group.start());
    const w1 = group.member("j-w1");
    group.unreplaceable.add(w1.id);
    group.on.step = (w) => {
      if (w !== w1) return undefined;
      group.kill(w1);
      return never;
    };
    await expect(policy.steps.runStep(plan(1, 2))).rejects.toThrow(/recovery of j-w1 .* failed: replacement j-w1 did not reach restoring/);
    expect(group.retired).toEqual([]);
    expect(job.getSnapshot().context.resizes).toEqual([]);
  });
});
