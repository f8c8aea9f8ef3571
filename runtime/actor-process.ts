// The process side of a supervised actor: connects to the cluster named by its environment (set by
// the host agent), heartbeats, and answers validated, epoch-fenced commands. Training workers build
// on this; the generic actor (cli/cluster/generic-actor.ts) is just this plus a main().
import { issueText } from "./zod-issue.ts";
import { randomUUID } from "node:crypto";
import type { Worker as Thread } from "node:worker_threads";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { encode } from "./codec.ts";
import { EPOCH, LOOP_AT, STEP, sharedHeartbeatState, startHeartbeatThread } from "./heartbeat-thread.ts";
import { connectNats } from "./connection.ts";
import { ConfigError } from "./errors.ts";
import { EventLog } from "./event-log.ts";
import { actorLogger, createRootLogger, type Logger } from "./logger.ts";
import { actorCommandSchema, decodeFenced, type ActorCommand } from "./messages.ts";
import { namespace, type Namespace } from "./namespace.ts";
import { serve, type Rejection } from "./rpc.ts";
import type { Coordinates, Heartbeat } from "./types.ts";

const DEFAULT_STALL_MS = 60_000;
/** How long start() waits for the heartbeat thread's first beat (it takes milliseconds when the machine is not starved). */
const THREAD_START_WAIT_MS = 5000;

/** Environment variable of the epoch in which the job's actors last started from scratch (a coordinator's reload). */
export const LOAD_EPOCH_ENV = "TROUPE_LOAD_EPOCH";

const envSchema = z.object({
  TROUPE_ACTOR_ID: z.string().min(1),
  TROUPE_CLUSTER_ID: z.string().min(1),
  TROUPE_NATS_URL: z.string().min(1),
  TROUPE_NATS_TOKEN: z.string().optional(),
  /** The cluster CA of a TLS cluster. */
  TROUPE_NATS_CA: z.string().optional(),
  TROUPE_HEARTBEAT_MS: z.coerce.number().int().positive().default(200),
  TROUPE_EPOCH: z.coerce.number().int().min(0).default(0),
  /** Epoch in which the job's actors last started from scratch; one started in a later epoch replaces a lost one. */
  [LOAD_EPOCH_ENV]: z.coerce.number().int().min(0).default(1),
  /** A main event loop stalled this long is taken as hung (its heartbeat thread stops beating); the supervisor's stepMs. */
  TROUPE_STALL_MS: z.coerce.number().int().positive().default(DEFAULT_STALL_MS),
  TROUPE_COORDS: z.string().default("{}"),
  /** Pid of the host agent that started this process; the actor exits if it is re-parented away from it. */
  TROUPE_AGENT_PID: z.coerce.number().int().positive().optional(),
});

export interface ActorEnvironment {
  actorId: string;
  clusterId: string;
  natsUrl: string;
  token?: string;
  caFile?: string;
  heartbeatMs: number;
  /** Main-loop stall taken as a hang (default 60 s). */
  stallMs?: number;
  epoch: number;
  /** Epoch in which the job's actors last started from scratch: a later `epoch` means this one replaces a lost actor. */
  loadEpoch?: number;
  coords: Coordinates;
  agentPid?: number;
}

export function actorEnvironment(env: NodeJS.ProcessEnv = process.env): ActorEnvironment {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    throw new ConfigError(`actor environment: ${issueText(r.error, { quote: "" })} (actors are started by a host agent)`);
  }
  const e = r.data;
  return {
    actorId: e.TROUPE_ACTOR_ID,
    clusterId: e.TROUPE_CLUSTER_ID,
    natsUrl: e.TROUPE_NATS_URL,
    token: e.TROUPE_NATS_TOKEN || undefined,
    caFile: e.TROUPE_NATS_CA || undefined,
    heartbeatMs: e.TROUPE_HEARTBEAT_MS,
    stallMs: e.TROUPE_STALL_MS,
    epoch: e.TROUPE_EPOCH,
    loadEpoch: e[LOAD_EPOCH_ENV],
    coords: JSON.parse(e.TROUPE_COORDS) as Coordinates,
    agentPid: e.TROUPE_AGENT_PID,
  };
}

export type CommandHandler = (cmd: ActorCommand, actor: ActorProcess) => unknown;

export class ActorProcess {
  readonly log: Logger;
  readonly ns: Namespace;
  /** Messages rejected so far (garbage, wrong schema, stale epoch). */
  rejected = 0;
  private nc: NatsConnection | undefined;
  private events: EventLog | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Step, epoch and the main loop's last turn, read by the heartbeat thread. */
  private readonly shared = sharedHeartbeatState();
  private thread: Thread | undefined;
  /** Once the thread beats, the main thread only marks its loop turns. */
  private threadBeating = false;
  private parentWatch: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;

  constructor(
    readonly env: ActorEnvironment,
    private readonly onCommand: CommandHandler = defaultCommandHandler,
  ) {
    this.ns = namespace(env.clusterId);
    this.epoch = env.epoch;
    this.shared[LOOP_AT] = Date.now();
    this.log = actorLogger(createRootLogger({ name: "actor", destination: 1 }), env.actorId, env.coords);
  }

  get step(): number {
    return this.shared[STEP]!;
  }

  set step(value: number) {
    this.shared[STEP] = value;
  }

  get epoch(): number {
    return this.shared[EPOCH]!;
  }

  set epoch(value: number) {
    this.shared[EPOCH] = value;
  }

  /** The actor's NATS connection (after start), for subjects of its own (serve with decodeFenced). */
  get connection(): NatsConnection {
    if (!this.nc) throw new Error("actor not started");
    return this.nc;
  }

  async start(): Promise<void> {
    const nc = await connectNats({
      url: this.env.natsUrl,
      token: this.env.token,
      caFile: this.env.caFile,
      name: this.env.actorId,
      onStatus: (s) => this.log.info({ status: s }, "nats connection"),
    });
    this.nc = nc;
    this.events = await EventLog.open(nc, this.ns);
    this.sub = serve(nc, {
      subject: this.ns.actorCommandSubject(this.env.actorId),
      parse: (bytes) => decodeFenced(bytes, actorCommandSchema, this.epoch),
      handle: (cmd) => this.onCommand(cmd, this),
      onReject: (err, subject) => this.reject(err, subject),
    });
    // the main thread beats until its heartbeat thread does; after that it marks each turn of its event loop
    this.beat();
    this.timer = setInterval(() => this.beat(), this.env.heartbeatMs);
    await this.beatFromThread();
    // If the host agent dies (even by SIGKILL) nobody can report or kill this process any more:
    // an orphan must not keep running, so exit when re-parented.
    const parent = this.env.agentPid ?? process.ppid;
    const check = () => {
      if (process.ppid !== parent) {
        this.log.error({ parent }, "host agent gone; exiting");
        process.exit(70);
      }
    };
    check();
    this.parentWatch = setInterval(check, 500);
    this.parentWatch.unref();
    this.log.info({ heartbeatMs: this.env.heartbeatMs, epoch: this.epoch }, "actor started");
  }

  /**
   * Long synchronous work on the main thread (seconds of CPU, stretched many times on a loaded machine) must not
   * read as a hang: a thread of its own beats while the main loop turned within stallMs (heartbeat-thread.ts).
   * Resolves once it beats, or once it failed or is slow to start (then the main thread keeps beating).
   */
  private beatFromThread(): Promise<void> {
    const thread = startHeartbeatThread({
      shared: this.shared,
      natsUrl: this.env.natsUrl,
      token: this.env.token,
      caFile: this.env.caFile,
      actorId: this.env.actorId,
      subject: this.ns.heartbeatSubject(this.env.actorId),
      heartbeatMs: this.env.heartbeatMs,
      stallMs: this.env.stallMs ?? DEFAULT_STALL_MS,
    });
    this.thread = thread;
    return new Promise<void>((resolve) => {
      const giveUp = setTimeout(resolve, THREAD_START_WAIT_MS);
      const lost = (why: string) => {
        clearTimeout(giveUp);
        resolve();
        if (this.thread !== thread) return;
        this.thread = undefined;
        this.threadBeating = false;
        this.log.warn({ why }, "heartbeat thread ended: the main thread beats");
      };
      thread.on("message", (msg: { op?: string; why?: string }) => {
        if (msg.op === "failed") return lost(msg.why ?? "failed");
        if (msg.op !== "beating") return;
        this.threadBeating = true;
        clearTimeout(giveUp);
        resolve();
      });
      thread.on("error", (err) => lost(err.message));
      thread.on("exit", (code) => lost(`exit code ${code}`));
    });
  }

  private beat(): void {
    this.shared[LOOP_AT] = Date.now();
    if (this.threadBeating) return;
    const hb: Heartbeat = { actorId: this.env.actorId, pid: process.pid, step: this.step, epoch: this.epoch, time: Date.now() };
    try {
      this.nc?.publish(this.ns.heartbeatSubject(this.env.actorId), encode(hb));
    } catch {
      // disconnected: the next beat after reconnect counts
    }
  }

  private reject(err: Rejection, subject: string): void {
    this.rejected++;
    this.log.warn({ kind: err.name, reason: err.message, subject }, "message rejected");
    void this.events
      ?.publish(
        {
          type: "message.rejected",
          subject: this.env.actorId,
          time: Date.now(),
          data: { kind: err.name, reason: err.message, on: subject },
        },
        randomUUID(),
      )
      .catch(() => undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.parentWatch);
    const thread = this.thread;
    this.thread = undefined;
    await thread?.terminate();
    this.sub?.unsubscribe();
    await this.nc?.drain().catch(() => undefined);
  }
}

function defaultCommandHandler(cmd: ActorCommand, actor: ActorProcess): unknown {
  switch (cmd.type) {
    case "ping":
      return { pid: process.pid, step: actor.step, epoch: actor.epoch, rejected: actor.rejected };
    case "set-epoch":
      actor.epoch = cmd.epoch;
      return { epoch: actor.epoch };
    case "set-step":
      actor.step = cmd.step;
      return { step: actor.step };
  }
}
