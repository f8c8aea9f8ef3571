// Options every cluster command shares, and opening the cluster they name (fail fast, one-line
// errors: an unreachable cluster must not hang a CLI).
import { UsageError } from "../errors.ts";
import type { Command } from "commander";
import { existsSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace, type Namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import type { Role } from "../../runtime/nats-roles.ts";
import { clusterDir, readClusterInfo, readSecret, readToken } from "./cluster-file.ts";

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
    .option("--token-file <file>", "file holding the NATS token or a role's credentials, e.g. <dir>/creds/operator (with --nats)")
    .option("--cluster-id <id>", "cluster id (with --nats)", "local");
  if (opts.json) cmd.option("--json", "machine-readable output");
  return cmd;
}

export interface Connection {
  url: string;
  /** A token, or a role's `<user>:<password>`. */
  token?: string;
  clusterId: string;
}

/**
 * The secrets a host agent hands its children, when the cluster has per-role credentials: from the cluster
 * directory, or, with --nats, the `controller` and `worker` files beside the token file (a copy of `<dir>/creds`).
 */
export function childSecrets(opts: ClusterOptions): { controller: string; worker: string } | undefined {
  if (opts.nats) {
    const dir = opts.tokenFile ? path.dirname(opts.tokenFile) : undefined;
    if (!dir || !existsSync(path.join(dir, "controller")) || !existsSync(path.join(dir, "worker"))) return undefined;
    return { controller: readToken(path.join(dir, "controller")), worker: readToken(path.join(dir, "worker")) };
  }
  const info = readClusterInfo(clusterDir(opts.cluster));
  return info.credsDir ? { controller: readSecret(info, "controller"), worker: readSecret(info, "worker") } : undefined;
}

/**
 * The cluster `opts` name and how to connect to it as `role` (the command line is the operator; the processes
 * `troupe up` starts pass their own role). With --nats, the token file's secret whatever the role.
 */
export function resolveConnection(opts: ClusterOptions, role: Role = "operator"): Connection {
  if (opts.nats) {
    return { url: opts.nats, token: opts.tokenFile ? readToken(opts.tokenFile) : undefined, clusterId: opts.clusterId ?? "local" };
  }
  if (opts.tokenFile) throw new UsageError("--token-file needs --nats");
  const info = readClusterInfo(clusterDir(opts.cluster));
  return { url: info.url, token: readSecret(info, role), clusterId: info.clusterId };
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
