// The training policy (actors/coordinator/policy.ts and its parts) against fake workers: what the coordinator does
// when a worker is lost during a step, after an apply, during a recovery, while loading, at an escalation, and when
// an operator restarts workers. Milliseconds, no processes; the multi-process tests are in test/recovery.
import { describe, expect, it } from "vitest";
import type { DeathCause } from "../../runtime/death-cause.ts";
import { JobEscalatedError, JobFailedError, RecoveryFailedError } from "../../actors/coordinator/errors.ts";
import type { RecoveryRecord } from "../../actors/coordinator/types.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { fakeJob, plan } from "./fake-workers.ts";

const never = new Promise<never>(() => undefined);
const summary = (r: RecoveryRecord) => [r.actorId, r.source, r.from, r.step, r.rerun, r.epoch];

describe("the training policy over fake workers", () => {
  it("a loss during a step: the worker is restored from its DP peer in a new epoch and the step runs again", async () => {
    const { group, policy, job, committed } = fakeJob({ dp: 2 });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 2));
    const [w0, w1] = group.members as [(typeof group.members)[0], (typeof group.members)[0]];
    group.on.step = (w, req) => {
      if (w === w1 && req.step === 2 && group.asked("recover").length === 0) {
        group.kill(w1);
        return never;
      }
      return undefined;
    };
    const c = await policy.steps.runStep(plan(2, 2));
    expect(c.step).toBe(2);
    expect(policy.recovery.records.map(summary)).toEqual([["j-w1", "peer", "j-w0", 2, true, 2]]);
    // step 2 ran twice on the survivor (first attempt, rerun), and the commit is in the new epoch
    expect(
      group
        .asked("step")
        .filter((a) => a.id === w0.id)
        .map((a) => [a.epoch, (a.req as { step: number }).step]),
    ).toEqual([
      [1, 1],
      [1, 2],
      [2, 2],
    ]);
    expect(group.asked("recover").map((a) => [a.id, a.epoch])).toEqual([["j-w0", 2]]);
    expect(committed.map((s) => [s.step, s.epoch])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(job.getSnapshot().value).toBe("training");
    expect(job.getSnapshot().context.recoveries).toBe(1);
  });

  it("a loss after every worker applied the step: it is committed without running again", async () => {
    const { group, policy, committed, applies } = fakeJob({ dp: 2 });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 2));
    const w1 = group.member("j-w1");
    group.on.apply = (w, req) => {
      if (w !== w1 || req.step !== 2) return undefined;
      // the other worker applied; this one applies and dies before it answers
      queueMicrotask(() => group.kill(w1));
      return never;
    };
    group.on.recover = () => ({ applied: 2, optimizerStepCount: 2 });
    await policy.steps.runStep(plan(2, 2));
    expect(policy.recovery.records.map(summary)).toEqual([["j-w1", "peer", "j-w0", 2, false, 2]]);
    expect(group.asked("step").map((a) => (a.req as { step: number }).step)).toEqual([1, 1, 2, 2]);
    expect(committed.map((s) => s.step)).toEqual([1, 2]);
    // each apply was recorded before it was sent, so a coordinator taking over knows it
    expect(applies).toEqual([1, 2]);
  });

  it("a second loss during a recovery: it starts over with both victims, in a newer epoch", async () => {
    const { group, policy, events } = fakeJob({ dp: 2, pp: 2 });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 2));
    // Megatron order: w0 (dp 0, pp 0), w1 (dp 1, pp 0), w2 (dp 0, pp 1), w3 (dp 1, pp 1)
    const [w0, w1, w2, w3] = group.members as [
      (typeof group.members)[0],
      (typeof group.members)[0],
      (typeof group.members)[0],
      (typeof group.members)[0],
    ];
    group.on.step = (w, req) =>
      w === w0 && req.step === 2 && policy.recovery.records.length === 0 && group.epoch === 1 ? (group.kill(w0), never) : undefined;
    group.on.recover = (w) => (w === w3 && group.epoch === 2 ? (group.kill(w3), never) : undefined);
    await policy.steps.runStep(plan(2, 2));
    expect(policy.recovery.records.map(summary)).toEqual([
      ["j-w0", "peer", "j-w1", 2, true, 3],
      ["j-w3", "peer", "j-w2", 2, true, 3],
    ]);
    expect(events.filter((e) => e.type === "job.recovery-restarted").map((e) => e.data)).toEqual([
      { abandonedEpoch: 2, epoch: 3, lost: ["j-w0", "j-w3"] },
    ]);
    // the first victim's replacement, started for the abandoned epoch, is started again in the new one
    expect(group.restarts).toEqual([
      { id: "j-w0", reason: "rejoin epoch 3: another worker was lost during its recovery", kind: "job.restart" },
    ]);
    expect(
      group
        .asked("recover")
        .filter((a) => a.epoch === 3)
        .map((a) => a.id),
    ).toEqual([w1.id, w2.id]);
  });

  it("no live peer holds a lost shard and there is no checkpoint: the job fails, naming the shard", async () => {
    const { group, policy } = fakeJob({ dp: 1, pp: 2 });
    await policy.start(() => group.start());
    group.on.step = (w) => (w.id === "j-w1" ? (group.kill(w), never) : undefined);
    const run = policy.steps.runStep(plan(1, 1));
    await expect(run).rejects.toThrow(RecoveryFailedError);
    await expect(run).rejects.toThrow(
      /worker j-w1 lost, no live data-parallel peer holds its shard \(stage 1, tp rank 0\) and there is no checkpoint to roll back to; lost: j-w1 \(killed by SIGKILL\)/,
    );
    expect(group.failure).toBeInstanceOf(RecoveryFailedError);
    expect(group.asked("recover")).toEqual([]);
  });

  it("an escalation: the live workers are halted and write a checkpoint of the last committed step, then the job fails with it", async () => {
    const { group, policy, job } = fakeJob({ dp: 2 }, { checkpoints: { root: "/ckpt", keep: 2, config: {} as never } });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 2));
    await policy.steps.runStep(plan(2, 2));
    const e = group.escalate(group.member("j-w0"));
    expect(job.getSnapshot().matches("escalating")).toBe(true);
    // no recovery starts: the step waits for the escalation's outcome
    const step3 = policy.steps.runStep(plan(3, 2));
    step3.catch(() => undefined);
    expect(await policy.escalation.handle(e)).toBe("stop");
    const failure = group.failure as JobEscalatedError;
    expect(failure).toBeInstanceOf(JobEscalatedError);
    expect(failure.message).toBe(`job j stopped: ${e.cause}; stopped with a checkpoint of step 2: /ckpt/step-2`);
    expect(failure.checkpoint).toEqual({
      note: "stopped with a checkpoint of step 2: /ckpt/step-2",
      dir: "/ckpt/step-2",
      step: 2,
      written: true,
    });
    expect(group.asks.filter((a) => a.verb === "halt" || a.verb === "checkpoint").map((a) => [a.id, a.verb])).toEqual([
      ["j-w1", "halt"],
      ["j-w1", "checkpoint"],
      ["j-w1", "checkpoint"],
    ]);
    await expect(step3).rejects.toBe(failure);
    expect(group.asked("recover")).toEqual([]);
  });

  it("ZeRO-1 at dp 4: a replacement takes its parameters and shard from the rank before it, its backup shard from the rank after it, then every worker gathers", async () => {
    const { group, policy } = fakeJob({ dp: 4 }, { zeroShards: 4 });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 4));
    const w0 = group.member("j-w0");
    group.on.step = (w, req) => (w === w0 && req.step === 2 && group.asked("recover").length === 0 ? (group.kill(w0), never) : undefined);
    await policy.steps.runStep(plan(2, 4));
    expect(policy.recovery.records.map(summary)).toEqual([["j-w0", "peer", "j-w3", 2, true, 2]]);
    expect(group.asked("sendState").map((a) => [a.id, a.req])).toEqual([
      ["j-w3", { to: 0, zeroShards: [0] }],
      ["j-w1", { to: 0, zeroShards: [1], params: false }],
    ]);
    expect(group.asked("restore").map((a) => [a.id, a.req])).toEqual([
      [
        "j-w0",
        {
          from: 3,
          parts: [
            { from: 3, zeroShards: [0], params: true },
            { from: 1, zeroShards: [1], params: false },
          ],
        },
      ],
    ]);
    expect(group.asked("gatherShards").map((a) => [a.id, a.epoch])).toEqual([0, 1, 2, 3].map((r) => [`j-w${r}`, 2]));
  });

  it("ZeRO-1 at dp 3: with two neighbours lost no peer holds a lost shard; without a checkpoint the job fails, saying so", async () => {
    const { group, policy } = fakeJob({ dp: 3 }, { zeroShards: 3 });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 3));
    const [w1, w2] = [group.member("j-w1"), group.member("j-w2")];
    group.on.step = (w, req) =>
      (w === w1 || w === w2) && req.step === 2 && group.asked("recover").length === 0 ? (group.kill(w), never) : undefined;
    await expect(policy.steps.runStep(plan(2, 3))).rejects.toThrow(
      /worker j-w1 lost, its ZeRO-1 shards 1 and 2 are held by dp ranks 0 and 2 of stage 0, tp rank 0, not both alive, and there is no checkpoint/,
    );
    expect(group.asked("sendState")).toEqual([]);
  });

  it("ZeRO-1 at dp 3, an escalation: a lost worker's shard is written by the rank before it, from its copy", async () => {
    const layout = rankLayout({ dp: 3, pp: 1, tp: 1 });
    const { group, policy } = fakeJob({ dp: 3 }, { zeroShards: 3, layout, checkpoints: { root: "/ckpt", keep: 2, config: {} as never } });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 3));
    group.on.checkpointShard = () => {
      throw new Error("no files in this test");
    };
    const e = group.escalate(group.member("j-w1"));
    expect(await policy.escalation.handle(e)).toBe("stop");
    expect(group.asked("checkpointShard").map((a) => [a.id, (a.req as { zeroShards?: number[] }).zeroShards])).toEqual([
      ["j-w0", [0, 1]],
      ["j-w2", [2]],
    ]);
    expect((group.failure as JobEscalatedError).checkpoint.note).toMatch(/the final checkpoint failed \(no files in this test\)/);
  });

  it("a worker killed while the job loads: every worker loads again in a new epoch", async () => {
    const reloads: unknown[] = [];
    const { group, policy, events } = fakeJob({ dp: 2 }, { onReload: (r) => reloads.push(r) });
    group.autoLoad = false;
    const started = policy.start(() => group.start());
    await Promise.resolve();
    group.loaded(group.member("j-w0"));
    group.autoLoad = true;
    group.kill(group.member("j-w1"));
    await started;
    expect(group.epoch).toBe(2);
    expect(group.restarts).toEqual([
      { id: "j-w0", reason: "reload in epoch 2: worker j-w1 was lost while the job loaded (killed by SIGKILL)", kind: "job.restart" },
    ]);
    expect(reloads).toEqual([{ worker: "j-w1", cause: "killed by SIGKILL", epoch: 2 }]);
    expect(events.filter((e) => e.type === "job.reloaded").map((e) => e.data)).toEqual([
      { jobId: "j", worker: "j-w1", cause: "killed by SIGKILL", epoch: 2 },
    ]);
    expect(policy.recovery.pending).toBe(false);
  });

  it("a worker that exits with an error of its own while the job loads fails the job with its error line", async () => {
    const { group, policy } = fakeJob({ dp: 2 });
    group.autoLoad = false;
    const started = policy.start(() => group.start());
    await Promise.resolve();
    const death: DeathCause = { kind: "exit", code: 1, lastLine: "Node.js v20", crashLine: "JobSpecError: no backends", starting: true };
    group.kill(group.member("j-w1"), death);
    await expect(started).rejects.toThrow(
      new JobFailedError("worker j-w1 failed: exited with code 1: Node.js v20 while starting (JobSpecError: no backends)"),
    );
    expect(group.epoch).toBe(1);
  });

  it("an operator restart of every worker: one batch of distinct shards at a time, each from a live peer, at the next step", async () => {
    const { group, policy } = fakeJob({ dp: 2, pp: 2 });
    await policy.start(() => group.start());
    await policy.steps.runStep(plan(1, 2));
    const restarted = policy.restarts.restartWorkers(
      group.members.map((w) => w.id),
      "maintenance",
    );
    expect(group.restarts).toEqual([]);
    await policy.steps.runStep(plan(2, 2));
    const records = await restarted;
    expect(group.restarts.map((r) => [r.id, r.kind])).toEqual([
      ["j-w0", "operator.restart"],
      ["j-w2", "operator.restart"],
      ["j-w1", "operator.restart"],
      ["j-w3", "operator.restart"],
    ]);
    // at the boundary every worker had applied step 1: nothing runs again
    expect(records.map(summary)).toEqual([
      ["j-w0", "peer", "j-w1", 1, false, 2],
      ["j-w2", "peer", "j-w3", 1, false, 2],
      ["j-w1", "peer", "j-w0", 1, false, 3],
      ["j-w3", "peer", "j-w2", 1, false, 3],
    ]);
    expect(records.map((r) => r.cause)).toEqual(Array(4).fill("restarted by operator: maintenance"));
    expect(
      group
        .asked("step")
        .filter((a) => (a.req as { step: number }).step === 2)
        .map((a) => a.epoch),
    ).toEqual([3, 3, 3, 3]);
    await expect(policy.restarts.restartWorkers(["j-w9"], "x")).rejects.toThrow(/job j has no worker 'j-w9'/);
  });

  it("a worker without a data-parallel peer is not restarted by an operator", async () => {
    const { group, policy } = fakeJob({ dp: 1, pp: 2 });
    await policy.start(() => group.start());
    await expect(policy.restarts.restartWorkers(["j-w0"], "x")).rejects.toThrow(
      /worker j-w0 has no data-parallel peer to take its state from \(dp = 1\)/,
    );
  });
});
