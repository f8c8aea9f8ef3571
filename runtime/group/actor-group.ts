// A job's members as one supervised group: the one place where they are started under a Supervisor, asked things,
// waited on, lost, moved to a new epoch and stopped. The job drivers (training coordinator, inference driver,
// dedup) are policy over it.
//
//   const group = new ActorGroup(deps, { id, members, start: (m) => ({ argv }), subject, strategy: "one_for_one" });
//   group.onLost((m, death) => …);                         // a typed cause (runtime/death-cause.ts)
//   await group.start();
//   await group.waitAll("idle", { epoch: group.epoch, deadline });   // the members' own lifecycle records (KV)
//   const ready = await group.ask(m, "step", req);          // typed by the verb; rejects at once if m dies
//
// The epoch changes only through bumpEpoch(): members started from then on get it, and every request carries it.
import type { NatsConnection } from "@nats-io/transport-node";
import { deferred } from "../async.ts";
import { validateBackoff, validateIntensity } from "../backoff.ts";
import type { ConnectionStatus } from "../connection.ts";
import type { DeathCause } from "../death-cause.ts";
import type { EventLog } from "../event-log.ts";
import { LifecycleStore, type LifecycleRecord } from "../lifecycle-recorder.ts";
import type { Logger } from "../logger.ts";
import type { Namespace } from "../namespace.ts";
import type { Registry } from "../registry.ts";
import { call, callRetrying } from "../rpc.ts";
import { Supervisor } from "../supervisor.ts";
import { recordState } from "../supervisor-child.ts";
import { validateTimeouts } from "../timeouts.ts";
import type {
  ActorRecord,
  ActorRecordState,
  BackoffPolicy,
  Coordinates,
  EscalationHandler,
  Intensity,
  RestartStrategy,
  Timeouts,
} from "../types.ts";
import { EpochMovedError, GroupStoppedError, MemberLostError, NotReachedError } from "./errors.ts";
import { LifecycleWatch } from "./lifecycle-watch.ts";
import type { AskOptions, Protocol, ReplyOf, RequestOf, Verb } from "./protocol.ts";

export interface GroupMember<C> {
  readonly id: string;
  readonly coords: C;
}

export interface GroupDeps {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  logger: Logger;
  /** Gets the supervisor's escalations (a job's coordinator). */
  parent?: EscalationHandler;
}

export interface GroupSpec<C, P> {
  /** The supervisor's id (a job id). */
  id: string;
  members: readonly GroupMember<C>[];
  /** How a member's process starts, and the coordinates its actor record and TROUPE_COORDS carry. */
  start: (m: GroupMember<C>) => { argv: string[]; env?: Record<string, string>; coords?: Coordinates; cwd?: string };
  strategy: RestartStrategy;
  intensity?: Partial<Intensity>;
  backoff?: Partial<BackoffPolicy>;
  timeouts?: Partial<Timeouts>;
  /** The subject a member serves a verb on. */
  subject: (memberId: string, verb: Verb<P>) => string;
  /** Epoch the members start in (default 0). */
  epoch?: number;
  /** Verbs with idempotent handlers: asked again every `attemptMs` while the request or its reply may have been lost. */
  retry?: { verbs: ReadonlySet<Verb<P>>; attemptMs: number };
  /** A request every live member answers at once (its status): settle() asks it. */
  probe?: { verb: Verb<P>; req: object };
  /** The kind under which members record their own lifecycle (runtime/lifecycle-recorder.ts): waitFor reads it. */
  lifecycleKind?: string;
}

export type LostListener<C> = (m: GroupMember<C>, death: DeathCause, state: "failed" | "dead") => void;

/** A member as the supervisor sees it: `death` is why it last failed or died. */
export interface MemberRecord {
  id: string;
  state: ActorRecordState;
  pid: number | null;
  restarts: number;
  death: DeathCause | null;
}

export interface WaitOptions {
  /** Wait only in this epoch: a newer one rejects the wait with EpochMovedError. */
  epoch?: number;
  /** Wall-clock ms after which the wait rejects with NotReachedError. */
  deadline: number;
}

/** How long a probe waits for one answer before asking again. */
const PROBE_ATTEMPT_MS = 1000;

const gone = (s: ActorRecordState) => s === "failed" || s === "dead" || s === "restarting";
const running = (s: ActorRecordState) => s === "alive" || s === "suspect";

export class ActorGroup<C, P extends Protocol<P>> {
  readonly id: string;
  readonly timeouts: Timeouts;
  private readonly supervisor: Supervisor;
  private readonly byId: Map<string, GroupMember<C>>;
  private current: number;
  private readonly inFlight = new Map<string, Set<(err: Error) => void>>();
  private readonly lostListeners = new Set<LostListener<C>>();
  private readonly epochListeners = new Set<(epoch: number) => void>();
  private readonly recordListeners = new Set<(id: string) => void>();
  /** Rejecters of every wait in progress: failing or stopping the group ends them. */
  private readonly waits = new Set<(err: Error) => void>();
  private readonly failing = deferred<never>();
  private failureError: Error | undefined;
  private lifecycles: LifecycleWatch | undefined;
  /** Members stopped for good (an elastic job that shrank): no longer members, their deaths not losses. */
  private readonly retired = new Set<string>();

  constructor(
    private readonly deps: GroupDeps,
    private readonly spec: GroupSpec<C, P>,
  ) {
    this.id = spec.id;
    this.byId = new Map(spec.members.map((m) => [m.id, m]));
    this.timeouts = validateTimeouts(spec.timeouts);
    this.current = spec.epoch ?? 0;
    this.supervisor = new Supervisor(deps, {
      id: spec.id,
      strategy: spec.strategy,
      intensity: validateIntensity(spec.intensity),
      backoff: validateBackoff(spec.backoff),
      timeouts: this.timeouts,
      children: spec.members.map((m) => ({ id: m.id, ...spec.start(m) })),
    });
    this.supervisor.setEpoch(this.current);
    this.supervisor.onTransition((rec, from, death) => this.onTransition(rec, from, death));
  }

  get members(): readonly GroupMember<C>[] {
    return this.retired.size ? this.spec.members.filter((m) => !this.retired.has(m.id)) : this.spec.members;
  }

  /** Members retired so far (retire()), in the group's order. */
  get retiredMembers(): readonly GroupMember<C>[] {
    return this.spec.members.filter((m) => this.retired.has(m.id));
  }

  /** A retired member joins the group again (an elastic job growing back): a new process starts in the current epoch. */
  reinstate(m: GroupMember<C>, reason: string): void {
    this.retired.delete(m.id);
    this.supervisor.restartChild(m.id, reason, "job.restart");
  }

  /** Stops a member for good and drops it from the group (an elastic job shrinking): its death is no loss. */
  retire(m: GroupMember<C>, reason: string): void {
    this.retired.add(m.id);
    for (const reject of this.inFlight.get(m.id) ?? []) reject(new MemberLostError(m.id, { kind: "stopped", by: this.id, reason }));
    this.supervisor.stopChild(m.id, reason);
  }

  /** The epoch of the group's membership: members started now get it, every request carries it. */
  get epoch(): number {
    return this.current;
  }

  /** Rejects with the group's failure (fail()); never resolves. */
  get failed(): Promise<never> {
    return this.failing;
  }

  /** The error the group failed with, if it did. */
  get failure(): Error | undefined {
    return this.failureError;
  }

  /** The only place the epoch changes; `env` is added to the environment of members started from now on. */
  bumpEpoch(env?: Record<string, string>): number {
    this.current++;
    this.supervisor.setEpoch(this.current, env);
    for (const l of this.epochListeners) l(this.current);
    return this.current;
  }

  /** Fails the group (first failure wins): `failed` rejects with it, and so does every wait in progress. */
  fail(err: Error): void {
    if (this.failureError) return;
    this.failureError = err;
    this.failing.reject(err);
    for (const end of this.waits) end(err);
  }

  onLost(listener: LostListener<C>): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Starts the members; with `adopt`, members whose processes still run (a driver started again) are taken over. */
  async start(o: { adopt?: boolean } = {}): Promise<void> {
    const kind = this.spec.lifecycleKind;
    const { nc, ns, logger } = this.deps;
    if (kind)
      this.lifecycles = new LifecycleWatch(
        await LifecycleStore.open(nc, ns),
        kind,
        new Set(this.byId.keys()),
        logger,
        () => !nc.isClosed(),
      );
    await this.supervisor.start(o);
  }

  /** Wire this to the NATS connection's status: silence is not counted while the group cannot hear. */
  connectionChanged(status: ConnectionStatus): void {
    this.supervisor.connectionChanged(status);
  }

  /**
   * Asks one member; the reply is typed by the verb. Rejects at once with MemberLostError when the member dies (or is
   * killed to be restarted) meanwhile; a retried verb stops being asked when the group fails or its epoch moves.
   */
  async ask<V extends Verb<P>>(m: GroupMember<C>, verb: V, req: RequestOf<P, V>, o: AskOptions = {}): Promise<ReplyOf<P, V>> {
    const retried = this.spec.retry?.verbs.has(verb) ? this.spec.retry.attemptMs : undefined;
    return (await this.request(m, verb, req, o.timeoutMs ?? this.timeouts.stepMs, retried)) as ReplyOf<P, V>;
  }

  /**
   * Waits until each of `members` that runs either answers the probe verb or is lost (or `deadlineMs` passes): members
   * that die together are reported one by one, and a request that failed because a peer died fails before that death
   * is known.
   */
  async settle(members: readonly GroupMember<C>[], o: { deadlineMs: number }): Promise<void> {
    const probe = this.spec.probe;
    if (!probe) throw new Error(`group ${this.id} has no probe verb to settle with`);
    const live = members.filter((m) => running(this.record(m).state));
    await Promise.all(live.map((m) => this.request(m, probe.verb, probe.req, o.deadlineMs, PROBE_ATTEMPT_MS).catch(() => undefined)));
  }

  /**
   * Resolves with the member's own lifecycle record once it is in `state` (in `epoch`, when given), written by the
   * process the supervisor started last. Rejects on the deadline, a newer epoch, the group failing or stopping.
   */
  waitFor(m: GroupMember<C>, state: string, o: WaitOptions): Promise<LifecycleRecord> {
    const lifecycles = this.lifecycles;
    if (!lifecycles) return Promise.reject(new Error(`group ${this.id} watches no lifecycle records`));
    const accept = (rec: LifecycleRecord) =>
      rec.value === state &&
      (o.epoch === undefined || epochOf(rec) === o.epoch) &&
      (rec.pid === undefined || rec.pid === this.record(m).pid);
    const last = () => {
      const rec = lifecycles.last(m.id);
      return rec ? String(typeof rec.value === "string" ? rec.value : JSON.stringify(rec.value)) : null;
    };
    return this.wait(
      o,
      () => new NotReachedError(m.id, state, last()),
      (reached) => lifecycles.until(m.id, accept, reached),
    );
  }

  /** waitFor on every member; the first to fail fails it. */
  async waitAll(state: string, o: WaitOptions): Promise<void> {
    await Promise.all(this.members.map((m) => this.waitFor(m, state, o)));
  }

  /** Resolves once the supervisor sees the member in one of `states`; rejects with MemberLostError if it is dead. */
  waitForRecord(m: GroupMember<C>, states: readonly ActorRecordState[], o: WaitOptions): Promise<MemberRecord> {
    return this.wait(
      o,
      () => new NotReachedError(m.id, states.join(" or "), this.record(m).state),
      (reached, lost) => {
        const check = (id: string) => {
          if (id !== m.id) return;
          const r = this.record(m);
          if (states.includes(r.state)) reached(r);
          else if (r.state === "dead") lost(new MemberLostError(m.id, r.death ?? { kind: "stopped", by: this.id, reason: "stopped" }));
        };
        this.recordListeners.add(check);
        check(m.id);
        return () => this.recordListeners.delete(check);
      },
    );
  }

  /** Kills the member's process and starts a new one (not counted as a failure); `kind` names who asked. */
  restart(m: GroupMember<C>, reason: string, kind: "operator.restart" | "job.restart" = "operator.restart"): void {
    this.supervisor.restartChild(m.id, reason, kind);
  }

  /** Asks every member that still runs to drain; one that dies meanwhile is not waited for. */
  async drain<V extends Verb<P>>(verb: V, req: RequestOf<P, V>, o: { timeoutMs: number }): Promise<void> {
    const running = this.members.filter((m) => !["failed", "dead"].includes(this.record(m).state));
    await Promise.all(running.map((m) => this.request(m, verb, req, o.timeoutMs, undefined).catch(() => undefined)));
  }

  /** Stops every member (the cause recorded as their death) and ends every wait. */
  async stop(reason: string): Promise<void> {
    this.lifecycles?.close();
    for (const end of this.waits) end(new GroupStoppedError(`group ${this.id} stopped: ${reason}`));
    await this.supervisor.stop(reason);
  }

  record(m: GroupMember<C>): MemberRecord {
    const snap = this.supervisor.snapshot(m.id);
    return { id: m.id, state: recordState(snap.value), pid: snap.context.pid, restarts: snap.context.restarts, death: snap.context.death };
  }

  records(): MemberRecord[] {
    return this.members.map((m) => this.record(m));
  }

  private async request(m: GroupMember<C>, verb: Verb<P>, req: object, timeoutMs: number, attemptMs: number | undefined): Promise<unknown> {
    const epoch = this.current;
    const subject = this.spec.subject(m.id, verb);
    const payload = { epoch, ...req };
    const reply =
      attemptMs === undefined
        ? call(this.deps.nc, subject, payload, timeoutMs)
        : callRetrying(this.deps.nc, subject, payload, {
            attemptMs: Math.min(attemptMs, timeoutMs),
            deadlineMs: timeoutMs,
            stop: () => this.failureError ?? (this.current !== epoch ? new EpochMovedError(epoch, this.current) : undefined),
          });
    const lost = deferred<never>();
    const asks = this.inFlight.get(m.id) ?? new Set();
    this.inFlight.set(m.id, asks);
    asks.add(lost.reject);
    try {
      return await Promise.race([reply, lost]);
    } finally {
      asks.delete(lost.reject);
    }
  }

  private onTransition(rec: ActorRecord, from: ActorRecordState, death: DeathCause | null): void {
    const m = this.byId.get(rec.id);
    if (!m || this.retired.has(m.id)) return;
    // the policy hears of the death before the requests it breaks fail: it can tell a loss from an error
    if ((rec.state === "failed" || rec.state === "dead") && death) for (const l of this.lostListeners) l(m, death, rec.state);
    if (gone(rec.state) && from !== "failed" && from !== "dead") {
      const cause: DeathCause =
        rec.state === "restarting"
          ? { kind: "restarted", reason: this.supervisor.snapshot(m.id).context.restartReason ?? "restarted" }
          : (death ?? { kind: "stopped", by: this.id, reason: "stopped" });
      for (const reject of this.inFlight.get(m.id) ?? []) reject(new MemberLostError(m.id, cause));
    }
    for (const l of this.recordListeners) l(m.id);
    this.lifecycles?.check(m.id);
  }

  /** A wait ended by `watch` calling reached (or lost), the deadline, a newer epoch, the group failing or stopping. */
  private wait<T>(
    o: WaitOptions,
    late: () => Error,
    watch: (reached: (v: T) => void, lost: (err: Error) => void) => () => void,
  ): Promise<T> {
    const d = deferred<T>();
    const end = (err: Error) => d.reject(err);
    const onEpoch = (epoch: number) => o.epoch !== undefined && epoch !== o.epoch && end(new EpochMovedError(o.epoch, epoch));
    this.waits.add(end);
    this.epochListeners.add(onEpoch);
    const timer = setTimeout(() => end(late()), Math.max(0, o.deadline - Date.now()));
    const cancel = watch((v) => d.resolve(v), end);
    onEpoch(this.current);
    if (this.failureError) end(this.failureError);
    return d.finally(() => {
      cancel();
      clearTimeout(timer);
      this.waits.delete(end);
      this.epochListeners.delete(onEpoch);
    });
  }
}

function epochOf(rec: LifecycleRecord): number | undefined {
  const ctx = rec.context as { epoch?: unknown } | null;
  return typeof ctx?.epoch === "number" ? ctx.epoch : undefined;
}
