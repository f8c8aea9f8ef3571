import { afterEach, describe, expect, inject, it } from "vitest";
import { actorArgv, startTestCluster, type TestCluster } from "./harness.ts";

// Real processes on a shared 2-core machine: allow for slow starts.
describe("kill -9 of an actor process", { timeout: 90_000 }, () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("one_for_one: failed → restarted → alive; the other actors keep their pids", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      strategy: "one_for_one",
      children: ["a0", "a1", "a2"].map((id, k) => ({ id, coords: { d: k }, argv: actorArgv() })),
    });
    const c = cluster;
    const seen: string[] = [];
    c.supervisor.onTransition((rec, from) => rec.id === "a1" && seen.push(`${from}>${rec.state}`));
    const before = await Promise.all(["a0", "a1", "a2"].map((id) => c.waitFor(id, (r) => r.state === "alive")));
    const victim = before[1]!;
    process.kill(victim.pid!, "SIGKILL");
    const back = await c.waitFor("a1", (r) => r.state === "alive" && r.pid !== victim.pid);
    expect(back.restarts).toBe(1);
    expect(back.deathCause).toBe("killed by SIGKILL");
    const after = await Promise.all(["a0", "a2"].map((id) => c.record(id)));
    expect(after.map((r) => [r.pid, r.state, r.restarts])).toEqual([
      [before[0]!.pid, "alive", 0],
      [before[2]!.pid, "alive", 0],
    ]);
    await c.supervisor.settled();
    const transitions = (await c.events.readAll("a1")).filter((e) => e.type === "actor.transition").map((e) => e.data.to);
    expect(transitions).toEqual(["pending", "starting", "alive", "failed", "restarting", "starting", "alive"]);
    expect(seen.slice(-4)).toEqual(["alive>failed", "failed>restarting", "restarting>starting", "starting>alive"]);
  });

  it("rest_for_one restarts the failed actor and those started after it, not those before", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      strategy: "rest_for_one",
      children: ["b0", "b1", "b2"].map((id) => ({ id, argv: actorArgv() })),
    });
    const c = cluster;
    const before = await Promise.all(["b0", "b1", "b2"].map((id) => c.waitFor(id, (r) => r.state === "alive")));
    process.kill(before[1]!.pid!, "SIGKILL");
    const b1 = await c.waitFor("b1", (r) => r.state === "alive" && r.pid !== before[1]!.pid);
    const b2 = await c.waitFor("b2", (r) => r.state === "alive" && r.pid !== before[2]!.pid);
    expect([b1.restarts, b2.restarts]).toEqual([1, 1]);
    const b0 = await c.record("b0");
    expect([b0.pid, b0.restarts]).toEqual([before[0]!.pid, 0]);
  });
});
