// Starts and stops a private nats-server process (JetStream on, loopback unless told an address).
// Used by the embedded local cluster, by `troupe up`, and by the test setup. With `cluster`, one server of a NATS
// cluster (routes to the others, JetStream clustered); with `tls`, TLS on client and route connections.
import { NatsServerMissingError, NatsServerStartError } from "./errors.ts";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";

export interface NatsServerOptions {
  /** Folder for the config, the JetStream store and the ports file. Created if missing. */
  dir: string;
  /** Address to listen on (default 127.0.0.1); the url names it. */
  host?: string;
  /** Port to listen on; 0 (default) picks a free one. Reuse a port to restart "the same" server. */
  port?: number;
  /** When set, clients must present this token. */
  token?: string;
  /** Instead of a token: nats-server's `authorization { users: [...] }` block (nats-roles.ts, `troupe up`). */
  authorization?: string;
  /** Largest message in bytes (default 8 MiB). */
  maxPayload?: number;
  /** One server of a NATS cluster: its unique name, where it listens for routes, the routes to the others. */
  cluster?: NatsClusterSpec;
  /** TLS for clients and routes (routes verify each other's certificate against the CA: mutual TLS). */
  tls?: NatsTlsFiles;
  /** How long to wait for the server to listen (default 10 s). */
  startTimeoutMs?: number;
  /**
   * Run in its own process group, outliving this process (`troupe up`); output goes to
   * `<dir>/nats-server.log`.
   */
  detached?: boolean;
}

interface NatsClusterSpec {
  /** Unique in the cluster (JetStream's `server_name`). */
  serverName: string;
  /** The cluster's name, the same on every server. */
  name: string;
  /** Route listen address and port. */
  host: string;
  port: number;
  /** The other servers' route addresses, `host:port`. */
  routes: string[];
}

export interface NatsTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  pid: number;
  dir: string;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

function natsServerAvailable(): boolean {
  const r = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  return r.status === 0;
}

function writeConfig(opts: NatsServerOptions): string {
  const storeDir = path.join(opts.dir, "jetstream");
  mkdirSync(storeDir, { recursive: true });
  const lines = [
    `listen: ${JSON.stringify(`${urlHost(opts.host ?? "127.0.0.1")}:${opts.port ?? -1}`)}`,
    `ports_file_dir: ${JSON.stringify(opts.dir)}`,
    `max_payload: ${opts.maxPayload ?? 8 * 1024 * 1024}`,
    `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
  ];
  if (opts.authorization) lines.push(opts.authorization);
  else if (opts.token) lines.push(`authorization { token: ${JSON.stringify(opts.token)} }`);
  const tls = (t: NatsTlsFiles, verify: boolean) =>
    `tls { cert_file: ${JSON.stringify(t.certFile)}, key_file: ${JSON.stringify(t.keyFile)}, ca_file: ${JSON.stringify(t.caFile)}, verify: ${verify}, timeout: 5 }`;
  if (opts.tls) lines.push(tls(opts.tls, false));
  const c = opts.cluster;
  if (c) {
    lines.push(`server_name: ${JSON.stringify(c.serverName)}`);
    const routes = JSON.stringify(c.routes.map((r) => `nats-route://${r}`));
    const block = [
      `  name: ${JSON.stringify(c.name)}`,
      `  listen: ${JSON.stringify(`${urlHost(c.host)}:${c.port}`)}`,
      `  routes: ${routes}`,
    ];
    if (opts.tls) block.push(`  ${tls(opts.tls, true)}`);
    lines.push(`cluster {\n${block.join("\n")}\n}`);
  }
  const file = path.join(opts.dir, "nats-server.conf");
  writeFileSync(file, lines.join("\n") + "\n", { mode: 0o600 });
  return file;
}

/** An IPv6 address goes in brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function readPort(dir: string, pid: number): number | undefined {
  const name = readdirSync(dir).find((f) => f.endsWith(`_${pid}.ports`));
  if (!name) return undefined;
  try {
    const ports = JSON.parse(readFileSync(path.join(dir, name), "utf8")) as { nats?: string[] };
    const url = ports.nats?.[0];
    return url ? Number(new URL(url).port) : undefined;
  } catch {
    return undefined; // file half-written; try again
  }
}

export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServerHandle> {
  if (!natsServerAvailable()) throw new NatsServerMissingError();
  mkdirSync(opts.dir, { recursive: true });
  const conf = writeConfig(opts);
  const logFile = path.join(opts.dir, "nats-server.log");
  let logFd: number | undefined;
  if (opts.detached) logFd = openSync(logFile, "a", 0o600);
  const child = opts.detached
    ? spawn("nats-server", ["-c", conf], { stdio: ["ignore", logFd, logFd], detached: true })
    : spawn("nats-server", ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  if (logFd !== undefined) {
    closeSync(logFd);
    child.unref();
  }
  let stderrBuf = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderrBuf = (stderrBuf + d.toString()).slice(-4000);
  });
  const stderrText = () => (opts.detached && existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-4000) : stderrBuf);
  const pid = child.pid;
  if (pid === undefined) throw new NatsServerStartError("nats-server did not start");
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  let port: number | undefined;
  while (port === undefined) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new NatsServerStartError(`nats-server exited while starting: ${stderrText().trim()}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new NatsServerStartError(`nats-server did not listen within the start timeout: ${stderrText().trim()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
    if (existsSync(opts.dir)) port = readPort(opts.dir, pid);
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url: `nats://${urlHost(opts.host ?? "127.0.0.1")}:${port}`,
    port,
    pid,
    dir: opts.dir,
    process: child,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A nats-server that is started again, on the same port with the same store, whenever it exits unasked. */
export interface KeptNatsServer {
  /** The process running now. */
  readonly current: NatsServerHandle;
  readonly url: string;
  /** Stops it for good (no restart). */
  stop(graceMs?: number): Promise<void>;
}

export interface KeepHooks {
  /** The server exited unasked (killed, crashed); a restart follows. */
  onExit?: (how: { code: number | null; signal: NodeJS.Signals | null }) => void;
  onRestarted?: (handle: NatsServerHandle, attempt: number) => void;
  /** One restart attempt failed; another follows after `retryMs` (default 500). */
  onRestartFailed?: (err: Error, attempt: number) => void;
  retryMs?: number;
}

/**
 * Starts a nats-server and keeps it up: JetStream's store is on disk and clients reconnect to the same URL, so a
 * killed control plane comes back with its streams and KV (the embedded cluster of `troupe train`).
 */
export async function startKeptNatsServer(opts: NatsServerOptions, hooks: KeepHooks = {}): Promise<KeptNatsServer> {
  let current = await startNatsServer(opts);
  const port = current.port;
  let stopped = false;
  const watch = (h: NatsServerHandle) => {
    h.process.once("exit", (code, signal) => {
      if (stopped) return;
      hooks.onExit?.({ code, signal });
      void restart();
    });
  };
  const restart = async () => {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        const h = await startNatsServer({ ...opts, port });
        if (stopped) return void (await h.stop());
        current = h;
        watch(h);
        hooks.onRestarted?.(h, attempt);
        return;
      } catch (err) {
        hooks.onRestartFailed?.(err as Error, attempt);
        await new Promise((r) => setTimeout(r, hooks.retryMs ?? 500));
      }
    }
  };
  watch(current);
  return {
    get current() {
      return current;
    },
    url: current.url,
    async stop(graceMs) {
      stopped = true;
      await current.stop(graceMs);
    },
  };
}
