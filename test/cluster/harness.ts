// Test harness: a namespaced cluster on a real nats-server with an in-process host agent (spawning
// real generic actor processes) and a supervisor. Every test gets its own cluster id.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import { connectNats, type ConnectionStatus } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace, type Namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { Supervisor } from "../../runtime/supervisor.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import type {
  ActorRecord,
  BackoffPolicy,
  ChildSpec,
  EscalationHandler,
  Intensity,
  RestartStrategy,
  Timeouts,
} from "../../runtime/types.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const genericActor = path.join(repoRoot, "cli/cluster/generic-actor.ts");

export function actorArgv(...flags: string[]): string[] {
  return ["node", "--import", "tsx", genericActor, ...flags];
}

const plainChild = path.join(repoRoot, "test/cluster/fixtures/plain-child.ts");

/** A child that writes `--stderr <text>`, exits with `--exit <code>`, else stays up (fixtures/plain-child.ts). */
export function childArgv(...flags: string[]): string[] {
  return ["node", "--import", "tsx", plainChild, ...flags];
}

export interface TestClusterOptions {
  url: string;
  token?: string;
  children: ChildSpec[];
  strategy?: RestartStrategy;
  intensity?: Partial<Intensity>;
  backoff?: Partial<BackoffPolicy>;
  timeouts?: Partial<Timeouts>;
  parent?: EscalationHandler;
  /** Epoch handed to started children. */
  epoch?: number;
}

export interface TestCluster {
  ns: Namespace;
  nc: NatsConnection;
  registry: Registry;
  events: EventLog;
  agent: HostAgent;
  supervisor: Supervisor;
  statuses: ConnectionStatus[];
  record(id: string): Promise<ActorRecord>;
  waitFor(id: string, pred: (r: ActorRecord) => boolean, timeoutMs?: number): Promise<ActorRecord>;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: TestClusterOptions): Promise<TestCluster> {
  const ns = namespace(`t${randomUUID().slice(0, 8)}`);
  const statuses: ConnectionStatus[] = [];
  let supervisor: Supervisor | undefined;
  let agent: HostAgent | undefined;
  const nc = await connectNats({
    url: opts.url,
    token: opts.token,
    name: "test-cluster",
    onStatus: (s) => {
      statuses.push(s);
      supervisor?.connectionChanged(s);
      agent?.connectionChanged(s);
    },
  });
  const logger = createRootLogger({ name: "test", level: process.env.TROUPE_LOG_LEVEL ?? "warn" });
  const registry = await Registry.open(nc, ns);
  const events = await EventLog.open(nc, ns);
  agent = new HostAgent({ nc, ns, registry, events, logger, name: "h1", slots: 8, natsUrl: opts.url, token: opts.token });
  await agent.start();
  supervisor = new Supervisor(
    { nc, ns, registry, events, logger, parent: opts.parent },
    {
      id: "sup",
      strategy: opts.strategy ?? "one_for_one",
      intensity: validateIntensity(opts.intensity),
      backoff: validateBackoff(opts.backoff ?? { initialMs: 20, maxMs: 200, jitter: 0.1 }),
      timeouts: validateTimeouts({ heartbeatMs: 100, suspectMs: 1000, killMs: 2500, stepMs: 60_000, startMs: 30_000, ...opts.timeouts }),
      children: opts.children,
    },
  );
  supervisor.setEpoch(opts.epoch ?? 0);
  await supervisor.start();
  const sup = supervisor;
  const ag = agent;
  const record = async (id: string) => {
    const r = await registry.getActor(id);
    if (!r) throw new Error(`no record for ${id}`);
    return r;
  };
  return {
    ns,
    nc,
    registry,
    events,
    agent: ag,
    supervisor: sup,
    statuses,
    record,
    async waitFor(id, pred, timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      let last: ActorRecord | null = null;
      while (Date.now() < deadline) {
        // JetStream may time out while the server is restarting: keep polling.
        last = await registry.getActor(id).catch(() => last);
        if (last && pred(last)) return last;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(
        `timed out waiting on ${id}; last record: ${JSON.stringify(last && { state: last.state, pid: last.pid, restarts: last.restarts, cause: last.deathCause })}`,
      );
    },
    async stop() {
      await sup.stop("test finished");
      await ag.stop(500);
      await nc.drain().catch(() => undefined);
    },
  };
}

/** A lone host agent in this process on the nats-server at `url` (no supervisor), with the connection it uses. */
export interface InProcessAgent {
  nc: NatsConnection;
  registry: Registry;
  events: EventLog;
  agent: HostAgent;
}

export async function startInProcessAgent(
  url: string,
  ns: Namespace,
  o: { name: string; slots: number; tier?: string },
): Promise<InProcessAgent> {
  const nc = await connectNats({ url });
  const registry = await Registry.open(nc, ns);
  const events = await EventLog.open(nc, ns);
  const logger = createRootLogger({ name: "t", level: "silent" });
  const agent = new HostAgent({ nc, ns, registry, events, logger, natsUrl: url, ...o });
  await agent.start();
  return { nc, registry, events, agent };
}
