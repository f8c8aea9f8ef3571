// Standby spares on the failover hosts (agent/spare-pool.ts, STANDBY_ENV). A child whose host is lost is started
// again where pickHost then sends it: another host, which has never run its command line and so keeps no warm
// spare of it; the replacement would start cold. Every few seconds the supervisor works out, for each host running
// children of a spare-keeping command line, where they would go if that host were lost (pickHost, with the host
// passed over, as spawnPlaced would do), and asks that host's agent to keep that many spares of the line, on a lease
// the next round renews. A host lost then has its workers replaced by warm spares.
import type { NatsConnection } from "@nats-io/transport-node";
import { KEEP_SPARE_ENV, STANDBY_ENV } from "./agent/spare-pool.ts";
import { forgetRevived, pickHost } from "./host-calls.ts";
import type { Logger } from "./logger.ts";
import type { Namespace } from "./namespace.ts";
import type { Registry } from "./registry.ts";
import { call } from "./rpc.ts";
import { recordState, type Child } from "./supervisor-child.ts";
import type { SpawnRequest } from "./types.ts";

/** How often the standby asks are renewed; a lease is a few rounds long, so one lost request does not drop spares. */
const STANDBY_EVERY_MS = 2000;
const LEASE_MS = 5 * STANDBY_EVERY_MS;

export interface StandbyDeps {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  log: Logger;
  children: ReadonlyMap<string, Child>;
  /** The spawn request the child would get now (its command line and environment). */
  request: (c: Child) => SpawnRequest;
  /** Hosts passed over for placement now (spawnPlaced's `unreachable`). */
  unreachable: Map<string, number>;
}

interface Ask {
  host: string;
  req: SpawnRequest;
  count: number;
}

/** The standby asks of this round: per failover host and command line, the most children one lost host would send. */
async function standbyAsks(d: Omit<StandbyDeps, "nc" | "ns" | "log">): Promise<Ask[]> {
  const groups = new Map<string, { host: string; line: string; children: Child[] }>();
  for (const c of d.children.values()) {
    const s = c.actor.getSnapshot();
    const host = s.context.host;
    if (c.spec.env?.[KEEP_SPARE_ENV] !== "1" || host === null || !["alive", "suspect"].includes(recordState(s.value))) continue;
    const line = JSON.stringify([c.spec.argv, c.spec.cwd ?? null, c.spec.host ?? null]);
    const g = groups.get(`${host}\n${line}`) ?? { host, line, children: [] };
    g.children.push(c);
    groups.set(`${host}\n${line}`, g);
  }
  const asks = new Map<string, Ask>();
  if (groups.size > 0) await forgetRevived(d.registry, d.unreachable);
  for (const g of groups.values()) {
    const first = g.children[0]!;
    const failover = await pickHost(d.registry, first.spec, new Set([...d.unreachable.keys(), g.host])).catch(() => undefined);
    if (failover === undefined || failover === g.host) continue;
    const key = `${failover}\n${g.line}`;
    const prev = asks.get(key);
    if (!prev || prev.count < g.children.length) asks.set(key, { host: failover, req: d.request(first), count: g.children.length });
  }
  return [...asks.values()];
}

/** Renews the standby asks every STANDBY_EVERY_MS until the returned function is called. */
export function startStandbySpares(d: StandbyDeps): () => void {
  let busy = false;
  const round = async () => {
    if (busy || d.nc.isClosed()) return;
    busy = true;
    try {
      for (const a of await standbyAsks(d)) {
        const env = { ...a.req.env, [STANDBY_ENV]: `${a.count}:${LEASE_MS}` };
        await call(d.nc, d.ns.agentSubject(a.host, "spawn"), { ...a.req, env }, 2000).catch((err: unknown) =>
          d.log.debug({ host: a.host, err: (err as Error).message }, "standby spares not asked"),
        );
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void round().catch((err: unknown) => d.log.warn({ err }, "standby round failed")), STANDBY_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
