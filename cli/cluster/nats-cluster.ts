// The nats-servers of a `troupe up` cluster: one (as always), N on this machine joined by routes (`--nats-servers
// N`), or this host's one server of a cluster spread over hosts (`--routes`, and `troupe nats-server` on the
// others). Each server of a cluster has its own name and JetStream store, `<dir>/nats/<name>`; a lone server keeps
// `<dir>/nats`. The cluster's client URLs, joined with commas, are what every client connects with.
import { createServer } from "node:net";
import path from "node:path";
import { startNatsServer, type NatsServerHandle, type NatsTlsFiles } from "../../runtime/nats-server.ts";
import { UsageError } from "../errors.ts";

/** Ports a cluster spread over hosts uses unless told otherwise: NATS's own defaults. */
const DEFAULT_CLIENT_PORT = 4222;
export const DEFAULT_ROUTE_PORT = 6222;
const CLUSTER_NAME = "troupe";

export interface NatsLayout {
  /** Servers to start on this machine (1 unless `--nats-servers`). */
  servers: number;
  /** Client address (and port) of this machine's server(s). */
  host: string;
  port?: number;
  /** Servers on other hosts, `host[:routePort]`: this machine runs one server of their cluster. */
  routes?: string[];
  /** This server's route port (with `routes`; default 6222). */
  routePort?: number;
}

export interface StartedNats {
  handles: NatsServerHandle[];
  names: string[];
  /** Every client URL of the cluster, those of other hosts' servers too. */
  urls: string[];
}

/** `ADDR[:PORT]` (an IPv6 address in brackets) → host and port; a clear error for anything else. */
export function parseHostPort(text: string, what: string): { host: string; port?: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] === undefined ? undefined : Number(m[3]);
  if (!m || !host || (port !== undefined && (port < 1 || port > 65535)))
    throw new UsageError(`${what} '${text}' is not ADDR or ADDR:PORT (an IPv6 address in brackets, a port 1-65535)`);
  return port === undefined ? { host } : { host, port };
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** A port free on `host` now (the kernel's pick; the server takes it moments later). */
async function freePort(host: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once("error", reject).listen(0, host, resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function urlOf(host: string, port: number): string {
  return `nats://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The server name of a host's server in a cluster spread over hosts: its client address, unique by construction. */
function hostServerName(host: string, port: number): string {
  return `${host.replace(/[^A-Za-z0-9.-]/g, "_")}-${port}`;
}

/** Starts this machine's nats-server(s) of `layout` under `dir` (detached: they outlive the command). */
export async function startClusterServers(
  dir: string,
  layout: NatsLayout,
  authorization: string,
  tls?: NatsTlsFiles,
): Promise<StartedNats> {
  const base = { authorization, detached: true, ...(tls ? { tls } : {}) };
  if (layout.routes?.length) {
    if (layout.servers !== 1) throw new UsageError("--nats-servers and --routes do not go together: one server per host with --routes");
    const port = layout.port ?? DEFAULT_CLIENT_PORT;
    const name = hostServerName(layout.host, port);
    const routes = layout.routes.map((r) => withRoutePort(r));
    const h = await startNatsServer({
      ...base,
      dir: path.join(dir, "nats", name),
      host: layout.host,
      port,
      cluster: { serverName: name, name: CLUSTER_NAME, host: layout.host, port: layout.routePort ?? DEFAULT_ROUTE_PORT, routes },
    });
    const others = routes.map((r) => urlOf(parseHostPort(r, "--routes").host, port));
    return { handles: [h], names: [name], urls: [h.url, ...others] };
  }
  if (layout.servers === 1) {
    const h = await startNatsServer({ ...base, dir: path.join(dir, "nats"), host: layout.host, port: layout.port });
    return { handles: [h], names: ["nats"], urls: [h.url] };
  }
  return startLocalCluster(dir, layout, base);
}

function withRoutePort(route: string): string {
  const r = parseHostPort(route, "--routes");
  const host = r.host.includes(":") ? `[${r.host}]` : r.host;
  return `${host}:${r.port ?? DEFAULT_ROUTE_PORT}`;
}

/** N servers on this machine, each routed to all the others, on ports free now. */
async function startLocalCluster(dir: string, layout: NatsLayout, base: { authorization: string; detached: boolean; tls?: NatsTlsFiles }) {
  if (layout.port !== undefined) throw new UsageError("--listen takes no port with --nats-servers above 1 (each server gets a free one)");
  const names = Array.from({ length: layout.servers }, (_, i) => `n${i + 1}`);
  const routePorts: number[] = [];
  for (let i = 0; i < names.length; i++) routePorts.push(await freePort(layout.host));
  const hostInUrl = layout.host.includes(":") ? `[${layout.host}]` : layout.host;
  // all start at once: JetStream's meta group forms when a quorum of them is up
  const handles = await Promise.all(
    names.map((name, i) =>
      startNatsServer({
        ...base,
        dir: path.join(dir, "nats", name),
        host: layout.host,
        cluster: {
          serverName: name,
          name: CLUSTER_NAME,
          host: layout.host,
          port: routePorts[i]!,
          routes: routePorts.filter((_, j) => j !== i).map((p) => `${hostInUrl}:${p}`),
        },
      }),
    ),
  );
  return { handles, names, urls: handles.map((h) => h.url) };
}
