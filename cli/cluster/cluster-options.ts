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
  /** A role's credentials file (`--creds`), or a token file (`--token-file`, its older name). */
  creds?: string;
  tokenFile?: string;
  /** The cluster CA (with --nats; default: ca.pem beside the credentials, or ../tls/ca.pem from them). */
  ca?: string;
  clusterId?: string;
  json?: boolean;
}

export function addClusterOptions(cmd: Command, opts: { json: boolean } = { json: true }): Command {
  cmd
    .option("--cluster <dir>", "cluster directory written by `troupe up` (default $TROUPE_CLUSTER or ./.troupe)")
    .option("--nats <url[,url…]>", "NATS URL(s) of the cluster, comma-separated (instead of --cluster)")
    .option("--creds <file>", "a role's credentials, e.g. a copy of <dir>/creds/operator (with --nats)")
    .option("--token-file <file>", "the same as --creds (its older name; also a token file)")
    .option("--ca <file>", "the cluster CA of a TLS cluster (with --nats; default: found beside the credentials)")
    .option("--cluster-id <id>", "cluster id (with --nats)", "local");
  if (opts.json) cmd.option("--json", "machine-readable output");
  return cmd;
}

export interface Connection {
  /** One client URL, or a cluster's joined with commas. */
  url: string;
  /** The cluster CA (TLS), else none. */
  caFile?: string;
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
    const file = credsFile(opts);
    const dir = file ? path.dirname(file) : undefined;
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
    const file = credsFile(opts);
    const caFile = opts.ca ?? caBeside(file);
    if (caFile !== undefined && !existsSync(caFile)) throw new UsageError(`--ca ${caFile}: no such file`);
    return {
      url: opts.nats,
      token: file ? readToken(file) : undefined,
      clusterId: opts.clusterId ?? "local",
      ...(caFile ? { caFile } : {}),
    };
  }
  if (opts.tokenFile || opts.creds) throw new UsageError(`${opts.creds ? "--creds" : "--token-file"} needs --nats`);
  if (opts.ca) throw new UsageError("--ca needs --nats (a cluster directory names its own CA)");
  const info = readClusterInfo(clusterDir(opts.cluster));
  return { url: info.url, token: readSecret(info, role), clusterId: info.clusterId, ...(info.caFile ? { caFile: info.caFile } : {}) };
}

function credsFile(opts: ClusterOptions): string | undefined {
  if (opts.creds && opts.tokenFile && path.resolve(opts.creds) !== path.resolve(opts.tokenFile))
    throw new UsageError("--creds and --token-file name two different files: give one");
  return opts.creds ?? opts.tokenFile;
}

/** A TLS cluster's CA found from a copy of its credentials: `ca.pem` beside them, or `../tls/ca.pem`. */
function caBeside(file: string | undefined): string | undefined {
  if (!file) return undefined;
  const dir = path.dirname(path.resolve(file));
  return [path.join(dir, "ca.pem"), path.join(dir, "..", "tls", "ca.pem")].find((f) => existsSync(f));
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
  const nc = await connectNats({ url: conn.url, token: conn.token, caFile: conn.caFile, name, waitOnFirstConnect: false, timeoutMs: 2000 });
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
export async function checkReachable(conn: { url: string; token?: string; caFile?: string }, timeoutMs = 3000): Promise<void> {
  const nc = await connectNats({
    url: conn.url,
    token: conn.token,
    caFile: conn.caFile,
    name: "troupe-cli-probe",
    waitOnFirstConnect: false,
    timeoutMs,
  });
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
