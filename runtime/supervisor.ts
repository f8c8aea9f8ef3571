// A supervisor: keeps one actor-record machine per child process, starts children through host agents, learns of deaths from exit
// reports (fast), silence (heartbeats) and lost hosts (supervisor-host-probe.ts), and restarts with the OTP strategies, restart
// intensity and backoff. Each record's transitions go to KV and the event stream, each death with its typed cause (death-cause.ts).
// Over intensity it stops the failing child and escalates to its parent, whose decision is an event: "stop" stops the rest, "restart" all.
import { affectedSiblings } from "./restart-strategy.ts";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { createActor, type ActorOptions, type AnyActorLogic, type SnapshotFrom } from "xstate";
import { RestartIntensity, backoffDelay } from "./backoff.ts";
import { UnknownActorError } from "./errors.ts";
import type { EventLog } from "./event-log.ts";
import { deathOfExit, describeDeath, describeIntensityExceeded, type DeathCause } from "./death-cause.ts";
import type { Logger } from "./logger.ts";
import { actorRecordMachine, startEventOf } from "./machines/actor-record.ts";
import { RecordWriter, actorRecordOf } from "./record-writer.ts";
import { decodeAs, exitReportSchema, heartbeatSchema } from "./messages.ts";
import { checkName, type Namespace } from "./namespace.ts";
import type { Registry } from "./registry.ts";
import { spawnRequestOf, spawnPlaced, killOn } from "./host-calls.ts";
import { superviseSubjects } from "./supervisor-subjects.ts";
import { HEARTBEAT_PERSIST_MS, recordState, type Child } from "./supervisor-child.ts";
import { probeOnSuspect } from "./supervisor-host-probe.ts";
import { startStandbySpares } from "./supervisor-standby.ts";
import type { ActorRecord, ActorRecordState, ChildSpec, ClusterEvent, EscalationHandler, SpawnRequest, SupervisorSpec } from "./types.ts";
import type { ConnectionStatus } from "./connection.ts";

export interface SupervisorDeps {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  logger: Logger;
  parent?: EscalationHandler;
  /** For tests: jitter source and the machines' clock. */
  random?: () => number;
  clock?: ActorOptions<AnyActorLogic>["clock"];
}

export type SupervisorState = "running" | "escalated" | "stopped";

/**
 * Called on every state transition of a child's record (not on heartbeat-only updates), with why it last failed or
 * died (the record's deathCause in words, as data).
 */
export type TransitionListener = (record: ActorRecord, from: ActorRecordState, death: DeathCause | null) => void;

export class Supervisor {
  readonly id: string;
  private current: SupervisorState = "stopped";
  /** Epoch handed to newly started children (TROUPE_EPOCH); set by setEpoch. */
  private epoch = 0;
  /** Added to the environment of every child started from now on (a job's TROUPE_LOAD_EPOCH). */
  private childEnv: Record<string, string> = {};
  private readonly children = new Map<string, Child>();
  private readonly intensity: RestartIntensity;
  private readonly subs: Subscription[] = [];
  private readonly writer: RecordWriter;
  /** Kill requests in flight; stop() waits for them so no child outlives its supervisor. */
  private readonly kills = new Set<Promise<void>>();
  /** Hosts whose agent did not answer a spawn request lately, by when (host-calls.ts spawnPlaced). */
  private readonly unreachable = new Map<string, number>();
  private readonly log: Logger;
  private readonly listeners = new Set<TransitionListener>();
  private stopStandby = () => {}; // renewing the standby spares on failover hosts (supervisor-standby.ts)

  constructor(
    private readonly deps: SupervisorDeps,
    readonly spec: SupervisorSpec,
  ) {
    this.id = checkName("supervisor id", spec.id);
    const ids = new Set<string>();
    for (const c of spec.children) {
      checkName("actor id", c.id);
      if (ids.has(c.id)) throw new Error(`supervisor ${spec.id}: duplicate child id '${c.id}'`);
      ids.add(c.id);
    }
    this.intensity = new RestartIntensity(spec.intensity);
    this.log = deps.logger.child({ supervisor: this.id });
    this.writer = new RecordWriter(deps.registry, deps.events, deps.ns.clusterId, this.log);
  }

  get state(): SupervisorState {
    return this.current;
  }

  childIds(): string[] {
    return [...this.children.keys()];
  }

  /**
   * Children started from now on get this epoch (TROUPE_EPOCH) and `env` added to their environment; a job's group
   * moves it on membership changes (runtime/group/actor-group.ts). Running children are not touched.
   */
  setEpoch(epoch: number, env: Record<string, string> = {}): void {
    this.epoch = epoch;
    this.childEnv = { ...this.childEnv, ...env };
  }

  snapshot(id: string): SnapshotFrom<typeof actorRecordMachine> {
    const c = this.children.get(id);
    if (!c) throw new UnknownActorError(id);
    return c.actor.getSnapshot();
  }

  /**
   * Observe child transitions, e.g. a coordinator aborting the step in flight when a worker leaves
   * `alive`. Returns the unsubscribe function.
   */
  onTransition(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts every child; with `adopt`, a child whose last record says its process runs (alive or suspect, with a pid
   * and host) is taken over as it is (a supervisor that died and started again: its children kept running).
   */
  async start(o: { adopt?: boolean } = {}): Promise<void> {
    const { nc, ns } = this.deps;
    this.subs.push(
      ...superviseSubjects(nc, ns, this.id, {
        heartbeat: (data) => this.onHeartbeat(data),
        exit: (data) => this.onExit(data),
        restart: (actorId, reason) => this.restartChild(actorId, reason),
        children: () => this.children.size,
      }),
    );
    await nc.flush();
    this.current = "running";
    const standby = { ...this.deps, log: this.log, children: this.children, unreachable: this.unreachable };
    this.stopStandby = startStandbySpares({ ...standby, request: (c) => this.requestOf(c) });
    const previous = new Map<string, ActorRecord | null>();
    for (const spec of this.spec.children) {
      const rec = await this.deps.registry.getActor(spec.id);
      previous.set(spec.id, rec);
      this.children.set(spec.id, this.createChild(spec, rec?.seq ?? 0));
    }
    await this.emit({
      type: "supervisor.started",
      subject: this.id,
      time: Date.now(),
      data: { strategy: this.spec.strategy, children: this.childIds(), adopt: o.adopt === true },
    });
    for (const [id, c] of this.children) c.actor.send(startEventOf(previous.get(id) ?? null, o.adopt === true));
  }

  /** Wire this to the NATS connection's status: silence is not counted while we cannot hear. */
  connectionChanged(status: ConnectionStatus): void {
    const type = status === "reconnected" ? "RECONNECTED" : status === "disconnected" ? "DISCONNECTED" : undefined;
    if (!type) return;
    for (const c of this.children.values()) c.actor.send({ type });
    void this.emit({ type: `supervisor.${status}`, subject: this.id, time: Date.now(), data: {} });
  }

  /**
   * Restart asked for, not a failure: kill the current process (if any) and start a new one; not counted against
   * the restart intensity. `event` names who asked: an operator, or the job itself (a coordinator's reload).
   */
  restartChild(
    id: string,
    reason: string,
    event: "operator.restart" | "job.restart" = "operator.restart",
  ): { actorId: string; previousPid: number | null } {
    const c = this.children.get(id);
    if (!c) throw new UnknownActorError(id);
    const previousPid = c.actor.getSnapshot().context.pid;
    if (this.current === "escalated") this.current = "running";
    c.actor.send({ type: "RECYCLE", reason, delayMs: 0 });
    void this.emit({ type: event, subject: id, time: Date.now(), data: { reason, previousPid } });
    return { actorId: id, previousPid };
  }

  /** Stops one child for good, not restarted (a job that shrank); its death is `reason`. */
  stopChild(id: string, reason: string): void {
    this.children.get(id)?.actor.send({ type: "STOP", cause: { kind: "stopped", by: this.id, reason } });
  }

  async stop(cause = "supervisor stopped"): Promise<void> {
    this.current = "stopped";
    this.stopStandby();
    for (const c of this.children.values()) {
      if (recordState(c.actor.getSnapshot().value) !== "dead")
        c.actor.send({ type: "STOP", cause: { kind: "stopped", by: this.id, reason: cause } });
    }
    await Promise.all([...this.kills]);
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    await this.emit({ type: "supervisor.stopped", subject: this.id, time: Date.now(), data: { cause } });
    await this.writer.settled();
    for (const c of this.children.values()) c.actor.stop();
  }

  /** Resolves when every queued KV write and event publish is done. */
  async settled(): Promise<void> {
    await this.writer.settled();
  }

  private createChild(spec: ChildSpec, seq: number): Child {
    const machine = actorRecordMachine.provide({
      actions: {
        spawnProcess: () => void this.spawn(spec.id),
        killProcess: (_, p) => {
          const k = killOn(this.deps.nc, this.deps.ns, p.host, p.id, p.pid, p.signal);
          this.kills.add(k);
          void k.finally(() => this.kills.delete(k));
        },
        reportFailure: (_, p) => queueMicrotask(() => void this.onChildFailed(p.id, p.cause)),
        probeHost: (_, p) => probeOnSuspect({ ...this.deps, log: this.log, unreachable: this.unreachable }, this.children.get(p.id), p),
      },
    });
    const actor = createActor(machine, {
      input: { id: spec.id, timeouts: this.spec.timeouts },
      // xstate treats an explicit `clock: undefined` as a clock: only pass one when given.
      ...(this.deps.clock ? { clock: this.deps.clock } : {}),
    });
    const child: Child = {
      spec,
      actor,
      seq,
      lastState: "pending",
      lastPersistAt: 0,
      failures: new RestartIntensity(this.spec.intensity),
      generation: 0,
      earlyExits: new Map(),
    };
    actor.subscribe({
      next: (snap) => this.onSnapshot(child, snap),
      error: (err) => this.log.error({ actorId: spec.id, err }, "record machine error"),
    });
    actor.start();
    this.persist(child, actor.getSnapshot(), null);
    return child;
  }

  private onSnapshot(child: Child, snap: SnapshotFrom<typeof actorRecordMachine>): void {
    const state = recordState(snap.value);
    const from = child.lastState;
    if (state === from && Date.now() - child.lastPersistAt < HEARTBEAT_PERSIST_MS) return;
    child.lastState = state;
    this.persist(child, snap, from);
  }

  private persist(child: Child, snap: SnapshotFrom<typeof actorRecordMachine>, from: ActorRecordState | null): void {
    const state = recordState(snap.value);
    child.seq++;
    child.lastPersistAt = Date.now();
    const rec = actorRecordOf(snap, state, {
      supervisor: this.id,
      coords: child.spec.coords ?? {},
      seq: child.seq,
      now: child.lastPersistAt,
    });
    const transition = state !== from;
    if (transition && from !== null) {
      for (const l of this.listeners) {
        try {
          l(rec, from, snap.context.death);
        } catch (err) {
          this.log.error({ err }, "transition listener failed");
        }
      }
    }
    if (transition) {
      this.log.child({ actorId: rec.id, coords: rec.coords }).info({ from, to: state, pid: rec.pid, cause: rec.deathCause }, "transition");
    }
    this.writer.record(rec, transition ? from : undefined, snap.context.restartReason);
  }

  private emit(event: ClusterEvent): Promise<void> {
    return this.writer.event(event);
  }

  private async spawn(id: string): Promise<void> {
    const c = this.children.get(id);
    if (!c) return;
    const generation = ++c.generation;
    try {
      const req = this.requestOf(c, c.actor.getSnapshot().context.epoch);
      const { host, pid } = await spawnPlaced(this.deps.nc, this.deps.ns, this.deps.registry, c.spec, req, this.unreachable);
      const now = c.actor.getSnapshot();
      if (c.generation !== generation || recordState(now.value) !== "starting") {
        // Abandoned attempt (stopped or recycled meanwhile): do not leave an orphan running.
        void killOn(this.deps.nc, this.deps.ns, host, id, pid, "SIGKILL");
        return;
      }
      c.actor.send({ type: "SPAWNED", pid, host });
      const early = c.earlyExits.get(pid);
      c.earlyExits.clear();
      if (early !== undefined) c.actor.send({ type: "EXITED", pid, cause: early });
    } catch (err) {
      if (c.generation === generation) c.actor.send({ type: "SPAWN_FAILED", cause: (err as Error).message });
    }
  }

  private requestOf(c: Child, epoch = 0): SpawnRequest {
    return spawnRequestOf(c.spec, { id: this.id, timeouts: this.spec.timeouts, env: this.childEnv, epoch: Math.max(this.epoch, epoch) });
  }

  private rejected(on: string, error: Error): void {
    void this.emit({ type: "message.rejected", subject: this.id, time: Date.now(), data: { kind: error.name, reason: error.message, on } });
  }

  private onHeartbeat(data: Uint8Array): void {
    const r = decodeAs(data, heartbeatSchema);
    if (!r.ok) {
      this.rejected("heartbeat", r.error);
      return;
    }
    const hb = r.value;
    this.children.get(hb.actorId)?.actor.send({ type: "HEARTBEAT", pid: hb.pid, step: hb.step, epoch: hb.epoch, time: hb.time });
  }

  private onExit(data: Uint8Array): void {
    const r = decodeAs(data, exitReportSchema);
    if (!r.ok) {
      this.rejected("exit report", r.error);
      return;
    }
    const c = this.children.get(r.value.actorId);
    if (!c) return;
    const cause = deathOfExit(r.value);
    const snap = c.actor.getSnapshot();
    if (recordState(snap.value) === "starting" && snap.context.pid === null) c.earlyExits.set(r.value.pid, cause);
    else c.actor.send({ type: "EXITED", pid: r.value.pid, cause });
  }

  private async onChildFailed(id: string, cause: DeathCause): Promise<void> {
    const c = this.children.get(id);
    if (!c || recordState(c.actor.getSnapshot().value) !== "failed") return;
    if (this.current !== "running") {
      c.actor.send({ type: "STOP", cause });
      return;
    }
    const now = Date.now();
    if (!this.intensity.allow(now)) {
      await this.escalate(id, cause);
      return;
    }
    c.failures.allow(now);
    const attempt = c.failures.count(now);
    const delayMs = backoffDelay(this.spec.backoff, attempt, this.deps.random);
    const affected = this.affectedSiblings(id);
    c.actor.send({ type: "RESTART", delayMs });
    for (const sib of affected) {
      sib.actor.send({ type: "RECYCLE", reason: `${this.spec.strategy}: sibling ${id} failed`, delayMs });
    }
    void this.emit({
      type: "supervisor.restart",
      subject: this.id,
      time: now,
      data: {
        child: id,
        cause: describeDeath(cause),
        strategy: this.spec.strategy,
        delayMs,
        attempt,
        siblings: affected.map((s) => s.spec.id),
      },
    });
  }

  private affectedSiblings(id: string): Child[] {
    const all = [...this.children.values()].map((c) => ({ id: c.spec.id, dead: recordState(c.actor.getSnapshot().value) === "dead" }));
    return affectedSiblings(this.spec.strategy, all, id).map((sib) => this.children.get(sib)!);
  }

  private async escalate(id: string, last: DeathCause): Promise<void> {
    this.current = "escalated";
    const exceeded = { child: id, ...this.spec.intensity, last };
    const cause = describeIntensityExceeded(exceeded);
    const parentId = this.deps.parent?.id ?? null;
    // the failing child stops now; its siblings run until the parent has decided, so a parent can still use them
    // (a job's coordinator saves their state in a final checkpoint before it answers "stop")
    this.children.get(id)?.actor.send({ type: "STOP", cause: { kind: "escalated", to: parentId, ...exceeded } });
    await this.emit({ type: "supervisor.escalated", subject: this.id, time: Date.now(), data: { cause, child: id, parent: parentId } });
    const decision = this.deps.parent
      ? await this.deps.parent.handleEscalation({ from: this.id, child: id, last, cause, time: Date.now() })
      : "stop";
    await this.emit({
      type: "supervisor.escalation-decided",
      subject: this.id,
      time: Date.now(),
      data: { decision, by: parentId ?? "none (root supervisor)", cause },
    });
    this.log.warn({ cause, decision }, "escalated");
    if (decision === "restart" && this.current === "escalated") {
      this.intensity.reset();
      this.current = "running";
      for (const c of this.children.values()) {
        c.failures.reset();
        c.actor.send({ type: "RECYCLE", reason: `parent ${parentId} restarted supervisor ${this.id}`, delayMs: 0 });
      }
    } else {
      for (const c of this.children.values()) {
        if (c.spec.id !== id && recordState(c.actor.getSnapshot().value) !== "dead")
          c.actor.send({ type: "STOP", cause: { kind: "sibling-escalated", by: this.id, child: id } });
      }
      if (this.current === "escalated") this.current = "stopped";
    }
  }
}
