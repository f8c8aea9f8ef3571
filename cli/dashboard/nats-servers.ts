// The health of every nats-server of the cluster, for the Cluster page and /metrics: the servers are the client
// URLs the dashboard was given (the cluster file's, or --nats; several comma-separated) and those the server it is
// connected to announces for its cluster (INFO connect_urls). Each is probed with a short-lived connection of its
// own, with the dashboard's credentials: up or down, its name, version, JetStream and round trip.
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../runtime/connection.ts";

export interface NatsServerHealth {
  /** host:port, as the servers announce each other. */
  address: string;
  up: boolean;
  /** The server the dashboard's own connection is on. */
  connected: boolean;
  /** The server's id (INFO server_id) and name. */
  id: string | null;
  name: string | null;
  version: string | null;
  jetstream: boolean | null;
  rttMs: number | null;
  error: string | null;
  at: number;
}

/** host:port of a client URL (`nats://h:p`, `h:p`, `tls://[::1]:p`); a URL without a port gets NATS's 4222. */
export function serverAddress(url: string): string {
  const u = new URL(/^[a-z]+:\/\//i.test(url) ? url : `nats://${url}`);
  return `${u.hostname}:${u.port || "4222"}`;
}

/** The servers to probe: the configured URLs, then those the connected server announces, each once. */
function clusterServers(configured: string, nc: NatsConnection): string[] {
  const urls = [...configured.split(","), ...(nc.info?.connect_urls ?? [])].map((u) => u.trim()).filter(Boolean);
  return [...new Set(urls.map(serverAddress))];
}

/** Connects to one server (no reconnect, `timeoutMs` to answer), reads its INFO and a round trip, disconnects. */
export async function probeNatsServer(
  address: string,
  token: string | undefined,
  timeoutMs = 2000,
  caFile?: string,
): Promise<NatsServerHealth> {
  const at = Date.now();
  const down = (error: string): NatsServerHealth => ({
    address,
    up: false,
    connected: false,
    id: null,
    name: null,
    version: null,
    jetstream: null,
    rttMs: null,
    error,
    at,
  });
  let nc: NatsConnection;
  try {
    nc = await connectNats({
      url: `nats://${address}`,
      token,
      ...(caFile !== undefined ? { caFile } : {}),
      name: "troupe-dashboard-probe",
      waitOnFirstConnect: false,
      timeoutMs,
    });
  } catch (err) {
    return down((err as Error).message);
  }
  try {
    const info = nc.info;
    const rttMs = await nc.rtt();
    const [id, name] = [info?.server_id ?? null, info?.server_name ?? null];
    return {
      address,
      up: true,
      connected: false,
      id,
      name,
      version: info?.version ?? null,
      jetstream: info?.jetstream === true,
      rttMs,
      error: null,
      at,
    };
  } catch (err) {
    return down((err as Error).message);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Every server of the cluster, probed at once; the one `nc` is connected to marked. */
export async function probeClusterServers(
  configured: string,
  nc: NatsConnection,
  token: string | undefined,
  caFile?: string,
): Promise<NatsServerHealth[]> {
  const own = nc.info ? serverAddress(`${nc.info.host}:${nc.info.port}`) : undefined;
  const health = await Promise.all(clusterServers(configured, nc).map((a) => probeNatsServer(a, token, 2000, caFile)));
  // one server reached under two addresses (a name and its IP, say) is one row
  const seen = new Set<string>();
  return health
    .filter((h) => h.id === null || (!seen.has(h.id) && seen.add(h.id)))
    .map((h) => ({ ...h, connected: h.address === own || (h.id !== null && h.id === nc.info?.server_id) }));
}
