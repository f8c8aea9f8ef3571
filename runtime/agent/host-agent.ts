// Host agent: registers this host's slots in KV, starts actor processes when asked, kills them when
// asked, and reports every exit (code or signal, with the stderr tail) the moment the OS tells it.
// It supervises nothing on its own: restart decisions belong to supervisors.
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { ADVERTISE_ENV } from "../advertise.ts";
import { encode } from "../codec.ts";
import type { EventLog } from "../event-log.ts";
import type { ConnectionStatus } from "../connection.ts";
import type { Logger } from "../logger.ts";
import { killRequestSchema, spawnRequestSchema, type KillRequest } from "../messages.ts";
import { checkName, type Namespace } from "../namespace.ts";
import type { Registry } from "../registry.ts";
import { parseWith, serve } from "../rpc.ts";
import type { ExitReport, HostRecord, SpawnRequest } from "../types.ts";
import { LineSplitter } from "./line-splitter.ts";
import { SpawnRefusedError } from "./errors.ts";
import { OrphanSweep } from "./orphan-sweep.ts";
import { checkSpawn, childRole, installationPolicy, type SpawnPolicy } from "./spawn-policy.ts";
import { KEEP_SPARE_ENV, STANDBY_ENV, SparePool, spareCommandOf, standbyOf } from "./spare-pool.ts";

export interface HostAgentOptions {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  logger: Logger;
  name?: string;
  slots?: number;
  tier?: string;
  /** What children need to reach the cluster (passed in their environment, never argv). */
  natsUrl: string;
  /** The cluster CA of a TLS cluster, passed to children as TROUPE_NATS_CA. */
  caFile?: string;
  /** The secret children get (a token, or a role's `<user>:<password>`), unless `childSecrets` names one for their role. */
  token?: string;
  /** Per-role secrets (nats-roles.ts): a coordinator gets the controller's, every other child the worker's. */
  childSecrets?: { controller: string; worker: string };
  /** The address other hosts reach this one at (runtime/advertise.ts), passed to children as TROUPE_ADVERTISE. */
  advertise?: string;
  /** How often the host record's lastSeen is refreshed (ms). */
  refreshMs?: number;
  /** Children of a supervisor silent this long are stopped as orphans (orphan-sweep.ts; default 60 s). */
  orphanAfterMs?: number;
}

interface Running {
  actorId: string;
  child: ChildProcess;
  pid: number;
  stderrTail: string;
  /** Set when asked to SIGKILL it: a spawn for the same actor then waits for the exit. */
  killed: boolean;
  exited: Promise<void>;
  resolveExited: () => void;
  /** Its command line keeps a warm spare (spare-pool.ts). */
  spareKey?: string;
  /** The supervisor that started it (TROUPE_SUPERVISOR), whose absence makes it an orphan. */
  supervisor?: string;
}

/** How long a spawn waits for the previous, killed process of the same actor to be gone. */
const REPLACE_WAIT_MS = 3000;

const STDERR_TAIL = 2000;

export class HostAgent {
  readonly name: string;
  private readonly running = new Map<string, Running>();
  private readonly subs: Subscription[] = [];
  private refresh: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  /** Exit reports that could not be sent while disconnected; flushed on reconnect. */
  private readonly pendingExits: ExitReport[] = [];
  private connected = true;
  private readonly spares: SparePool;
  private readonly orphans: OrphanSweep;
  /** What this agent starts (spawn-policy.ts): computed once, from its own installation. */
  private readonly policy: SpawnPolicy = installationPolicy();

  constructor(private readonly opts: HostAgentOptions) {
    this.name = checkName("host name", opts.name ?? os.hostname().replace(/[^A-Za-z0-9_-]/g, "-"));
    this.spares = new SparePool({ logger: opts.logger, onChange: () => this.publishHost() });
    this.orphans = new OrphanSweep({
      nc: opts.nc,
      ns: opts.ns,
      ...(opts.orphanAfterMs !== undefined
        ? { orphanAfterMs: opts.orphanAfterMs, everyMs: Math.min(5000, Math.max(200, opts.orphanAfterMs / 4)) }
        : {}),
      children: () =>
        [...this.running.values()].flatMap((r) => (r.supervisor ? [{ actorId: r.actorId, pid: r.pid, supervisor: r.supervisor }] : [])),
      stop: (c, silentMs) => this.stopOrphan(c, silentMs),
    });
  }

  async start(): Promise<void> {
    const { nc, ns } = this.opts;
    this.subs.push(
      serve<SpawnRequest>(nc, {
        subject: ns.agentSubject(this.name, "spawn"),
        parse: parseWith(spawnRequestSchema),
        handle: (req) => (req.env[STANDBY_ENV] === undefined ? this.spawnActor(req) : this.keepStandby(req)),
        onReject: (e) => this.opts.logger.warn({ err: e.message }, "rejected spawn request"),
      }),
      serve<KillRequest>(nc, {
        subject: ns.agentSubject(this.name, "kill"),
        parse: parseWith(killRequestSchema),
        handle: (req) => this.killActor(req.actorId, req.signal as NodeJS.Signals, req.pid),
        onReject: (e) => this.opts.logger.warn({ err: e.message }, "rejected kill request"),
      }),
      serve(nc, {
        subject: ns.agentSubject(this.name, "ping"),
        parse: () => ({ ok: true, value: null }),
        handle: () => this.hostRecord(),
      }),
    );
    await nc.flush();
    await this.opts.registry.putHost(this.hostRecord());
    void this.opts.events
      .publish(
        { type: "host.registered", subject: this.name, time: Date.now(), data: { slots: this.slots, tier: this.tier, pid: process.pid } },
        `host:${this.name}:${this.startedAt}`,
      )
      .catch(() => undefined);
    this.refresh = setInterval(() => this.publishHost(), this.opts.refreshMs ?? 2000);
    this.orphans.start();
  }

  /** A child whose supervisor is gone for good: SIGTERM, SIGKILL a few seconds later; its exit is reported as any. */
  private stopOrphan(c: { actorId: string; pid: number; supervisor: string }, silentMs: number): void {
    const r = this.running.get(c.actorId);
    if (!r || r.pid !== c.pid) return;
    this.opts.logger.warn(
      { actorId: c.actorId, pid: c.pid, supervisor: c.supervisor, silentMs },
      "orphan: its supervisor is gone; stopping it",
    );
    void this.opts.events
      .publish(
        {
          type: "actor.orphaned",
          subject: c.actorId,
          time: Date.now(),
          data: { pid: c.pid, host: this.name, supervisor: c.supervisor, silentMs },
        },
        `orphan:${this.name}:${c.pid}`,
      )
      .catch(() => undefined);
    r.child.kill("SIGTERM");
    setTimeout(() => r.child.kill("SIGKILL"), 5000).unref();
  }

  get slots(): number {
    return this.opts.slots ?? os.availableParallelism();
  }

  get tier(): string {
    return this.opts.tier ?? "default";
  }

  hostRecord(): HostRecord {
    return {
      name: this.name,
      slots: this.slots,
      tier: this.tier,
      pid: process.pid,
      startedAt: this.startedAt,
      lastSeen: Date.now(),
      running: [...this.running.keys()],
      spares: this.spares.status(),
    };
  }

  /** Writes the host record now (spawns and exits change `running`), never failing the caller. */
  private publishHost(): void {
    void this.opts.registry.putHost(this.hostRecord()).catch(() => undefined);
  }

  /**
   * Wire this to the NATS connection's status. Core NATS drops what is published while
   * disconnected, so exit reports are held back during an outage and sent on reconnect.
   */
  connectionChanged(status: ConnectionStatus): void {
    if (status === "disconnected" || status === "reconnecting") this.connected = false;
    if (status === "reconnected") {
      this.connected = true;
      const held = this.pendingExits.splice(0);
      for (const r of held) this.publishExit(r);
    }
  }

  private async spawnActor(req: SpawnRequest): Promise<{ pid: number }> {
    const existing = this.running.get(req.actorId);
    if (existing?.killed) {
      // The supervisor killed the old process and asks for the new one before the exit landed.
      await Promise.race([existing.exited, new Promise((r) => setTimeout(r, REPLACE_WAIT_MS))]);
    }
    const still = this.running.get(req.actorId);
    if (still) throw new Error(`actor ${req.actorId} is already running on ${this.name} as pid ${still.pid}`);
    // node children run this agent's node, with loaders resolved from its installation (not from the child's cwd);
    // anything but node running a program of troupe's installation is refused, nothing started
    const { file, args: argv, program } = this.checked(req);
    const secrets = this.opts.childSecrets;
    const env = {
      ...req.env,
      TROUPE_ACTOR_ID: req.actorId,
      TROUPE_CLUSTER_ID: this.opts.ns.clusterId,
      TROUPE_NATS_URL: this.opts.natsUrl,
      ...(this.opts.caFile ? { TROUPE_NATS_CA: this.opts.caFile } : {}),
      TROUPE_NATS_TOKEN: secrets ? secrets[childRole(program, this.policy)] : (this.opts.token ?? ""),
      TROUPE_HOST: this.name,
      ...(this.opts.advertise ? { [ADVERTISE_ENV]: this.opts.advertise } : {}),
      TROUPE_AGENT_PID: String(process.pid),
    };
    // a warm spare of this command line told its identity (spare-pool.ts), else a fresh process
    const spare = req.env[KEEP_SPARE_ENV] === "1" ? spareCommandOf(file, argv, req.cwd, req.env) : undefined;
    const child =
      (spare && this.spares.take(spare.key, spare, env)) ||
      spawn(file, argv, { cwd: req.cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid === undefined) {
      // spawn failures (ENOENT…) surface as an 'error' event; the pid is missing synchronously.
      child.on("error", () => undefined);
      throw new Error(`cannot start '${req.argv[0]}' for ${req.actorId}`);
    }
    let resolveExited = () => {};
    const exited = new Promise<void>((r) => (resolveExited = r));
    const entry: Running = {
      actorId: req.actorId,
      child,
      pid: child.pid,
      stderrTail: "",
      killed: false,
      exited,
      resolveExited,
      spareKey: spare?.key,
      supervisor: req.env.TROUPE_SUPERVISOR,
    };
    this.running.set(req.actorId, entry);
    const logSubject = this.opts.ns.logSubject(req.actorId);
    const forward = (stream: "out" | "err") => (line: string) => {
      if (stream === "err") entry.stderrTail = (entry.stderrTail + line + "\n").slice(-STDERR_TAIL);
      try {
        this.opts.nc.publish(logSubject, line);
      } catch {
        // connection closing: the line is lost, the actor is not
      }
    };
    child.stdout!.pipe(new LineSplitter(forward("out")));
    child.stderr!.pipe(new LineSplitter(forward("err")));
    child.on("error", (err) => this.opts.logger.error({ actorId: req.actorId, err: err.message }, "child process error"));
    child.once("exit", (code, signal) => {
      // Give stderr a moment to drain so a crash message lands in the report, but never wait long.
      const report = () => this.onExit(entry, code, signal);
      const t = setTimeout(report, 15);
      child.once("close", () => {
        clearTimeout(t);
        report();
      });
    });
    this.opts.logger.info({ actorId: req.actorId, pid: child.pid }, "spawned");
    this.publishHost();
    return { pid: child.pid };
  }

  /** A standby request (spare-pool.ts): spares of the request's command line kept ahead of a failover, no actor. */
  private keepStandby(req: SpawnRequest): { standby: number } {
    const ask = standbyOf(req.env)!;
    const { file, args } = this.checked(req);
    const line = spareCommandOf(file, args, req.cwd, req.env);
    const busy = [...this.running.values()].some((r) => r.spareKey === line.key);
    this.spares.standby(line.key, line, ask.count, ask.leaseMs, busy);
    return { standby: ask.count };
  }

  /** The command line to start for `req`; a refused one is logged, published as `agent.spawn.refused` and thrown. */
  private checked(req: SpawnRequest): { file: string; args: string[]; program: string } {
    try {
      return checkSpawn(req, this.policy);
    } catch (e) {
      if (!(e instanceof SpawnRefusedError)) throw e;
      this.opts.logger.warn({ actorId: req.actorId, program: e.program, reason: e.reason }, "refused spawn request");
      const time = Date.now();
      void this.opts.events
        .publish(
          { type: "agent.spawn.refused", subject: this.name, time, data: { actorId: req.actorId, program: e.program, reason: e.reason } },
          `refused:${this.name}:${req.actorId}:${time}`,
        )
        .catch(() => undefined);
      throw e;
    }
  }

  private onExit(entry: Running, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.running.get(entry.actorId) !== entry) return; // already reported
    this.running.delete(entry.actorId);
    if (entry.spareKey && ![...this.running.values()].some((r) => r.spareKey === entry.spareKey)) this.spares.release(entry.spareKey);
    entry.resolveExited();
    const report: ExitReport = {
      actorId: entry.actorId,
      pid: entry.pid,
      host: this.name,
      code,
      signal,
      stderrTail: entry.stderrTail,
      time: Date.now(),
    };
    this.publishExit(report);
    this.publishHost();
    this.opts.logger.info({ actorId: entry.actorId, pid: entry.pid, code, signal }, "exited");
    void this.opts.events
      .publish(
        { type: "process.exited", subject: entry.actorId, time: report.time, data: { pid: entry.pid, host: this.name, code, signal } },
        `exit:${this.name}:${entry.pid}:${this.startedAt}`,
      )
      .catch(() => undefined);
  }

  private publishExit(report: ExitReport): void {
    if (this.opts.nc.isClosed()) return;
    if (!this.connected) {
      this.pendingExits.push(report);
      return;
    }
    try {
      this.opts.nc.publish(this.opts.ns.exitSubject(this.name), encode(report));
    } catch {
      this.pendingExits.push(report);
    }
  }

  private killActor(actorId: string, signal: NodeJS.Signals, pid?: number): { pid: number; signal: string } {
    const r = this.running.get(actorId);
    if (!r) throw new Error(`actor ${actorId} is not running on host ${this.name}`);
    if (pid !== undefined && r.pid !== pid) throw new Error(`actor ${actorId} now runs as pid ${r.pid}, not ${pid}`);
    process.kill(r.pid, signal);
    if (signal === "SIGKILL") r.killed = true;
    return { pid: r.pid, signal };
  }

  /** Stops every child (SIGTERM, then SIGKILL after `graceMs`) and unsubscribes. */
  async stop(graceMs = 2000): Promise<void> {
    clearInterval(this.refresh);
    this.orphans.stop();
    for (const s of this.subs) s.unsubscribe();
    const spares = this.spares.stop();
    const children = [...this.running.values()];
    await Promise.all(
      children.map(
        (r) =>
          new Promise<void>((resolve) => {
            if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
            r.child.once("exit", () => resolve());
            r.child.kill("SIGCONT");
            r.child.kill("SIGTERM");
            setTimeout(() => r.child.kill("SIGKILL"), graceMs).unref();
          }),
      ),
    );
    await spares;
    await this.opts.registry.putHost({ ...this.hostRecord(), running: [] }).catch(() => undefined);
  }
}
