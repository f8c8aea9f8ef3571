// Per-role NATS users (runtime/nats-roles.ts) on a real nats-server configured as `troupe up` configures it, with
// a real host agent: no credentials → refused; a worker's credentials cannot ask an agent to start or kill, a
// supervisor to restart or stop, write actor or host records, or answer in an agent's name; the agent hands each
// child its role's credentials. Then a real `troupe up` cluster: credentials files, a demo supervisor's actors.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { writeNewCredentials } from "../../cli/cluster/cluster-file.ts";
import { downCluster, upCluster } from "../../cli/cluster/local-cluster.ts";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { childRole, installationPolicy } from "../../runtime/agent/spawn-policy.ts";
import { pollUntil } from "../../runtime/async.ts";
import { decode, encode } from "../../runtime/codec.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { LOOP_AT, sharedHeartbeatState, startHeartbeatThread } from "../../runtime/heartbeat-thread.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { authorizationBlock, roleSecret, type Role } from "../../runtime/nats-roles.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { Registry } from "../../runtime/registry.ts";
import { call } from "../../runtime/rpc.ts";
import type { ExitReport } from "../../runtime/types.ts";
import { childArgv } from "./harness.ts";

describe("per-role NATS credentials", { timeout: 120_000 }, () => {
  const ns = namespace(`r${randomUUID().slice(0, 8)}`);
  const root = `troupe.${ns.clusterId}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-roles-"));
  let server: NatsServerHandle;
  let secret: (role: Role) => string;
  let operator: NatsConnection;
  let worker: NatsConnection;
  let agentNc: NatsConnection;
  let agent: HostAgent;
  const exits: ExitReport[] = [];

  beforeAll(async () => {
    const passwords = writeNewCredentials(path.join(dir, "creds"));
    secret = (role) => roleSecret(role, passwords[role]);
    server = await startNatsServer({ dir: path.join(dir, "nats"), authorization: authorizationBlock(ns, passwords) });
    operator = await connectNats({ url: server.url, token: secret("operator") });
    worker = await connectNats({ url: server.url, token: secret("worker") });
    agentNc = await connectNats({ url: server.url, token: secret("agent") });
    agent = new HostAgent({
      nc: agentNc,
      ns,
      registry: await Registry.open(agentNc, ns),
      events: await EventLog.open(agentNc, ns),
      logger: createRootLogger({ name: "t", level: "silent" }),
      name: "hostP",
      slots: 2,
      natsUrl: server.url,
      childSecrets: { controller: secret("controller"), worker: secret("worker") },
    });
    await agent.start();
    operator.subscribe(ns.exitsFilter, { callback: (_e, m) => void exits.push(decode(m.data) as ExitReport) });
    await operator.flush();
  });
  afterAll(async () => {
    await agent?.stop(200);
    for (const nc of [operator, worker, agentNc]) await nc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a connection without credentials, with a wrong password, or with a password given as a token", async () => {
    const refused = /Authorization Violation/i;
    await expect(connectNats({ url: server.url, waitOnFirstConnect: false })).rejects.toThrow(refused);
    await expect(connectNats({ url: server.url, token: "worker:wrong", waitOnFirstConnect: false })).rejects.toThrow(refused);
    await expect(connectNats({ url: server.url, token: secret("worker").split(":")[1], waitOnFirstConnect: false })).rejects.toThrow(
      refused,
    );
  });

  it("a worker cannot ask an agent to start or kill, nor a supervisor to restart or stop: nothing is delivered", async () => {
    const { pid } = (await call(operator, ns.agentSubject("hostP", "spawn"), { actorId: "o1", argv: childArgv(), env: {} })) as {
      pid: number;
    };
    const seen: string[] = [];
    const sub = operator.subscribe(`${root}.>`, { callback: (_e, m) => void seen.push(m.subject) });
    await operator.flush();
    const denied = /Permissions Violation for Publish/;
    await expect(call(worker, ns.agentSubject("hostP", "spawn"), { actorId: "w1", argv: childArgv(), env: {} })).rejects.toThrow(denied);
    await expect(call(worker, ns.agentSubject("hostP", "kill"), { actorId: "o1", signal: "SIGKILL", pid })).rejects.toThrow(denied);
    await expect(call(worker, ns.supervisorSubject("s1", "restart"), { actorId: "o1" })).rejects.toThrow(denied);
    await expect(call(worker, ns.supervisorSubject("s1", "stop"), {})).rejects.toThrow(denied);
    await expect(call(worker, ns.jobsSubject("submit"), {})).rejects.toThrow(denied);
    worker.publish(ns.exitSubject("hostP"), encode({ actorId: "o1", pid, host: "hostP", code: 0, signal: null, stderrTail: "", time: 0 }));
    // one connection's messages arrive in order: once this one is seen, none of the above was delivered
    worker.publish(`${root}.probe.done`);
    await pollUntil(() => (seen.includes(`${root}.probe.done`) ? true : undefined), { what: "the probe", timeoutMs: 10_000, everyMs: 10 });
    sub.unsubscribe();
    expect(seen.filter((s) => !s.startsWith(`${root}.logs.`) && !s.startsWith(`${root}.events.`))).toEqual([`${root}.probe.done`]);
    expect(((await call(operator, ns.agentSubject("hostP", "ping"), {})) as { running: string[] }).running).toEqual(["o1"]);
    expect(() => process.kill(pid, 0)).not.toThrow();
    await call(operator, ns.agentSubject("hostP", "kill"), { actorId: "o1", signal: "SIGTERM", pid });
  });

  it("a worker cannot write actor or host records, nor answer on an agent's subject; it may write what workers write", async () => {
    await Registry.open(operator, ns);
    const kvm = new Kvm(worker);
    const actors = await kvm.open(ns.actorsBucket);
    await expect(actors.put("forged", encode({ id: "forged" }))).rejects.toThrow(/Permissions Violation for Publish/);
    await expect((await kvm.open(ns.hostsBucket)).put("hostP", encode({}))).rejects.toThrow(/Permissions Violation/);
    expect(await (await new Kvm(operator).open(ns.actorsBucket)).get("forged")).toBeNull();
    const sub = worker.subscribe(ns.agentSubject("hostP", "spawn"));
    expect(await sub.closed).toBeInstanceOf(Error);
    // what a worker does: its lifecycle record, events, heartbeats
    const lifecycles = await kvm.create(ns.lifecyclesBucket, { history: 16 });
    await lifecycles.put("worker.w1", encode({ state: "idle" }));
    await (await EventLog.open(worker, ns)).publish({ type: "t.worker", subject: "w1", time: Date.now(), data: {} }, `w1:${Date.now()}`);
    worker.publish(ns.heartbeatSubject("w1"), encode({}));
    await worker.flush();
  });

  it("an actor's heartbeat thread connects with its role's credentials (and is refused with a wrong one)", async () => {
    const firstMessage = (token: string) => {
      const shared = sharedHeartbeatState();
      shared[LOOP_AT] = Date.now() + 600_000; // the main loop "turned" now, for the whole test
      const t = startHeartbeatThread({
        shared,
        natsUrl: server.url,
        token,
        actorId: "hb1",
        subject: ns.heartbeatSubject("hb1"),
        heartbeatMs: 50,
        stallMs: 60_000,
      });
      return new Promise<{ op: string; why?: string }>((resolve) => t.once("message", resolve)).finally(() => void t.terminate());
    };
    expect(await firstMessage(secret("worker"))).toMatchObject({ op: "beating" });
    expect(await firstMessage("worker:wrong")).toMatchObject({ op: "failed", why: expect.stringMatching(/Authorization Violation/i) });
  });

  it("the agent hands a child its role's credentials, never its own", async () => {
    const { pid } = (await call(operator, ns.agentSubject("hostP", "spawn"), {
      actorId: "c1",
      argv: childArgv("--report-user", "--exit", "0"),
      env: {},
    })) as { pid: number };
    const exit = await pollUntil(() => exits.find((x) => x.pid === pid), { what: "c1's exit", timeoutMs: 30_000, everyMs: 10 });
    expect(exit.stderrTail).toMatch(/^user=worker$/m);
    const policy = installationPolicy();
    expect(childRole(path.join(policy.root, "actors/coordinator/main.ts"), policy)).toBe("controller");
    expect(childRole(path.join(policy.root, "actors/worker/main.ts"), policy)).toBe("worker");
  });
});

describe("a cluster started by troupe up", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-roles-up-"));
  afterAll(async () => {
    await downCluster(dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("has per-role credentials (0600 files in a 0700 folder, no token); its demo supervisor's actor runs", async () => {
    const info = await upCluster({ dir, clusterId: "rolesup", actors: 1, hostName: "uphost" });
    expect(info.credsDir).toBe(path.join(dir, "creds"));
    expect(statSync(info.credsDir!).mode & 0o777).toBe(0o700);
    for (const role of ["operator", "controller", "agent", "worker"])
      expect(statSync(path.join(dir, "creds", role)).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(dir, "token"))).toBe(false);
    await expect(connectNats({ url: info.url, waitOnFirstConnect: false })).rejects.toThrow(/Authorization Violation/i);
    const nc = await connectNats({ url: info.url, token: readFileSync(info.tokenFile, "utf8").trim() });
    try {
      const registry = await Registry.open(nc, namespace("rolesup"));
      // the demo supervisor (controller) started a0 through the agent; a0 (worker credentials) beats: alive
      await pollUntil(async () => ((await registry.getActor("a0"))?.state === "alive" ? true : undefined), {
        what: "a0 alive",
        timeoutMs: 120_000,
        everyMs: 100,
      });
    } finally {
      await nc.close();
    }
  });
});
