// Options every cluster command shares, and opening the cluster they name (fail fast, one-line
// errors: an unreachable cluster must not hang a CLI).
import { UsageError } from "../errors.ts";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace, type Namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { clusterDir, readClusterInfo, readToken } from "./cluster-file.ts";

export interface ClusterOptions {
  cluster?: string;
  nats?: string;
  tokenFile?: string;
  clusterId?: string;
  json?: boolean;
}

export function addClusterOptions(cmd: Command, opts: { json: boolean } = { json: true }): Command {
  cmd
    .option("--cluster <dir>", "cluster directory written by `troupe up` (default $TROUPE_CLUSTER or ./.troupe)")
    .option("--nats <url>", "NATS URL of the cluster (instead of --cluster)")
    .option("--token-file <file>", "file holding the NATS token (with --nats)")
    .option("--cluster-id <id>", "cluster id (with --nats)", "local");
  if (opts.json) cmd.option("--json", "machine-readable output");
  return cmd;
}

export interface Connection {
  url: string;
  token?: string;
  clusterId: string;
}

export function resolveConnection(opts: ClusterOptions): Connection {
  if (opts.nats) {
    return { url: opts.nats, token: opts.tokenFile ? readToken(opts.tokenFile) : undefined, clusterId: opts.clusterId ?? "local" };
  }
  if (opts.tokenFile) throw new UsageError("--token-file needs --nats");
  const info = readClusterInfo(clusterDir(opts.cluster));
  return { url: info.url, token: readToken(info.tokenFile), clusterId: info.clusterId };
}

export interface OpenCluster {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  close(): Promise<void>;
}

export async function openCluster(opts: ClusterOptions, name = "troupe-cli"): Promise<OpenCluster> {
  const conn = resolveConnection(opts);
  const ns = namespace(conn.clusterId);
  const nc = await connectNats({ url: conn.url, token: conn.token, name, waitOnFirstConnect: false, timeoutMs: 2000 });
  try {
    const registry = await Registry.open(nc, ns);
    const events = await EventLog.open(nc, ns);
    return { nc, ns, registry, events, close: () => nc.close() };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/**
 * Fails now (ClusterUnreachableError, "cannot reach nats-server at URL: …") unless the nats-server answers within
 * `timeoutMs`: commands that work for a while before they connect check first.
 */
export async function checkReachable(conn: { url: string; token?: string }, timeoutMs = 3000): Promise<void> {
  const nc = await connectNats({ url: conn.url, token: conn.token, name: "troupe-cli-probe", waitOnFirstConnect: false, timeoutMs });
  await nc.close();
}

/** Runs `fn` with an open cluster and always closes it. */
export async function withCluster<T>(opts: ClusterOptions, fn: (c: OpenCluster) => Promise<T>): Promise<T> {
  const c = await openCluster(opts);
  try {
    return await fn(c);
  } finally {
    await c.close().catch(() => undefined);
  }
}
