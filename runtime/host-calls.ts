// What a supervisor asks of host agents: where to start a child (the least loaded live host), with what environment,
// start it, kill it.
import type { NatsConnection } from "@nats-io/transport-node";
import type { Namespace } from "./namespace.ts";
import type { Registry } from "./registry.ts";
import { call } from "./rpc.ts";
import { RequestFailedError } from "./errors.ts";
import type { ChildSpec, HostRecord, SpawnRequest, Timeouts } from "./types.ts";

/** A host agent that has not written its record for this long is not offered children. */
export const HOST_SILENT_MS = 15_000;

/**
 * The child's own host while it is live, else the registered live host with the fewest running actors per slot (then
 * by name). Hosts in `unreachable` (a spawn request there just went unanswered) are passed over. A child whose own
 * host is gone (lost, or cut off) goes to a live host with worker slots: a placed worker is not put on a host of 0.
 */
export async function pickHost(registry: Registry, spec: ChildSpec, unreachable: ReadonlySet<string> = new Set()): Promise<string> {
  const all = await registry.listHosts();
  const live = all.filter((h) => Date.now() - h.lastSeen < HOST_SILENT_MS && !unreachable.has(h.name));
  // a host with no record at all is asked anyway (its agent may not have written one yet)
  const own = all.find((h) => h.name === spec.host);
  if (spec.host && !unreachable.has(spec.host) && (!own || live.includes(own))) return spec.host;
  const hosts = spec.host && live.some((h) => h.slots > 0) ? live.filter((h) => h.slots > 0) : live;
  if (hosts.length === 0) throw new Error("no host agent registered in this cluster (start one with `troupe agent`)");
  const load = (h: HostRecord) => h.running.length / Math.max(1, h.slots);
  hosts.sort((a, b) => load(a) - load(b) || a.name.localeCompare(b.name));
  return hosts[0]!.name;
}

/**
 * Picks a host (pickHost) and starts the process there. When that host does not answer (its agent gone, or cut off
 * while its record still looks fresh), it is noted in `unreachable` for HOST_SILENT_MS and the process goes to
 * another live host at once: a replacement is not sent again and again to a host that was lost with its workers.
 */
export async function spawnPlaced(
  nc: NatsConnection,
  ns: Namespace,
  registry: Registry,
  spec: ChildSpec,
  req: SpawnRequest,
  unreachable: Map<string, number>,
): Promise<{ host: string; pid: number }> {
  await forgetRevived(registry, unreachable);
  const host = await pickHost(registry, spec, new Set(unreachable.keys()));
  try {
    return { host, pid: await spawnOn(nc, ns, host, req) };
  } catch (err) {
    if (!(err instanceof RequestFailedError) || !err.unanswered) throw err;
    unreachable.set(host, Date.now());
    const other = await pickHost(registry, spec, new Set(unreachable.keys()));
    if (other === host) throw err;
    return { host: other, pid: await spawnOn(nc, ns, other, req) };
  }
}

/**
 * Drops from `unreachable` the hosts noted there HOST_SILENT_MS ago or more, and those whose agent has started since
 * (a lost host back with a new agent is a host like any other; one only cut off keeps its agent, and its mark).
 */
export async function forgetRevived(registry: Registry, unreachable: Map<string, number>): Promise<void> {
  const now = Date.now();
  for (const [h, at] of unreachable) if (now - at >= HOST_SILENT_MS) unreachable.delete(h);
  if (unreachable.size === 0) return;
  for (const h of await registry.listHosts()) {
    const at = unreachable.get(h.name);
    if (at !== undefined && h.startedAt > at) unreachable.delete(h.name);
  }
}

/** Starts the process on `host`; resolves with its pid. */
async function spawnOn(nc: NatsConnection, ns: Namespace, host: string, req: SpawnRequest): Promise<number> {
  const reply = (await call(nc, ns.agentSubject(host, "spawn"), req, 5000)) as { pid: number };
  return reply.pid;
}

/** Asks `host` to signal the process; one already gone is not an error (its exit report, or its absence, counts). */
export async function killOn(
  nc: NatsConnection,
  ns: Namespace,
  host: string | null,
  id: string,
  pid: number | null,
  signal: string,
): Promise<void> {
  if (!host || pid === null) return;
  try {
    await call(nc, ns.agentSubject(host, "kill"), { actorId: id, signal, pid }, 2000);
  } catch {
    // already gone
  }
}

/** The spawn request of a child: its command line, and the environment childEnvironment gives it. */
export function spawnRequestOf(
  spec: ChildSpec,
  sup: { id: string; timeouts: Timeouts; env: Record<string, string>; epoch: number },
): SpawnRequest {
  return { actorId: spec.id, argv: spec.argv, ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}), env: childEnvironment(spec, sup) };
}

/** The environment a supervisor gives a child process: its own, the supervisor's extra, and the TROUPE_* identity. */
function childEnvironment(
  spec: ChildSpec,
  sup: { id: string; timeouts: Timeouts; env: Record<string, string>; epoch: number },
): Record<string, string> {
  return {
    ...(spec.env ?? {}),
    ...sup.env,
    TROUPE_HEARTBEAT_MS: String(sup.timeouts.heartbeatMs),
    // a child's main loop may be busy (not hung) up to the step timeout; its heartbeat thread beats meanwhile
    TROUPE_STALL_MS: String(sup.timeouts.stepMs),
    TROUPE_EPOCH: String(sup.epoch),
    TROUPE_COORDS: JSON.stringify(spec.coords ?? {}),
    TROUPE_SUPERVISOR: sup.id,
  };
}
