import { describe, expect, it } from "vitest";
import { SimulatedClock, createActor, waitFor } from "xstate";
import { actorRecordMachine } from "../../runtime/machines/actor-record.ts";
import { describeDeath } from "../../runtime/death-cause.ts";
import { jobMachine } from "../../actors/coordinator/job-machine.ts";
import { workerMachine } from "../../actors/worker/worker-machine.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import { RestartIntensity, backoffDelay, validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import { ConfigError } from "../../runtime/errors.ts";

const timeouts = validateTimeouts({ heartbeatMs: 100, suspectMs: 300, killMs: 800, stepMs: 5000, startMs: 2000 });

function recordActor() {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  const machine = actorRecordMachine.provide({
    actions: {
      spawnProcess: () => void calls.push("spawn"),
      killProcess: (_, p) => void calls.push(`kill ${p.pid} ${p.signal}`),
      reportFailure: (_, p) => void calls.push(`failure ${describeDeath(p.cause)}`),
    },
  });
  const actor = createActor(machine, { input: { id: "w0", timeouts }, clock });
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  actor.start();
  const top = () => {
    const v = actor.getSnapshot().value;
    return typeof v === "string" ? v : Object.keys(v)[0];
  };
  return { actor, clock, calls, top, errors };
}

describe("actor record lifecycle", () => {
  it("goes pending → starting → alive on the first heartbeat of its own pid", () => {
    const { actor, top, calls } = recordActor();
    expect(top()).toBe("pending");
    actor.send({ type: "START" });
    expect(top()).toBe("starting");
    actor.send({ type: "SPAWNED", pid: 10, host: "h" });
    actor.send({ type: "HEARTBEAT", pid: 99, step: 0, epoch: 0, time: 1 }); // someone else's beat
    expect(top()).toBe("starting");
    actor.send({ type: "HEARTBEAT", pid: 10, step: 3, epoch: 1, time: 2 });
    expect(top()).toBe("alive");
    expect(actor.getSnapshot().context).toMatchObject({ pid: 10, step: 3, epoch: 1, lastHeartbeat: 2 });
    expect(calls).toEqual(["spawn"]);
  });

  it("on exit: failed → (supervisor says restart) → restarting → starting after the backoff", async () => {
    const { actor, clock, top, calls } = recordActor();
    actor.send({ type: "START" });
    actor.send({ type: "SPAWNED", pid: 10, host: "h" });
    actor.send({ type: "HEARTBEAT", pid: 10, step: 0, epoch: 0, time: 1 });
    actor.send({ type: "EXITED", pid: 11, cause: { kind: "exit", code: 1, lastLine: "stale" } }); // not our process
    expect(top()).toBe("alive");
    actor.send({ type: "EXITED", pid: 10, cause: { kind: "signal", signal: "SIGKILL" } });
    expect(top()).toBe("failed");
    expect(calls.at(-1)).toBe("failure killed by SIGKILL");
    actor.send({ type: "RESTART", delayMs: 250 });
    expect(top()).toBe("restarting");
    expect(actor.getSnapshot().context.restarts).toBe(1);
    clock.increment(249);
    expect(top()).toBe("restarting");
    clock.increment(1);
    await waitFor(actor, (s) => s.matches("starting"));
    expect(calls.filter((c) => c === "spawn")).toHaveLength(2);
  });

  it("missed heartbeats: alive → suspect → killed and failed", () => {
    const { actor, clock, top, calls } = recordActor();
    actor.send({ type: "START" });
    actor.send({ type: "SPAWNED", pid: 10, host: "h" });
    actor.send({ type: "HEARTBEAT", pid: 10, step: 0, epoch: 0, time: 1 });
    clock.increment(250);
    actor.send({ type: "HEARTBEAT", pid: 10, step: 1, epoch: 0, time: 2 }); // resets the silence timer
    clock.increment(299);
    expect(top()).toBe("alive");
    clock.increment(1);
    expect(top()).toBe("suspect");
    actor.send({ type: "HEARTBEAT", pid: 10, step: 1, epoch: 0, time: 3 }); // recovers
    expect(top()).toBe("alive");
    clock.increment(300);
    expect(top()).toBe("suspect");
    clock.increment(500);
    expect(top()).toBe("failed");
    expect(calls).toContain("kill 10 SIGKILL");
    expect(actor.getSnapshot().context.death).toEqual({ kind: "silence", ms: 800 });
    expect(describeDeath(actor.getSnapshot().context.death!)).toMatch(/no heartbeat for 800 ms/);
  });

  it("suspends suspicion while the supervisor is disconnected from NATS", () => {
    const { actor, clock, top } = recordActor();
    actor.send({ type: "START" });
    actor.send({ type: "SPAWNED", pid: 10, host: "h" });
    actor.send({ type: "HEARTBEAT", pid: 10, step: 0, epoch: 0, time: 1 });
    actor.send({ type: "DISCONNECTED" });
    clock.increment(5000);
    expect(top()).toBe("alive");
    actor.send({ type: "RECONNECTED" });
    clock.increment(299);
    expect(top()).toBe("alive");
    clock.increment(1);
    expect(top()).toBe("suspect");
  });

  it("a process that never beats fails after the start timeout", () => {
    const { actor, clock, top } = recordActor();
    actor.send({ type: "START" });
    actor.send({ type: "SPAWNED", pid: 10, host: "h" });
    clock.increment(2000);
    expect(top()).toBe("failed");
    expect(actor.getSnapshot().context.death).toEqual({ kind: "start-timeout", ms: 2000 });
    expect(describeDeath(actor.getSnapshot().context.death!)).toMatch(/no heartbeat within 2000 ms/);
  });

  it("STOP makes it dead with the cause; RECYCLE revives it without counting a failure", () => {
    const { actor, clock, top, calls, errors } = recordActor();
    actor.send({ type: "START" });
    actor.send({ type: "SPAWNED", pid: 10, host: "h" });
    actor.send({ type: "STOP", cause: { kind: "stopped", by: "sup", reason: "job completed" } });
    expect(top()).toBe("dead");
    expect(describeDeath(actor.getSnapshot().context.death!)).toBe("job completed");
    expect(calls).toContain("kill 10 SIGKILL");
    actor.send({ type: "RECYCLE", reason: "operator", delayMs: 0 });
    clock.increment(0);
    expect(top()).toBe("starting");
    expect(calls.filter((c) => c.startsWith("failure"))).toHaveLength(0);
    expect(errors).toEqual([]);
  });
});

describe("worker and job lifecycles", () => {
  it("worker: boot, join, load, step, apply, commit; failure from anywhere", () => {
    const w = createActor(workerMachine).start();
    for (const type of ["BOOTED", "JOINED", "LOADED"] as const) w.send(type === "JOINED" ? { type, epoch: 2 } : { type });
    expect(w.getSnapshot().value).toBe("idle");
    w.send({ type: "STEP", step: 5, epoch: 2 });
    w.send({ type: "READY" });
    w.send({ type: "APPLY" });
    w.send({ type: "APPLIED" });
    expect(w.getSnapshot().value).toBe("idle");
    expect(w.getSnapshot().context.committed).toBe(5);
    w.send({ type: "STEP", step: 6, epoch: 2 });
    w.send({ type: "ABORT" });
    expect(w.getSnapshot().context.committed).toBe(5);
    w.send({ type: "FAIL", cause: "oom" });
    expect(w.getSnapshot().status).toBe("done");
    expect(w.getSnapshot().context.failure).toBe("oom");
  });

  it("job: training ⇄ recovering (a loss while restoring waits again), stopping, then completed", () => {
    const j = createActor(jobMachine).start();
    j.send({ type: "PROVISIONED" });
    expect(j.getSnapshot().hasTag("loading")).toBe(true);
    j.send({ type: "INITIALIZED" });
    j.send({ type: "STEP_COMMITTED", step: 0 });
    expect(j.getSnapshot().hasTag("loaded")).toBe(true);
    j.send({ type: "FAILURE", actorId: "w1", cause: "SIGKILL" });
    expect(j.getSnapshot().value).toEqual({ recovering: "waiting" });
    j.send({ type: "RESTORE" });
    expect(j.getSnapshot().matches({ recovering: "restoring" })).toBe(true);
    j.send({ type: "FAILURE", actorId: "w2", cause: "SIGKILL" });
    expect(j.getSnapshot().value).toEqual({ recovering: "waiting" });
    j.send({ type: "RESTORE" });
    j.send({ type: "RECOVERED" });
    expect(j.getSnapshot().value).toBe("training");
    j.send({ type: "STOPPING" });
    j.send({ type: "ESCALATE" }); // too late: the job is stopping
    expect(j.getSnapshot().value).toBe("stopping");
    j.send({ type: "FINISHED" });
    expect(j.getSnapshot().value).toBe("completed");
    expect(j.getSnapshot().context).toMatchObject({ committedStep: 0, recoveries: 2 });
  });

  it("job: an escalation remembers whether training had started, and ends in failed", () => {
    const loading = createActor(jobMachine).start();
    loading.send({ type: "PROVISIONED" });
    loading.send({ type: "ESCALATE" });
    expect(loading.getSnapshot().value).toEqual({ escalating: "loading" });
    const training = createActor(jobMachine).start();
    for (const type of ["PROVISIONED", "INITIALIZED", "CHECKPOINT"] as const) training.send({ type });
    training.send({ type: "ESCALATE" });
    expect(training.getSnapshot().value).toEqual({ escalating: "training" });
    training.send({ type: "FAILURE", actorId: "w1", cause: "SIGKILL" }); // no recovery starts
    training.send({ type: "INITIALIZED" });
    expect(training.getSnapshot().value).toEqual({ escalating: "training" });
    training.send({ type: "STOPPING" });
    training.send({ type: "GIVE_UP", cause: "restart intensity exceeded" });
    expect(training.getSnapshot().value).toBe("failed");
    expect(training.getSnapshot().context.failure).toBe("restart intensity exceeded");
  });
});

describe("timeouts, backoff and intensity", () => {
  it("refuses a broken timeout hierarchy with a message naming the pair", () => {
    expect(() => validateTimeouts({ heartbeatMs: 500, suspectMs: 400 })).toThrow(/heartbeatMs=500 is not below suspectMs=400/);
    expect(() => validateTimeouts({ killMs: 70_000 })).toThrow(/killMs=70000 is not below stepMs=60000/);
    expect(() => validateTimeouts({ heartbeatMs: 300, suspectMs: 500 })).toThrow(/two heartbeats/);
    expect(() => validateTimeouts({ heartbeatMs: -1 })).toThrow(ConfigError);
    expect(validateTimeouts().heartbeatMs).toBeLessThan(validateTimeouts().suspectMs);
  });

  it("backoff doubles up to the cap, jitter stays within its band", () => {
    const p = { initialMs: 100, maxMs: 1000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(p, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const j = { initialMs: 100, maxMs: 1000, jitter: 0.5 };
    expect(backoffDelay(j, 1, () => 0)).toBe(50);
    expect(backoffDelay(j, 1, () => 1)).toBe(150);
    for (let k = 0; k < 100; k++) {
      const d = backoffDelay(j, 3);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(600);
    }
    expect(() => validateBackoff({ initialMs: 10, maxMs: 5 })).toThrow(/maxMs=5 is below/);
    expect(() => validateIntensity({ periodMs: 0 })).toThrow(ConfigError);
  });

  it("intensity allows maxRestarts per sliding period", () => {
    const i = new RestartIntensity({ maxRestarts: 2, periodMs: 1000 });
    expect(i.allow(0)).toBe(true);
    expect(i.allow(100)).toBe(true);
    expect(i.allow(200)).toBe(false);
    const k = new RestartIntensity({ maxRestarts: 2, periodMs: 1000 });
    // 0 has left the window by 1100; 600 and 1100 are still in it at 1500
    expect([k.allow(0), k.allow(600), k.allow(1100), k.allow(1500)]).toEqual([true, true, true, false]);
    expect(k.allow(3000)).toBe(true);
  });
});
