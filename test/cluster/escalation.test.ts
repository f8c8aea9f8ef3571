import { afterEach, describe, expect, inject, it } from "vitest";
import { RestartingParent } from "../../runtime/escalation.ts";
import { actorArgv, startTestCluster, type TestCluster } from "./harness.ts";

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 80_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Real processes on a shared 2-core machine: allow for slow starts.
describe("crash loops escalate", { timeout: 90_000 }, () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("a child crashing on start is restarted with growing backoff, then the supervisor escalates", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      intensity: { maxRestarts: 3, periodMs: 30_000 },
      backoff: { initialMs: 40, maxMs: 1000, jitter: 0.1 },
      children: [
        { id: "steady", argv: actorArgv() },
        { id: "crasher", argv: actorArgv("--crash-on-start", "3") },
      ],
    });
    const c = cluster;
    const dead = await c.waitFor("crasher", (r) => r.state === "dead");
    expect(dead.restarts).toBe(3);
    expect(dead.deathCause).toMatch(/restart intensity exceeded \(more than 3 restarts in 30000 ms\)/);
    expect(dead.deathCause).toMatch(/exited with code 3: generic actor: crashing on start as asked/);
    // OTP: the supervisor gives up on all its children, with the reason
    const steady = await c.waitFor("steady", (r) => r.state === "dead");
    expect(steady.deathCause).toMatch(/escalated after crasher failed/);
    await c.supervisor.settled();
    const events = await c.events.readAll();
    const restarts = events.filter((e) => e.type === "supervisor.restart").map((e) => e.data.delayMs as number);
    expect(restarts).toHaveLength(3);
    // 40, 80, 160 ms ± 10 %
    expect(restarts[0]).toBeGreaterThanOrEqual(36);
    expect(restarts[0]).toBeLessThanOrEqual(44);
    expect(restarts[2]).toBeGreaterThanOrEqual(144);
    expect(restarts[2]).toBeLessThanOrEqual(176);
    const escalated = events.find((e) => e.type === "supervisor.escalated");
    expect(escalated?.data.cause).toMatch(/crashing on start/);
    const decided = events.find((e) => e.type === "supervisor.escalation-decided");
    expect(decided?.data).toMatchObject({ decision: "stop", by: "none (root supervisor)" });
    expect(c.supervisor.state).toBe("stopped");
  });

  it("the parent's decision is recorded: restart once, then stop", async () => {
    const parent = new RestartingParent("job", { maxRestarts: 1, periodMs: 60_000 });
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      intensity: { maxRestarts: 1, periodMs: 30_000 },
      backoff: { initialMs: 10, maxMs: 100, jitter: 0 },
      parent,
      children: [{ id: "crasher", argv: actorArgv("--crash-on-start", "2") }],
    });
    const c = cluster;
    const decisions = await until(
      async () => (await c.events.readAll()).filter((e) => e.type === "supervisor.escalation-decided").map((e) => e.data.decision),
      (d) => d.length >= 2,
    );
    expect(decisions).toEqual(["restart", "stop"]);
    expect(parent.received).toHaveLength(2);
    expect(parent.received[0]!.from).toBe("sup");
    const dead = await c.waitFor("crasher", (r) => r.state === "dead");
    expect(dead.deathCause).toMatch(/escalated to job/);
  });
});

// Real processes on a shared 2-core machine: allow for slow starts.
describe("one_for_all", { timeout: 90_000 }, () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("restarts every child when one dies", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      strategy: "one_for_all",
      children: ["c0", "c1"].map((id) => ({ id, argv: actorArgv() })),
    });
    const c = cluster;
    const before = await Promise.all(["c0", "c1"].map((id) => c.waitFor(id, (r) => r.state === "alive")));
    process.kill(before[0]!.pid!, "SIGKILL");
    const after = await Promise.all(before.map((b) => c.waitFor(b.id, (r) => r.state === "alive" && r.pid !== b.pid)));
    expect(after.map((r) => r.restarts)).toEqual([1, 1]);
    expect(after[1]!.deathCause).toBeNull(); // recycled, not failed
  });
});
