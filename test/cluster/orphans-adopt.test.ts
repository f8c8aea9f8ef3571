// A supervisor that dies leaves its children running (they belong to the host agent): started again with `adopt`,
// it takes them over as they are (same pids, no restart); never started again, its children are orphans the host
// agent stops after `orphanAfterMs`, each with an actor.orphaned event. Real nats-server, agent and processes.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, inject, it } from "vitest";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { pollUntil } from "../../runtime/async.ts";
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { Supervisor } from "../../runtime/supervisor.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import { actorArgv } from "./harness.ts";

const url = inject("natsUrl");
const ns = namespace(`orph${randomUUID().slice(0, 6)}`);
const logger = createRootLogger({ name: "test", level: "silent" });
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
});

/** A supervisor of two generic actors on its own NATS connection (closing it is the supervisor dying). */
async function supervisorOn(id: string) {
  const nc = await connectNats({ url, name: `sup-${id}` });
  const registry = await Registry.open(nc, ns);
  const events = await EventLog.open(nc, ns);
  const sup = new Supervisor(
    { nc, ns, registry, events, logger },
    {
      id,
      strategy: "one_for_one",
      intensity: validateIntensity(),
      backoff: validateBackoff({ initialMs: 20, maxMs: 200, jitter: 0.1 }),
      timeouts: validateTimeouts({ heartbeatMs: 100, suspectMs: 1000, killMs: 2500, stepMs: 60_000, startMs: 30_000 }),
      children: ["a", "b"].map((c) => ({ id: `${id}-${c}`, argv: actorArgv() })),
    },
  );
  return { nc, sup, registry };
}

describe("supervisors that die", () => {
  it("started again with adopt, a supervisor takes its running children over: same pids, no restart", { timeout: 120_000 }, async () => {
    const agentNc = await connectNats({ url, name: "agent" });
    const agent = new HostAgent({
      nc: agentNc,
      ns,
      registry: await Registry.open(agentNc, ns),
      events: await EventLog.open(agentNc, ns),
      logger,
      name: "h1",
      slots: 8,
      natsUrl: url,
      orphanAfterMs: 4000,
    });
    await agent.start();
    closers.push(
      () => agentNc.close(),
      () => agent.stop(),
    ); // run in reverse: stop, then close

    const first = await supervisorOn("adopter");
    await first.sup.start();
    const alive = async (r: Registry) =>
      pollUntil(
        async () => {
          const recs = await Promise.all(["adopter-a", "adopter-b"].map((id) => r.getActor(id)));
          return recs.every((x) => x?.state === "alive") ? recs.map((x) => x!.pid) : undefined;
        },
        { what: "both children alive", timeoutMs: 60_000, everyMs: 100 },
      );
    const pids = await alive(first.registry);
    await first.nc.close(); // the supervisor's process is gone; its children keep running

    const second = await supervisorOn("adopter");
    closers.push(
      () => second.nc.close(),
      () => second.sup.stop("test over"),
    );
    await second.sup.start({ adopt: true });
    expect(second.sup.snapshot("adopter-a").value).toBe("alive");
    expect(await alive(second.registry)).toEqual(pids);
    // they keep beating to the new supervisor: still alive, same pids, well past the kill timeout and the orphan time
    await new Promise((r) => setTimeout(r, 6000));
    for (const id of ["adopter-a", "adopter-b"]) {
      const rec = await second.registry.getActor(id);
      expect(rec).toMatchObject({ state: "alive", restarts: 0 });
    }
    expect(await alive(second.registry)).toEqual(pids);
  });

  it("never started again, its children are stopped by the host agent as orphans", { timeout: 120_000 }, async () => {
    const gone = await supervisorOn("vanished");
    await gone.sup.start();
    const pids = await pollUntil(
      async () => {
        const recs = await Promise.all(["vanished-a", "vanished-b"].map((id) => gone.registry.getActor(id)));
        return recs.every((x) => x?.state === "alive") ? recs.map((x) => x!.pid!) : undefined;
      },
      { what: "both children alive", timeoutMs: 60_000, everyMs: 100 },
    );
    await gone.nc.close();
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(pids.every(alive)).toBe(true);
    await pollUntil(() => (pids.some(alive) ? undefined : true), { what: "the orphans stopped", timeoutMs: 60_000, everyMs: 200 });
    const watcher = await connectNats({ url, name: "watcher" });
    closers.push(() => watcher.close());
    const orphaned = (await (await EventLog.open(watcher, ns)).readAll()).filter((e) => e.type === "actor.orphaned");
    expect(orphaned.map((e) => e.subject).sort()).toEqual(["vanished-a", "vanished-b"]);
    expect(orphaned[0]!.data).toMatchObject({ supervisor: "vanished", host: "h1" });
  });
});
