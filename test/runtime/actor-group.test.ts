// The actor group against real parts: a nats-server, a host agent in this process and generic actor processes
// (cli/cluster/generic-actor.ts). A request to a member that dies fails at once with the typed cause; the epoch
// reaches members started after it moved; waits read the members' lifecycle records from KV.
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, inject, it } from "vitest";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { connectNats } from "../../runtime/connection.ts";
import type { DeathCause } from "../../runtime/death-cause.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { ActorGroup, type GroupMember } from "../../runtime/group/actor-group.ts";
import { EpochMovedError, MemberLostError, NotReachedError } from "../../runtime/group/errors.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { actorArgv } from "../cluster/harness.ts";

interface GenericProtocol {
  ping: { req: { type: "ping" }; reply: { pid: number; step: number; epoch: number } };
  /** Served by nobody: asked again until its deadline, so it stays in flight. */
  nothing: { req: object; reply: never };
}

type Member = GroupMember<{ index: number }>;

async function startGroup(epoch: number) {
  const url = inject("natsUrl");
  const ns = namespace(`t${randomUUID().slice(0, 8)}`);
  const nc = await connectNats({ url, name: "actor-group-test" });
  const logger = createRootLogger({ name: "test", level: "warn" });
  const registry = await Registry.open(nc, ns);
  const events = await EventLog.open(nc, ns);
  const agent = new HostAgent({ nc, ns, registry, events, logger, name: "h1", slots: 4, natsUrl: url });
  await agent.start();
  const members: Member[] = [0, 1].map((index) => ({ id: `g${index}`, coords: { index } }));
  const group = new ActorGroup<Member["coords"], GenericProtocol>(
    { nc, ns, registry, events, logger },
    {
      id: "grp",
      members,
      start: (m) => ({ argv: actorArgv(), coords: { g: m.coords.index } }),
      strategy: "one_for_one",
      intensity: { maxRestarts: 5, periodMs: 60_000 },
      backoff: { initialMs: 20, maxMs: 200, jitter: 0.1 },
      timeouts: { heartbeatMs: 100, suspectMs: 1000, killMs: 2500, stepMs: 60_000, startMs: 30_000 },
      subject: (id, verb) => (verb === "ping" ? ns.actorCommandSubject(id) : `troupe.${ns.clusterId}.nothing.${id}`),
      epoch,
      retry: { verbs: new Set(["nothing"]), attemptMs: 200 },
      probe: { verb: "ping", req: { type: "ping" } },
      lifecycleKind: "worker",
    },
  );
  const lost: [string, DeathCause, string][] = [];
  group.onLost((m, death, state) => lost.push([m.id, death, state]));
  await group.start();
  const alive = (m: Member) => group.waitForRecord(m, ["alive"], { deadline: Date.now() + 45_000 });
  await Promise.all(members.map(alive));
  const stop = async () => {
    await group.stop("test finished");
    await agent.stop(500);
    await nc.drain().catch(() => undefined);
  };
  return { group, members, lost, alive, stop, nc, ns, lifecycles: await LifecycleStore.open(nc, ns) };
}

describe("actor group", { timeout: 90_000 }, () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it("a request to a member that dies fails at once with the typed cause; its replacement starts in the moved epoch", async () => {
    const g = await startGroup(3);
    stop = g.stop;
    const [m0, m1] = g.members as [Member, Member];
    expect((await g.group.ask(m0, "ping", { type: "ping" })).epoch).toBe(3);
    const pid = g.group.record(m1).pid!;
    const inFlight = g.group.ask(m1, "nothing", {}, { timeoutMs: 60_000 });
    inFlight.catch(() => undefined);
    // as a job's policy does: the loss moves the epoch on before the requests it breaks fail
    const epochs: number[] = [];
    g.group.onLost(() => epochs.push(g.group.bumpEpoch()));
    const t0 = Date.now();
    process.kill(pid, "SIGKILL");
    const err = await inFlight.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MemberLostError);
    expect((err as MemberLostError).death).toEqual({ kind: "signal", signal: "SIGKILL" });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(g.lost).toEqual([["g1", { kind: "signal", signal: "SIGKILL" }, "failed"]]);
    expect(epochs).toEqual([4]);
    // the supervisor restarted it (one_for_one) with the epoch of now; the other member still runs in its own
    await g.group.waitForRecord(m1, ["alive"], { deadline: Date.now() + 45_000 });
    expect(g.group.record(m1)).toMatchObject({ restarts: 1, death: { kind: "signal", signal: "SIGKILL" } });
    expect(g.group.record(m1).pid).not.toBe(pid);
    expect((await g.group.ask(m1, "ping", { type: "ping" })).epoch).toBe(4);
    // settle: every running member answers (or is lost) before it returns
    await g.group.settle(g.members, { deadlineMs: 5000 });
  });

  it("waitFor takes the lifecycle record of the process the supervisor started, in the epoch asked for", async () => {
    const g = await startGroup(1);
    stop = g.stop;
    const [m0] = g.members as [Member];
    const record = (value: string, epoch: number, pid: number) => ({
      kind: "worker",
      id: m0.id,
      value,
      context: { epoch },
      status: "active",
      pid,
      seq: 1,
      updatedAt: Date.now(),
    });
    const pid = g.group.record(m0).pid!;
    let reached: string | undefined;
    const idle = g.group
      .waitFor(m0, "idle", { epoch: 1, deadline: Date.now() + 30_000 })
      .then((r) => (reached = `${String(r.value)} ${r.pid}`));
    // a record left by another process (one being replaced, or a previous run's) does not count; neither does another epoch
    await g.lifecycles.put(record("idle", 1, pid + 100_000));
    await g.lifecycles.put(record("idle", 0, pid));
    await g.lifecycles.put(record("loading", 1, pid));
    await new Promise((r) => setTimeout(r, 300));
    expect(reached).toBeUndefined();
    await g.lifecycles.put(record("idle", 1, pid));
    await idle;
    expect(reached).toBe(`idle ${pid}`);
    // a wait in an epoch the group moved on from ends with EpochMovedError; one past its deadline names the last state
    const restoring = g.group.waitFor(m0, "restoring", { epoch: 1, deadline: Date.now() + 30_000 });
    g.group.bumpEpoch();
    await expect(restoring).rejects.toBeInstanceOf(EpochMovedError);
    await expect(g.group.waitFor(m0, "restoring", { deadline: Date.now() + 200 })).rejects.toThrow(
      new NotReachedError("g0", "restoring", "idle"),
    );
  });
});
