// Standby spares (runtime/agent/spare-pool.ts STANDBY_ENV, asked by supervisors for failover hosts:
// runtime/supervisor-standby.ts) with a real host agent, real processes and the test nats-server: a standby request
// starts that many spares of a command line no actor of which has run on the host, nothing as an actor; spawns of
// the line take them (modules loaded before the request); without renewal they go when the lease ends; a program
// the agent would not start is refused for standby as for a spawn.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { KEEP_SPARE_ENV, STANDBY_ENV } from "../../runtime/agent/spare-pool.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { call } from "../../runtime/rpc.ts";
import { pollUntil } from "../../runtime/async.ts";
import { startInProcessAgent } from "./harness.ts";

const main = path.resolve("test/cluster/fixtures/spare-actor.ts");
const argv = ["node", "--import", "tsx", main];

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

const until = <T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 80_000): Promise<T> =>
  pollUntil(f, { what, timeoutMs: ms, everyMs: 20 });

describe("standby spares of the host agent", () => {
  const ns = namespace(`t${randomUUID().slice(0, 8)}`);
  let nc: NatsConnection;
  let agent: HostAgent;
  let registry: Registry;
  const said = new Map<string, { pid: number; loadedAt: number; actorId: string }>();
  const readyDir = mkdtempSync(path.join(os.tmpdir(), "troupe-standby-"));
  const loaded = (pid: number) => existsSync(path.join(readyDir, String(pid)));

  beforeAll(async () => {
    ({ nc, registry, agent } = await startInProcessAgent(inject("natsUrl"), ns, { name: "failover", slots: 4 }));
    nc.subscribe(`${ns.logSubject("x").slice(0, -2)}.>`, {
      callback: (_e, m) => {
        const line = new TextDecoder().decode(m.data);
        if (line.startsWith("{"))
          said.set(m.subject.split(".").at(-1)!, JSON.parse(line) as { pid: number; loadedAt: number; actorId: string });
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await agent.stop(200);
    await nc.close();
    rmSync(readyDir, { recursive: true, force: true });
  });

  const env = (extra: string, more: Record<string, string> = {}) => ({ [KEEP_SPARE_ENV]: "1", EXTRA: extra, READY_DIR: readyDir, ...more });
  const standby = (extra: string, count: number, leaseMs: number, program = argv) =>
    call(nc, ns.agentSubject("failover", "spawn"), {
      actorId: "w0",
      argv: program,
      env: env(extra, { [STANDBY_ENV]: `${count}:${leaseMs}` }),
    });

  it("keeps the spares asked for, hands them to the spawns of the line, and starts no actor", { timeout: 120_000 }, async () => {
    expect(await standby("one", 2, 60_000)).toEqual({ standby: 2 });
    const spares = await until("two loaded spares", () => {
      const pids = fixtureChildren().filter(loaded);
      return pids.length === 2 ? pids : undefined;
    });
    expect((await registry.getHost("failover"))?.running).toEqual([]);
    const requestedAt = Date.now();
    const taken: number[] = [];
    for (const id of ["w2", "w3"]) {
      const { pid } = (await call(nc, ns.agentSubject("failover", "spawn"), { actorId: id, argv, env: env("one") })) as { pid: number };
      taken.push(pid);
      const s = await until(`${id} to print its identity`, () => said.get(id));
      expect(s).toMatchObject({ actorId: id, pid });
      expect(s.loadedAt).toBeLessThan(requestedAt);
    }
    expect(taken.sort()).toEqual(spares.sort());
    for (const id of ["w2", "w3"]) await call(nc, ns.agentSubject("failover", "kill"), { actorId: id, signal: "SIGKILL" });
  });

  it("lets standby spares go once their lease ends without renewal", { timeout: 120_000 }, async () => {
    const before = new Set(fixtureChildren());
    // renewed (as a supervisor does every round) until the spare is loaded, then no more
    const renew = setInterval(() => void standby("two", 1, 3000).catch(() => undefined), 1000);
    try {
      await standby("two", 1, 3000);
      await until("the standby spare", () => fixtureChildren().find((p) => !before.has(p) && loaded(p)));
    } finally {
      clearInterval(renew);
    }
    const spare = fixtureChildren().find((p) => !before.has(p) && loaded(p))!;
    await until("the spare gone after its lease", () => (fixtureChildren().includes(spare) ? undefined : true), 30_000);
  });

  it("refuses a standby for a program it would not start, and starts nothing", async () => {
    const before = fixtureChildren().length;
    await expect(standby("three", 1, 60_000, ["/bin/sh", "-c", "sleep 100"])).rejects.toThrow(/refused|not allowed|troupe/i);
    expect(fixtureChildren().length).toBe(before);
  });
});
