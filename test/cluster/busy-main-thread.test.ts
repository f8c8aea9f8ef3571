// An actor whose main thread is busy for longer than the kill timeout (long synchronous loading on a loaded
// machine) is not hung: its heartbeat thread keeps beating, it stays alive with the same pid. A main thread
// stalled past the step timeout is taken as hung, and a frozen process (SIGSTOP) is still killed.
import path from "node:path";
import { afterEach, describe, expect, inject, it } from "vitest";
import { repoRoot, startTestCluster, type TestCluster } from "./harness.ts";

const busyActor = path.join(repoRoot, "test/cluster/fixtures/busy-actor.ts");
const busyArgv = (afterMs: number, forMs: number) => [
  "node",
  "--import",
  "tsx",
  busyActor,
  "--busy-after",
  String(afterMs),
  "--busy-for",
  String(forMs),
];

describe("busy main thread", { timeout: 120_000 }, () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("a main thread busy for longer than killMs is not killed; a SIGSTOPped sibling is", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      timeouts: { heartbeatMs: 100, suspectMs: 600, killMs: 1500, stepMs: 60_000 },
      children: [
        { id: "busy", argv: busyArgv(3000, 5000) },
        { id: "frozen", argv: busyArgv(600_000, 1) },
      ],
    });
    const c = cluster;
    const busy = await c.waitFor("busy", (r) => r.state === "alive");
    const frozen = await c.waitFor("frozen", (r) => r.state === "alive");
    // both heartbeat threads are beating before the stretch starts (the busy actor waits 3 s on a loaded machine)
    process.kill(frozen.pid!, "SIGSTOP");
    try {
      const back = await c.waitFor("frozen", (r) => r.state === "alive" && r.pid !== frozen.pid);
      expect(back.deathCause).toMatch(/no heartbeat for 1500 ms \(hung\); killed/);
    } finally {
      try {
        process.kill(frozen.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
    // the busy stretch (5 s, over three times killMs) has ended once the step set after it shows up
    const after = await c.waitFor("busy", (r) => r.step === 1, 60_000);
    expect(after.pid).toBe(busy.pid);
    expect(after.state).toBe("alive");
    await c.supervisor.settled();
    const path = (await c.events.readAll("busy")).filter((e) => e.type === "actor.transition").map((e) => e.data.to);
    expect(path).not.toContain("failed");
  });

  it("a main thread stalled for longer than stepMs is taken as hung and killed", async () => {
    cluster = await startTestCluster({
      url: inject("natsUrl"),
      timeouts: { heartbeatMs: 100, suspectMs: 600, killMs: 1500, stepMs: 2000 },
      children: [{ id: "stuck", argv: busyArgv(3000, 600_000) }],
    });
    const c = cluster;
    const stuck = await c.waitFor("stuck", (r) => r.state === "alive");
    const back = await c.waitFor("stuck", (r) => r.state === "alive" && r.pid !== stuck.pid, 60_000);
    expect(back.deathCause).toMatch(/no heartbeat for 1500 ms \(hung\); killed/);
  });
});
