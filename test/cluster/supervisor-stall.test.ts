// The observer's side: a supervisor whose own event loop is blocked for longer than killMs (a coordinator busy
// with synchronous work) must not kill children that kept beating meanwhile. After the stall Node runs the expired
// timers before it reads the queued heartbeats: the silence timer may make a child suspect, never failed.
import { afterEach, describe, expect, inject, it } from "vitest";
import { actorArgv, startTestCluster, type TestCluster } from "./harness.ts";

describe("supervisor stalled", { timeout: 90_000 }, () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("a blocked supervisor loop (3 × killMs) kills no child that kept beating", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      timeouts: { heartbeatMs: 100, suspectMs: 500, killMs: 1000 },
      children: [
        { id: "a", argv: actorArgv() },
        { id: "b", argv: actorArgv() },
      ],
    });
    const c = cluster;
    const before = [await c.waitFor("a", (r) => r.state === "alive"), await c.waitFor("b", (r) => r.state === "alive")];
    for (let round = 0; round < 2; round++) {
      const until = Date.now() + 3000;
      while (Date.now() < until); // the test process hosts the supervisor: block its loop
      await new Promise((r) => setTimeout(r, 1500)); // the queued heartbeats are read; no kill may follow
    }
    for (const b of before) {
      const now = await c.waitFor(b.id, (r) => r.state === "alive");
      expect(now.pid).toBe(b.pid);
      expect(now.restarts).toBe(0);
    }
    await c.supervisor.settled();
    for (const id of ["a", "b"]) {
      const path = (await c.events.readAll(id)).filter((e) => e.type === "actor.transition").map((e) => e.data.to);
      expect(path).not.toContain("failed");
    }
  });
});
