// Whole-host loss told apart from a hung actor (runtime/supervisor-host-probe.ts), for real: a real nats-server, a
// host agent in its own process (`troupe agent`) running a real generic actor, a second agent (in this process) as
// the spare host, and a supervisor here. Host lost: the remote agent and its child are frozen (SIGSTOP: nothing
// answers, nothing exits, the TCP connections stay open: what a host cut off or powered off looks like from NATS) or
// SIGKILLed together; the supervisor declares the child `host-lost` well before the kill timeout and starts its
// replacement on the spare host. Host live: only the child is frozen; its agent answers, so the child is taken for
// dead by the kill timeout alone (`silence`), never `host-lost`.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { pollUntil } from "../../runtime/async.ts";
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import { connectNats } from "../../runtime/connection.ts";
import type { DeathCause } from "../../runtime/death-cause.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { Supervisor } from "../../runtime/supervisor.ts";
import { HOST_PROBE_MS, probeAgent } from "../../runtime/supervisor-host-probe.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import { bin } from "../multihost/netns.ts";
import { actorArgv } from "./harness.ts";

const url = inject("natsUrl");
const logger = createRootLogger({ name: "test", level: "silent" });
const KILL_MS = 12_000;
const SUSPECT_MS = 600;
const closers: (() => Promise<unknown>)[] = [];
const frozen = new Set<number>();

const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
};

afterEach(async () => {
  for (const pid of frozen) {
    signal(pid, "SIGKILL");
    signal(pid, "SIGCONT");
  }
  frozen.clear();
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(() => {
  for (const pid of frozen) signal(pid, "SIGKILL");
});

/** A host agent process (`troupe agent`) named `name` in cluster `clusterId`; resolves once its record is written. */
async function agentProcess(clusterId: string, name: string, registry: Registry): Promise<ChildProcess> {
  const p = spawn(process.execPath, [bin, "agent", "--nats", url, "--cluster-id", clusterId, "--name", name, "--slots", "2"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  p.stderr!.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  closers.push(async () => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    p.kill("SIGKILL");
  });
  await pollUntil(
    async () => {
      if (p.exitCode !== null) throw new Error(`agent ${name} exited (${p.exitCode}): ${err}`);
      return (await registry.getHost(name)) ? true : undefined;
    },
    { what: `agent ${name} registered`, timeoutMs: 60_000, everyMs: 100 },
  );
  return p;
}

/** A cluster of its own: the remote agent process, a spare agent here, and a supervisor of one child pinned to remote. */
async function setup() {
  const clusterId = `hl${randomUUID().slice(0, 6)}`;
  const ns = namespace(clusterId);
  const nc: NatsConnection = await connectNats({ url, name: "host-lost-test" });
  closers.push(() => nc.close());
  const registry = await Registry.open(nc, ns);
  const events = await EventLog.open(nc, ns);
  const remote = await agentProcess(clusterId, "remote", registry);
  const spareNc = await connectNats({ url, name: "spare-agent" });
  const spare = new HostAgent({ nc: spareNc, ns, registry, events, logger, name: "spare", slots: 2, natsUrl: url });
  await spare.start();
  closers.push(
    () => spareNc.close(),
    () => spare.stop(500),
  );
  const sup = new Supervisor(
    { nc, ns, registry, events, logger },
    {
      id: "sup",
      strategy: "one_for_one",
      intensity: validateIntensity({ maxRestarts: 5, periodMs: 60_000 }),
      backoff: validateBackoff({ initialMs: 20, maxMs: 200, jitter: 0.1 }),
      timeouts: validateTimeouts({ heartbeatMs: 100, suspectMs: SUSPECT_MS, killMs: KILL_MS, stepMs: 60_000, startMs: 60_000 }),
      children: [{ id: "w", argv: actorArgv(), host: "remote" }],
    },
  );
  const deaths: { cause: DeathCause; at: number }[] = [];
  sup.onTransition((rec, _from, death) => {
    if (rec.state === "failed" && death) deaths.push({ cause: death, at: Date.now() });
  });
  await sup.start();
  closers.push(() => sup.stop("test finished"));
  const first = await pollUntil(
    async () => {
      const r = await registry.getActor("w");
      return r?.state === "alive" && r.pid !== null ? r : undefined;
    },
    { what: "w alive on remote", timeoutMs: 90_000, everyMs: 50 },
  );
  expect(first.host).toBe("remote");
  return { nc, ns, registry, remote, childPid: first.pid!, deaths };
}

describe("a suspect's host probed", () => {
  it(
    "host frozen (agent and child SIGSTOPped): host-lost well before the kill timeout, replaced on the spare host",
    { timeout: 180_000 },
    async () => {
      const c = await setup();
      const at = Date.now();
      for (const pid of [c.remote.pid!, c.childPid]) {
        frozen.add(pid);
        signal(pid, "SIGSTOP");
      }
      const death = await pollUntil(() => c.deaths[0], { what: "w failed", timeoutMs: KILL_MS + 10_000, everyMs: 20 });
      expect(death.cause).toMatchObject({ kind: "host-lost", host: "remote", probeMs: HOST_PROBE_MS });
      // suspect after SUSPECT_MS of silence, then one probe: far below the kill timeout even on a loaded machine
      expect(death.at - at).toBeLessThan(KILL_MS / 2);
      const back = await pollUntil(
        async () => {
          const r = await c.registry.getActor("w");
          return r?.state === "alive" && r.pid !== c.childPid ? r : undefined;
        },
        { what: "w replaced", timeoutMs: 90_000, everyMs: 50 },
      );
      expect(back.host).toBe("spare");
    },
  );

  it("host powered off (agent and child SIGKILLed): host-lost, no exit report needed", { timeout: 180_000 }, async () => {
    const c = await setup();
    const at = Date.now();
    signal(c.remote.pid!, "SIGKILL");
    signal(c.childPid, "SIGKILL");
    const death = await pollUntil(() => c.deaths[0], { what: "w failed", timeoutMs: KILL_MS + 10_000, everyMs: 20 });
    expect(death.cause).toMatchObject({ kind: "host-lost", host: "remote" });
    expect(death.at - at).toBeLessThan(KILL_MS / 2);
  });

  it(
    "child frozen on a live host: its agent answers, so only the kill timeout takes it (silence), never host-lost",
    { timeout: 180_000 },
    async () => {
      const c = await setup();
      frozen.add(c.childPid);
      signal(c.childPid, "SIGSTOP");
      const at = Date.now();
      await pollUntil(async () => ((await c.registry.getActor("w"))?.state === "suspect" ? true : undefined), {
        what: "w suspect",
        timeoutMs: 20_000,
        everyMs: 20,
      });
      expect(await probeAgent(c.nc, c.ns, "remote")).toEqual({ kind: "answered" });
      const death = await pollUntil(() => c.deaths[0], { what: "w failed", timeoutMs: KILL_MS + 20_000, everyMs: 20 });
      expect(death.cause).toEqual({ kind: "silence", ms: KILL_MS });
      expect(death.at - at).toBeGreaterThanOrEqual(KILL_MS - 500);
    },
  );
});
