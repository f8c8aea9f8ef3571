import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { actorArgv, startTestCluster, type TestCluster } from "./harness.ts";

// Real processes on a shared 2-core machine: allow for slow starts.
describe("nats-server killed and restarted on the same port and store", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-nats-restart-"));
  let server: NatsServerHandle | undefined;
  let cluster: TestCluster | undefined;
  afterAll(async () => {
    await cluster?.stop().catch(() => undefined);
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("clients reconnect, no actor is restarted, KV and events are intact", async () => {
    server = await startNatsServer({ dir });
    cluster = await startTestCluster({
      url: server.url,
      // suspect well above the clients' reconnect time on a loaded machine (a reconnect re-arms the timer)
      timeouts: { heartbeatMs: 100, suspectMs: 4000, killMs: 8000 },
      children: ["n0", "n1"].map((id) => ({ id, argv: actorArgv() })),
    });
    const c = cluster;
    const before = await Promise.all(["n0", "n1"].map((id) => c.waitFor(id, (r) => r.state === "alive")));
    await c.supervisor.settled();
    const eventsBefore = await c.events.readAll();
    const historyBefore = await c.registry.actorHistory("n0");

    const port = server.port;
    server.process.kill("SIGKILL");
    await new Promise((r) => server!.process.once("exit", r));
    await new Promise((r) => setTimeout(r, 1000));
    server = await startNatsServer({ dir, port });

    // every actor beats again, from the same process
    const after = await Promise.all(
      before.map((b) => c.waitFor(b.id, (r) => r.state === "alive" && (r.lastHeartbeat ?? 0) > Date.now() - 1000, 15_000)),
    );
    expect(after.map((r) => [r.pid, r.restarts])).toEqual(before.map((b) => [b.pid, 0]));
    expect(c.statuses).toContain("disconnected");
    expect(c.statuses).toContain("reconnected");
    await new Promise((r) => setTimeout(r, 4500)); // longer than suspect: nobody is suspected late
    for (const id of ["n0", "n1"]) expect((await c.record(id)).state).toBe("alive");

    await c.supervisor.settled();
    const eventsAfter = await c.events.readAll();
    expect(eventsAfter.slice(0, eventsBefore.length)).toEqual(eventsBefore);
    expect(eventsAfter.filter((e) => e.type === "actor.transition" && e.data.to !== "alive" && e.time > before[0]!.updatedAt)).toEqual([]);
    // KV survived the restart: the record history continues from before, with no write lost
    const historyAfter = (await c.registry.actorHistory("n0")).map((r) => r.seq);
    expect(historyAfter[0]).toBeLessThanOrEqual(historyBefore.at(-1)!.seq + 1);
    expect(historyAfter).toEqual(historyAfter.map((_, k) => historyAfter[0]! + k));
    expect((await c.registry.listHosts()).map((h) => h.name)).toEqual(["h1"]);

    // An actor dying during an outage: its exit report is held and delivered after reconnect
    // (the cause says SIGKILL; a heartbeat timeout would say "no heartbeat").
    const n1 = await c.record("n1");
    server.process.kill("SIGKILL");
    await new Promise((r) => server!.process.once("exit", r));
    process.kill(n1.pid!, "SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    server = await startNatsServer({ dir, port });
    const back = await c.waitFor("n1", (r) => r.state === "alive" && r.pid !== n1.pid, 20_000);
    expect(back.deathCause).toBe("killed by SIGKILL");
    expect((await c.record("n0")).pid).toBe(before[0]!.pid);
  });
});
