import { afterEach, describe, expect, inject, it } from "vitest";
import { actorArgv, startTestCluster, type TestCluster } from "./harness.ts";

// Real processes on a shared 2-core machine: allow for slow starts.
describe("hung actor (SIGSTOP)", { timeout: 90_000 }, () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("is suspected after missed heartbeats, killed, and restarted", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      timeouts: { heartbeatMs: 100, suspectMs: 500, killMs: 1500 },
      children: [
        { id: "sleepy", argv: actorArgv() },
        { id: "other", argv: actorArgv() },
      ],
    });
    const c = cluster;
    const alive = await c.waitFor("sleepy", (r) => r.state === "alive");
    const other = await c.waitFor("other", (r) => r.state === "alive");
    const stoppedAt = Date.now();
    process.kill(alive.pid!, "SIGSTOP");
    try {
      const back = await c.waitFor("sleepy", (r) => r.state === "alive" && r.pid !== alive.pid);
      expect(back.deathCause).toMatch(/no heartbeat for 1500 ms \(hung\); killed/);
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(1500);
      await c.supervisor.settled();
      const path = (await c.events.readAll("sleepy")).filter((e) => e.type === "actor.transition").map((e) => e.data.to);
      expect(path.slice(2)).toEqual(["alive", "suspect", "failed", "restarting", "starting", "alive"]);
      const exit = (await c.events.readAll("sleepy")).find((e) => e.type === "process.exited");
      expect(exit?.data).toMatchObject({ pid: alive.pid, signal: "SIGKILL" });
      expect((await c.record("other")).pid).toBe(other.pid);
    } finally {
      try {
        process.kill(alive.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
});
