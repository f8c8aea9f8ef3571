// What a supervisor asks of host agents: where to start a child (the least loaded live host), with what environment,
// start it, kill it.
import type { NatsConnection } from "@nats-io/transport-node";
import type { Namespace } from "./namespace.ts";
import type { Registry } from "./registry.ts";
import { call } from "./rpc.ts";
import type { ChildSpec, HostRecord, SpawnRequest, Timeouts } from "./types.ts";

/** A host agent that has not written its record for this long is not offered children. */
export const HOST_SILENT_MS = 15_000;

/** The child's own host, else the registered live host with the fewest running actors per slot (then by name). */
export async function pickHost(registry: Registry, spec: ChildSpec): Promise<string> {
  if (spec.host) return spec.host;
  const hosts = (await registry.listHosts()).filter((h) => Date.now() - h.lastSeen < HOST_SILENT_MS);
  if (hosts.length === 0) throw new Error("no host agent registered in this cluster (start one with `troupe agent`)");
  const load = (h: HostRecord) => h.running.length / Math.max(1, h.slots);
  hosts.sort((a, b) => load(a) - load(b) || a.name.localeCompare(b.name));
  return hosts[0]!.name;
}

/** Starts the process on `host`; resolves with its pid. */
export async function spawnOn(nc: NatsConnection, ns: Namespace, host: string, req: SpawnRequest): Promise<number> {
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

/** The environment a supervisor gives a child process: its own, the supervisor's extra, and the TROUPE_* identity. */
export function childEnvironment(
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
