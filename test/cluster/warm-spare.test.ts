// Warm spares (runtime/agent/spare-pool.ts) with a real host agent, real processes and the test nats-server: a spawn
// of a command line that asked for spares is answered by the spare started ahead (its modules loaded before the
// request), with the identity of the request; exits of such actors are reported like any other; a different
// command line gets a fresh process; stopping the agent leaves no spare behind.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { KEEP_SPARE_ENV } from "../../runtime/agent/spare-pool.ts";
import { decode } from "../../runtime/codec.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { call } from "../../runtime/rpc.ts";
import { pollUntil } from "../../runtime/async.ts";
import type { ExitReport } from "../../runtime/types.ts";
import { startInProcessAgent } from "./harness.ts";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";

const main = path.resolve("test/cluster/fixtures/spare-actor.ts");
const argv = ["node", "--import", "tsx", main];

interface Said {
  actorId: string;
  epoch: string;
  extra?: string;
  spare: string | null;
  pid: number;
  loadedAt: number;
  identityAt: number;
}

/** Child processes of this process running the fixture. */
function fixtureChildren(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes(main)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Nice value of every thread of a process (/proc/<pid>/task/<tid>/stat, field 19). */
function niceValues(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

/** Waits for `f` to return something (the test's timeout bounds the whole test; this only names what was missing). */
const until = <T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 80_000): Promise<T> =>
  pollUntil(f, { what, timeoutMs: ms, everyMs: 20 });

describe("warm spares of the host agent", () => {
  const ns = namespace(`t${randomUUID().slice(0, 8)}`);
  let nc: NatsConnection;
  let agent: HostAgent;
  let registry: Registry;
  const exits: ExitReport[] = [];
  const said = new Map<string, Said>();
  const readyDir = mkdtempSync(path.join(os.tmpdir(), "troupe-spare-"));
  const loaded = (pid: number) => existsSync(path.join(readyDir, String(pid)));

  beforeAll(async () => {
    ({ nc, registry, agent } = await startInProcessAgent(inject("natsUrl"), ns, { name: "spareHost", slots: 4 }));
    nc.subscribe(ns.exitsFilter, { callback: (_e, m) => void exits.push(decode(m.data) as ExitReport) });
    nc.subscribe(`${ns.logSubject("x").slice(0, -2)}.>`, {
      callback: (_e, m) => {
        const line = new TextDecoder().decode(m.data);
        if (line.startsWith("{")) said.set(m.subject.split(".").at(-1)!, JSON.parse(line) as Said);
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await agent.stop(200);
    await nc.close();
    rmSync(readyDir, { recursive: true, force: true });
  });

  const spawnActor = async (actorId: string, env: Record<string, string>) => {
    const { pid } = (await call(nc, ns.agentSubject("spareHost", "spawn"), { actorId, argv, env })) as { pid: number };
    return { pid, said: await until(`${actorId} to print its identity`, () => said.get(actorId)) };
  };

  it("answers a spawn with the spare started ahead, with the request's identity", { timeout: 90_000 }, async () => {
    const first = await spawnActor("a1", { [KEEP_SPARE_ENV]: "1", TROUPE_EPOCH: "1", EXTRA: "one", READY_DIR: readyDir });
    expect(first.said).toMatchObject({ actorId: "a1", epoch: "1", extra: "one", spare: null, pid: first.pid });

    // the agent starts a spare of the same command line a little later, and its host record says so
    const spare = await until("a loaded spare", () => fixtureChildren().find((p) => p !== first.pid && loaded(p)));
    const published = await until("the host record to carry the spare", async () => {
      const rec = await registry.getHost("spareHost");
      return rec?.spares?.pids.includes(spare) ? rec.spares : undefined;
    });
    expect(published).toEqual({ ready: 1, target: 1, pids: [spare] });
    // it starts at the lowest priority, where the agent may give normal priority back (root here; otherwise normal)
    const privileged = process.getuid?.() === 0;
    expect(new Set(niceValues(spare))).toEqual(new Set([privileged ? 19 : 0]));
    const requestedAt = Date.now();
    const second = await spawnActor("a2", { [KEEP_SPARE_ENV]: "1", TROUPE_EPOCH: "2", EXTRA: "one", READY_DIR: readyDir });
    expect(second.pid).toBe(spare);
    expect(second.said).toMatchObject({ actorId: "a2", epoch: "2", extra: "one", spare: null, pid: spare });
    expect(second.said.loadedAt).toBeLessThan(requestedAt); // its modules were loaded before it was asked for
    expect(second.said.identityAt).toBeGreaterThanOrEqual(requestedAt);
    expect(new Set(niceValues(spare))).toEqual(new Set([0])); // a worker at normal priority, not a straggler

    // an actor that was a spare is killed and reported like any other
    await call(nc, ns.agentSubject("spareHost", "kill"), { actorId: "a2", signal: "SIGKILL", pid: spare });
    const exit = await until("a2's exit report", () => exits.find((x) => x.pid === spare));
    expect(exit).toMatchObject({ actorId: "a2", signal: "SIGKILL" });

    // another environment is another command line: a fresh process, not the next spare
    const next = await until("the next spare", () => fixtureChildren().find((p) => p !== first.pid && p !== spare));
    const other = await spawnActor("a3", { [KEEP_SPARE_ENV]: "1", TROUPE_EPOCH: "3", EXTRA: "two", READY_DIR: readyDir });
    expect(other.pid).not.toBe(next);
    expect(other.said).toMatchObject({ actorId: "a3", extra: "two" });
    expect(pidAlive(next)).toBe(true);

    await agent.stop(200);
    expect((await registry.getHost("spareHost"))?.spares).toEqual({ ready: 0, target: 0, pids: [] });
    for (const pid of [first.pid, next, other.pid]) await until(`pid ${pid} to be gone`, () => (pidAlive(pid) ? undefined : true), 10_000);
    expect(fixtureChildren()).toEqual([]);
  });
});
