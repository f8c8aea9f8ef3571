// Growing an elastic job back (actors/coordinator/elastic-grow.ts) over fake workers: a job that shrank from dp 3 to
// 2 is asked for 3 again; at the next step boundary the dropped replica's worker starts in a new epoch, takes its
// state from a live peer, and the step runs on three replicas with the same samples. Requests it cannot do are
// refused with the reason.
import { describe, expect, it } from "vitest";
import { fakeJob, plan } from "../coordinator/fake-workers.ts";

const never = new Promise<never>(() => undefined);

async function shrunkJob() {
  const j = fakeJob({ dp: 3 }, { elastic: { minDp: 1, replaceTimeoutMs: 50 } });
  await j.policy.start(() => j.group.start());
  const w1 = j.group.member("j-w1");
  j.group.unreplaceable.add(w1.id);
  j.group.on.step = (w, req) => {
    if (w !== w1 || req.step !== 1) return undefined;
    j.group.kill(w1);
    return never;
  };
  await j.policy.steps.runStep(plan(1, 6));
  expect(j.group.members.map((w) => w.id)).toEqual(["j-w0", "j-w2"]);
  return j;
}

describe("elastic grow over fake workers", () => {
  it("dp 2 → 3 at the next step boundary: the replica rejoins, restored from a live peer", async () => {
    const { group, policy, job, events } = await shrunkJob();
    const grown = policy.grow.scale(3, "capacity is back");
    await policy.steps.runStep(plan(2, 6));
    const r = await grown;
    expect([r.kind, r.from, r.to, r.replicas, r.step, r.workers]).toEqual(["grown", 2, 3, [0, 1, 2], 2, ["j-w1"]]);
    expect(group.members.map((w) => w.id)).toEqual(["j-w0", "j-w1", "j-w2"]);
    // epoch 4: the grown communicator; step 2 ran once, on three replicas with the same samples as before
    expect(
      group
        .asked("recover")
        .slice(-2)
        .map((a) => [a.id, a.epoch, a.req]),
    ).toEqual([
      ["j-w0", 4, { replicas: [0, 1, 2] }],
      ["j-w2", 4, { replicas: [0, 1, 2] }],
    ]);
    expect(group.asked("sendState").map((a) => [a.id, a.req])).toEqual([["j-w0", { to: 1 }]]);
    const steps = group.asked("step").filter((a) => (a.req as { step: number }).step === 2);
    expect(steps.map((a) => [a.id, a.epoch, (a.req as { firstSample: number }).firstSample])).toEqual([
      ["j-w0", 4, 6],
      ["j-w1", 4, 8],
      ["j-w2", 4, 10],
    ]);
    expect(job.getSnapshot().context.resizes.map((x) => [x.kind, x.to])).toEqual([
      ["shrunk", 2],
      ["grown", 3],
    ]);
    expect(events.filter((e) => e.type === "job.grown").length).toBe(1);
  });

  it("refuses a bad dp, more than the configured replicas, shrinking on request and a second pending request", async () => {
    const { policy } = await shrunkJob();
    await expect(policy.grow.scale(0, "x")).rejects.toThrow(/--dp must be a positive integer \(got 0\)/);
    await expect(policy.grow.scale(4, "x")).rejects.toThrow(/can grow to its configured dp 3 at most \(asked for 4\)/);
    await expect(policy.grow.scale(1, "x")).rejects.toThrow(/runs dp 2: scaling down on request is not supported/);
    void policy.grow.scale(3, "x");
    await expect(policy.grow.scale(3, "again")).rejects.toThrow(/has a scale to dp 3 pending/);
  });

  it("refuses a model-parallel job", async () => {
    const { group, policy } = fakeJob({ dp: 2, pp: 2 });
    await policy.start(() => group.start());
    await expect(policy.grow.scale(2, "x")).rejects.toThrow(/pp or tp > 1: only dp-only jobs scale/);
  });
});
