// `troupe up` / `troupe down`: a local cluster in the background — a nats-server (or a NATS cluster of several,
// nats-cluster.ts) with JetStream stored in the cluster directory and one user per role (credentials in creds/,
// mode 0600), TLS when it listens beyond loopback (tls/), one host agent, and optionally a supervisor with N
// generic actors. Everything it starts is recorded in cluster.json.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import path from "node:path";
import { connectNats } from "../../runtime/connection.ts";
import { ConfigError } from "../../runtime/errors.ts";
import { namespace } from "../../runtime/namespace.ts";
import { waitForJetStream } from "../../runtime/jetstream-replicas.ts";
import { makeClusterTls } from "../../runtime/tls-certs.ts";
import { isLoopback, startClusterServers, type NatsLayout } from "./nats-cluster.ts";
import { packageRoot } from "../../runtime/paths.ts";
import { Registry } from "../../runtime/registry.ts";
import { call } from "../../runtime/rpc.ts";
import { authorizationBlock, roleSecret } from "../../runtime/nats-roles.ts";
import {
  clusterFile,
  natsPids,
  readClusterInfo,
  readToken,
  writeClusterInfo,
  writeNewCredentials,
  type ClusterInfo,
} from "./cluster-file.ts";

const repoRoot = packageRoot();

export interface UpOptions {
  dir: string;
  clusterId: string;
  actors: number;
  hostName: string;
  slots?: number;
  /** Where nats-server listens (default 127.0.0.1 and a free port). */
  listen?: { host: string; port?: number };
  /** nats-servers to start on this machine, joined in a NATS cluster (default 1). */
  natsServers?: number;
  /** This host runs one server of a cluster spread over hosts: the others' route addresses, `host[:port]`. */
  routes?: string[];
  routePort?: number;
  /** TLS on loopback too (beyond loopback it always is). */
  tls?: boolean;
  /** Told once while a cluster spread over hosts waits for its other servers. */
  onWaiting?: (what: string) => void;
  /** How long to wait for the host agent to register (ms). */
  readyTimeoutMs?: number;
}

export function pidAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function startDetached(argv: string[], logFile: string): number {
  const fd = openSync(logFile, "a", 0o600);
  const child = spawn(process.execPath, argv, { cwd: repoRoot, stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(" ")}`);
  return child.pid;
}

export async function upCluster(opts: UpOptions): Promise<ClusterInfo> {
  const dir = path.resolve(opts.dir);
  if (existsSync(clusterFile(dir))) {
    const old = readClusterInfo(dir);
    if (natsPids(old).some(pidAlive))
      throw new ConfigError(`a cluster is already running in ${dir} (stop it with \`troupe down --cluster ${dir}\`)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // one user per role with its subject permissions (runtime/nats-roles.ts); the command line is the operator
  const credsDir = path.join(dir, "creds");
  const passwords = writeNewCredentials(credsDir);
  rmSync(path.join(dir, "token"), { force: true }); // the single token of older versions no longer opens anything
  const ns = namespace(opts.clusterId);
  const layout: NatsLayout = {
    servers: opts.natsServers ?? 1,
    host: opts.listen?.host ?? "127.0.0.1",
    port: opts.listen?.port,
    routes: opts.routes,
    routePort: opts.routePort,
  };
  const routeHosts = (opts.routes ?? []).map((r) => r.replace(/^\[?([^\]]*?)\]?(:\d+)?$/, "$1"));
  const tlsDir = path.join(dir, "tls");
  const useTls = opts.tls === true || !isLoopback(layout.host);
  if (!useTls) rmSync(tlsDir, { recursive: true, force: true }); // certificates of an earlier TLS cluster open nothing now
  const tls = useTls ? await makeClusterTls({ dir: tlsDir, hosts: [layout.host, ...routeHosts], clusterId: opts.clusterId }) : undefined;
  const servers = await startClusterServers(dir, layout, authorizationBlock(ns, passwords), tls);
  const token = roleSecret("operator", passwords.operator);
  const info: ClusterInfo = {
    clusterId: opts.clusterId,
    url: servers.urls.join(","),
    tokenFile: path.join(credsDir, "operator"),
    credsDir,
    natsPid: servers.handles[0]!.pid,
    natsServers: servers.handles.map((h, i) => ({ name: servers.names[i]!, url: h.url, pid: h.pid })),
    caFile: tls?.caFile ?? null,
    agentPid: null,
    supervisorPid: null,
    servicesPid: null,
    startedAt: Date.now(),
  };
  writeClusterInfo(dir, info);
  if (servers.urls.length > 1) {
    if (opts.routes?.length) opts.onWaiting?.(`waiting for the other nats-servers of the cluster (${opts.routes.join(", ")})`);
    const nc = await connectNats({ url: info.url, token, caFile: tls?.caFile, waitOnFirstConnect: false });
    try {
      // every stream and bucket is made with min(3, servers) copies: wait until JetStream can place that many
      const timeoutMs = opts.routes?.length ? 15 * 60_000 : (opts.readyTimeoutMs ?? 60_000);
      await waitForJetStream(nc, `troupe_${opts.clusterId}_probe`, Math.min(3, servers.urls.length), timeoutMs);
    } finally {
      await nc.close();
    }
  }
  const agentArgs = ["--import", "tsx", path.join(repoRoot, "cli", "cluster", "agent-main.ts"), "--cluster", dir, "--name", opts.hostName];
  if (opts.slots !== undefined) agentArgs.push("--slots", String(opts.slots));
  info.agentPid = startDetached(agentArgs, path.join(dir, "agent.log"));
  writeClusterInfo(dir, info);

  const nc = await connectNats({ url: info.url, token, caFile: tls?.caFile, waitOnFirstConnect: false });
  try {
    const registry = await Registry.open(nc, ns);
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    while (!(await registry.getHost(opts.hostName))) {
      if (!pidAlive(info.agentPid)) throw new Error(`the host agent exited while starting; see ${path.join(dir, "agent.log")}`);
      if (Date.now() > deadline) throw new Error(`the host agent did not register in time; see ${path.join(dir, "agent.log")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await nc.close();
  }
  await startServices(dir, info, token);
  if (opts.actors > 0) {
    const script = path.join(repoRoot, "cli", "cluster", "demo-supervisor.ts");
    info.supervisorPid = startDetached(
      ["--import", "tsx", script, "--cluster", dir, "--actors", String(opts.actors)],
      path.join(dir, "supervisor.log"),
    );
    writeClusterInfo(dir, info);
  }
  return info;
}

/** SIGTERM to `pid`, SIGKILL after `graceMs`; resolves once it is gone. */
export async function terminate(pid: number | null, graceMs: number): Promise<void> {
  if (!pidAlive(pid)) return;
  process.kill(pid!, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid!, "SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops the supervisor, then the agent (which stops its actors), then nats-server. */
export async function downCluster(dir: string): Promise<ClusterInfo> {
  const info = readClusterInfo(path.resolve(dir));
  await terminate(info.supervisorPid, 5000);
  await terminate(info.servicesPid, 5000);
  await terminate(info.agentPid, 5000);
  await Promise.all(natsPids(info).map((pid) => terminate(pid, 5000)));
  rmSync(clusterFile(path.resolve(dir)));
  return info;
}

/** Starts the job service process for the cluster in `dir`, records its pid and waits until it answers. */
async function startServices(dir: string, info: ClusterInfo, token: string, timeoutMs = 60_000): Promise<void> {
  const log = path.join(dir, "services.log");
  info.servicesPid = startDetached(["--import", "tsx", path.join(repoRoot, "cli", "cluster", "services-main.ts"), "--cluster", dir], log);
  writeClusterInfo(dir, info);
  const nc = await connectNats({ url: info.url, token, caFile: info.caFile ?? undefined, waitOnFirstConnect: false });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (
        await call(nc, namespace(info.clusterId).jobsSubject("ping"), {}, 1000).then(
          () => true,
          () => false,
        )
      )
        return;
      if (!pidAlive(info.servicesPid)) throw new Error(`the job service exited while starting; see ${log}`);
      if (Date.now() > deadline) throw new Error(`the job service did not answer in time; see ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await nc.close();
  }
}

/**
 * The local cluster in `dir`, as `troupe train` wants it: reused when it runs (its job service started again if
 * that alone is gone), else started as `troupe up` starts one. `started` says whether this call started it.
 */
export async function ensureLocalCluster(dir: string, hostName: string): Promise<{ info: ClusterInfo; started: boolean }> {
  const abs = path.resolve(dir);
  if (existsSync(clusterFile(abs))) {
    const info = readClusterInfo(abs);
    if (natsPids(info).some(pidAlive) && pidAlive(info.agentPid)) {
      if (!pidAlive(info.servicesPid)) await startServices(abs, info, readToken(info.tokenFile));
      return { info, started: false };
    }
  }
  return { info: await upCluster({ dir: abs, clusterId: "local", actors: 0, hostName }), started: true };
}
