import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { decode } from "../../runtime/codec.ts";
import type { ExitReport } from "../../runtime/types.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { call } from "../../runtime/rpc.ts";
import { pollUntil } from "../../runtime/async.ts";
import { childArgv, startInProcessAgent } from "./harness.ts";

describe("host agent", () => {
  const ns = namespace(`t${randomUUID().slice(0, 8)}`);
  let nc: NatsConnection;
  let agent: HostAgent;
  let registry: Registry;
  const exits: ExitReport[] = [];

  beforeAll(async () => {
    ({ nc, registry, agent } = await startInProcessAgent(inject("natsUrl"), ns, { name: "hostA", slots: 4, tier: "rack1" }));
    nc.subscribe(ns.exitsFilter, { callback: (_e, m) => void exits.push(decode(m.data) as ExitReport) });
  });
  afterAll(async () => {
    await agent.stop(200);
    await nc.close();
  });

  const exitOf = (pid: number) =>
    pollUntil(() => exits.find((x) => x.pid === pid), { what: `exit report of pid ${pid}`, timeoutMs: 25_000, everyMs: 10 });

  it("registers its host with name, slots and tier", async () => {
    expect(await registry.getHost("hostA")).toMatchObject({ name: "hostA", slots: 4, tier: "rack1", pid: process.pid });
  });

  it("spawns on request and reports an exit code with the stderr tail", async () => {
    const r = (await call(nc, ns.agentSubject("hostA", "spawn"), {
      actorId: "x1",
      argv: childArgv("--stderr", "bad things", "--exit", "7"),
      env: {},
    })) as { pid: number };
    const exit = await exitOf(r.pid);
    expect(exit).toMatchObject({ actorId: "x1", host: "hostA", code: 7, signal: null });
    expect(exit.stderrTail).toMatch(/bad things/);
  });

  it("kills on request (only the pid asked for) and reports the signal", async () => {
    const r = (await call(nc, ns.agentSubject("hostA", "spawn"), {
      actorId: "x2",
      argv: childArgv(),
      env: {},
    })) as { pid: number };
    await pollUntil(async () => ((await registry.getHost("hostA"))!.running.includes("x2") ? true : undefined), {
      what: "x2 in hostA's running list",
      timeoutMs: 25_000,
      everyMs: 20,
    });
    await expect(call(nc, ns.agentSubject("hostA", "kill"), { actorId: "x2", signal: "SIGKILL", pid: r.pid + 1 })).rejects.toThrow(
      /now runs as pid/,
    );
    await expect(call(nc, ns.agentSubject("hostA", "spawn"), { actorId: "x2", argv: childArgv("--exit", "0"), env: {} })).rejects.toThrow(
      /already running/,
    );
    await call(nc, ns.agentSubject("hostA", "kill"), { actorId: "x2", signal: "SIGTERM", pid: r.pid });
    expect(await exitOf(r.pid)).toMatchObject({ actorId: "x2", code: null, signal: "SIGTERM" });
    await expect(call(nc, ns.agentSubject("hostA", "kill"), { actorId: "x2", signal: "SIGKILL" })).rejects.toThrow(
      /not running on host hostA/,
    );
  });

  it("answers malformed requests with an error and keeps serving", async () => {
    await expect(call(nc, ns.agentSubject("hostA", "spawn"), { actorId: "x3", argv: [], env: {} })).rejects.toThrow(
      /invalid message at 'argv'/,
    );
    await expect(call(nc, ns.agentSubject("hostA", "kill"), { actorId: "x3", signal: "kill" })).rejects.toThrow(
      /signal must look like SIGKILL/,
    );
    const m = await nc.request(ns.agentSubject("hostA", "spawn"), Uint8Array.from([0xc1, 0xff]), { timeout: 2000 });
    expect(decode(m.data)).toMatchObject({ ok: false });
    expect(await call(nc, ns.agentSubject("hostA", "ping"), {})).toMatchObject({ name: "hostA" });
  });
});
