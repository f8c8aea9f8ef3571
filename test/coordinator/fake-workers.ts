// A fake worker group for unit tests of the training policy (actors/coordinator/policy.ts): the WorkerGroup the
// policy's parts use, with workers that answer every verb at once as healthy ones do, a supervisor that restarts a
// lost worker in the current epoch (its replacement records `restoring`, or `idle` when the job reloads), and hooks
// to lose a worker in the middle of any request. No processes, no NATS.
import { pino } from "pino";
import { createActor } from "xstate";
import { LOAD_EPOCH_ENV } from "../../runtime/actor-process.ts";
import type { DeathCause } from "../../runtime/death-cause.ts";
import type { EventLog } from "../../runtime/event-log.ts";
import type { LostListener, MemberRecord, WaitOptions } from "../../runtime/group/actor-group.ts";
import { EpochMovedError, MemberLostError, NotReachedError } from "../../runtime/group/errors.ts";
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import type { ActorRecordState, ClusterEvent, Escalation } from "../../runtime/types.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { rankMembers, type RankMember } from "../../actors/rank-members.ts";
import type { WorkerProtocol } from "../../actors/worker/protocol.ts";
import { jobMachine } from "../../actors/coordinator/job-machine.ts";
import type { CommittedStep, JobStore } from "../../actors/coordinator/job-store.ts";
import { TrainingPolicy } from "../../actors/coordinator/policy.ts";
import type { CoordinatorOptions } from "../../actors/coordinator/types.ts";
import type { WorkerGroup } from "../../actors/coordinator/worker-group.ts";

type Verb = keyof WorkerProtocol;
type Handler<V extends Verb> = (
  w: RankMember,
  req: WorkerProtocol[V]["req"],
) => WorkerProtocol[V]["reply"] | Promise<WorkerProtocol[V]["reply"]> | undefined;

interface Worker {
  record: ActorRecordState;
  pid: number;
  restarts: number;
  death: DeathCause | null;
  /** The worker's own lifecycle state, and the epoch it joined. */
  life: { value: string; epoch: number } | undefined;
  applied: number;
  inFlight: Set<(err: Error) => void>;
  checkpointAsked: Set<number>;
}

interface Ask {
  id: string;
  verb: Verb;
  epoch: number;
  req: object;
}

class FakeWorkers implements WorkerGroup {
  private readonly all: RankMember[];
  /** Workers whose replacements never come (no spare host): they stay `joining`. */
  readonly unreplaceable = new Set<string>();
  /** Workers retired by an elastic shrink. */
  readonly retired: string[] = [];
  readonly timeouts = validateTimeouts({ heartbeatMs: 500, suspectMs: 3000, killMs: 10_000, stepMs: 300_000, startMs: 180_000 });
  /** Every request, in order. */
  readonly asks: Ask[] = [];
  /** Every restart the policy asked for. */
  readonly restarts: { id: string; reason: string; kind: string }[] = [];
  /** Hooks: answer (or lose the worker) instead of the healthy default; undefined falls back to the default. */
  readonly on: { [V in Verb]?: Handler<V> } = {};
  /** Whether a started worker loads at once (false: the test calls loaded()). */
  autoLoad = true;
  private current = 1;
  private loadEpoch = 1;
  private nextPid = 1000;
  private readonly workers = new Map<string, Worker>();
  private readonly lostListeners = new Set<LostListener<RankMember["coords"]>>();
  private readonly changed = new Set<() => void>();
  private failure_: Error | undefined;
  private readonly failing: Promise<never>;
  private failNow!: (err: Error) => void;

  constructor(sizes: { dp: number; pp?: number; tp?: number }) {
    this.all = rankMembers("j", rankLayout({ dp: sizes.dp, pp: sizes.pp ?? 1, tp: sizes.tp ?? 1 }).coords);
    for (const m of this.all)
      this.workers.set(m.id, {
        record: "pending",
        pid: 0,
        restarts: 0,
        death: null,
        life: undefined,
        applied: 0,
        inFlight: new Set(),
        checkpointAsked: new Set(),
      });
    this.failing = new Promise<never>((_, reject) => (this.failNow = reject));
    this.failing.catch(() => undefined);
  }

  get members(): RankMember[] {
    return this.all.filter((m) => !this.retired.includes(m.id));
  }

  member(id: string): RankMember {
    return this.all.find((m) => m.id === id)!;
  }

  get retiredMembers(): RankMember[] {
    return this.all.filter((m) => this.retired.includes(m.id));
  }

  reinstate(m: RankMember): void {
    this.retired.splice(this.retired.indexOf(m.id), 1);
    this.unreplaceable.delete(m.id);
    queueMicrotask(() => this.spawn(m));
  }

  retire(m: RankMember): void {
    this.retired.push(m.id);
    const s = this.workers.get(m.id)!;
    for (const reject of s.inFlight) reject(new MemberLostError(m.id, { kind: "stopped", by: "j", reason: "retired" }));
    s.record = "dead";
    s.life = undefined;
  }

  get epoch(): number {
    return this.current;
  }

  get failed(): Promise<never> {
    return this.failing;
  }

  get failure(): Error | undefined {
    return this.failure_;
  }

  fail(err: Error): void {
    if (this.failure_) return;
    this.failure_ = err;
    this.failNow(err);
    this.notify();
  }

  bumpEpoch(env?: Record<string, string>): number {
    this.current++;
    if (env?.[LOAD_EPOCH_ENV]) this.loadEpoch = Number(env[LOAD_EPOCH_ENV]);
    this.notify();
    return this.current;
  }

  onLost(listener: LostListener<RankMember["coords"]>): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** The supervisor starts every worker; each loads (autoLoad) in the current epoch. */
  async start(): Promise<void> {
    for (const m of this.members) this.spawn(m);
  }

  /** Worker `w` finishes loading: it records idle in the epoch it was started in. */
  loaded(w: RankMember): void {
    const s = this.workers.get(w.id)!;
    s.life = { value: "idle", epoch: s.life?.epoch ?? this.current };
    this.notify();
  }

  /** The worker's process dies: the supervisor records the failure (the policy hears it), then starts another. */
  kill(w: RankMember, death: DeathCause = { kind: "signal", signal: "SIGKILL" }): void {
    const s = this.workers.get(w.id)!;
    s.record = "failed";
    s.death = death;
    s.life = undefined;
    for (const l of this.lostListeners) l(w, death, "failed");
    for (const reject of s.inFlight) reject(new MemberLostError(w.id, death));
    s.restarts++;
    queueMicrotask(() => this.spawn(w));
  }

  /** The worker fails once too often: the supervisor gives it up and escalates (the test hands this to the policy). */
  escalate(w: RankMember, last: DeathCause = { kind: "signal", signal: "SIGKILL" }): Escalation {
    const s = this.workers.get(w.id)!;
    s.record = "failed";
    s.death = last;
    for (const l of this.lostListeners) l(w, last, "failed");
    for (const reject of s.inFlight) reject(new MemberLostError(w.id, last));
    const exceeded = { child: w.id, maxRestarts: 3, periodMs: 60_000, last };
    const death: DeathCause = { kind: "escalated", to: "j", ...exceeded };
    s.record = "dead";
    s.death = death;
    for (const l of this.lostListeners) l(w, death, "dead");
    return {
      from: "j",
      child: w.id,
      last,
      cause: "restart intensity exceeded (more than 3 restarts in 60000 ms); last failure: " + w.id + " killed by SIGKILL",
      time: Date.now(),
    };
  }

  restart(m: RankMember, reason: string, kind: "operator.restart" | "job.restart" = "operator.restart"): void {
    this.restarts.push({ id: m.id, reason, kind });
    const s = this.workers.get(m.id)!;
    for (const reject of s.inFlight) reject(new MemberLostError(m.id, { kind: "restarted", reason }));
    s.life = undefined;
    queueMicrotask(() => this.spawn(m));
  }

  record(m: RankMember): MemberRecord {
    const s = this.workers.get(m.id)!;
    return { id: m.id, state: s.record, pid: s.pid, restarts: s.restarts, death: s.death };
  }

  records(): MemberRecord[] {
    return this.members.map((m) => this.record(m));
  }

  async settle(): Promise<void> {}

  async ask<V extends Verb>(w: RankMember, verb: V, req: WorkerProtocol[V]["req"]): Promise<WorkerProtocol[V]["reply"]> {
    this.asks.push({ id: w.id, verb, epoch: this.current, req });
    const s = this.workers.get(w.id)!;
    let reject!: (err: Error) => void;
    const lost = new Promise<never>((_, r) => (reject = r));
    s.inFlight.add(reject);
    try {
      const answer = Promise.resolve().then(() => (this.on[verb] as Handler<V> | undefined)?.(w, req) ?? this.healthy(w, verb, req));
      return await Promise.race([answer, lost]);
    } finally {
      s.inFlight.delete(reject);
    }
  }

  async waitFor(m: RankMember, state: string, o: WaitOptions): Promise<LifecycleRecord> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.workers.get(m.id)!;
        if (this.failure_) return done(() => reject(this.failure_));
        if (o.epoch !== undefined && this.current !== o.epoch) return done(() => reject(new EpochMovedError(o.epoch!, this.current)));
        if (s.life?.value === state && (o.epoch === undefined || s.life.epoch === o.epoch)) {
          return done(() =>
            resolve({
              kind: "worker",
              id: m.id,
              value: state,
              context: { epoch: s.life!.epoch },
              status: "active",
              pid: s.pid,
              seq: 1,
              updatedAt: Date.now(),
            }),
          );
        }
        if (Date.now() > o.deadline) return done(() => reject(new NotReachedError(m.id, state, s.life?.value ?? null)));
      };
      let done = (settle: () => void) => {
        this.changed.delete(check);
        settle();
      };
      this.changed.add(check);
      const timer = setTimeout(check, Math.max(0, o.deadline - Date.now() + 5));
      const settle = done;
      done = (then) => (clearTimeout(timer), settle(then));
      check();
    });
  }

  async waitAll(state: string, o: WaitOptions): Promise<void> {
    await Promise.all(this.members.map((m) => this.waitFor(m, state, o)));
  }

  /** Asks of one verb, in order. */
  asked(verb: Verb): Ask[] {
    return this.asks.filter((a) => a.verb === verb);
  }

  private spawn(m: RankMember): void {
    const s = this.workers.get(m.id)!;
    s.record = "alive";
    s.pid = this.nextPid++;
    s.death = null;
    // a process started in a later epoch than the job's last load replaces a lost worker: it waits for its state
    const replacement = this.current > this.loadEpoch;
    s.life = replacement
      ? { value: this.unreplaceable.has(m.id) ? "joining" : "restoring", epoch: this.current }
      : this.autoLoad
        ? { value: "idle", epoch: this.current }
        : { value: "loading", epoch: this.current };
    if (!replacement) s.applied = 0;
    this.notify();
  }

  private notify(): void {
    for (const c of [...this.changed]) c();
  }

  private healthy(w: RankMember, verb: Verb, req: object): WorkerProtocol[Verb]["reply"] {
    const s = this.workers.get(w.id)!;
    const r = req as Record<string, unknown>;
    switch (verb) {
      case "step":
        return { step: r.step as number, epoch: this.current, lossSum: 2, gradNormSquared: 1 };
      case "apply":
        s.applied = r.step as number;
        return { step: r.step as number, epoch: this.current };
      case "validate":
        return { loss: 1.5 };
      case "status":
        return { state: s.life?.value ?? "booting", step: s.applied, epoch: this.current, committed: s.applied, rejected: 0, pid: s.pid };
      case "recover":
      case "halt":
        return { applied: s.applied, optimizerStepCount: s.applied };
      case "sendState":
        return { sent: 1 };
      case "restore": {
        const peer = this.members.find((p) => p.coords.rank === r.from)!;
        s.applied = this.workers.get(peer.id)!.applied;
        s.life = { value: "idle", epoch: this.current };
        return { actorId: w.id, source: "peer", from: `rank ${r.from as number}`, step: s.applied, seconds: 0.01 };
      }
      case "loadCheckpoint":
        return { actorId: w.id, source: "checkpoint", from: r.dir as string, step: 0, seconds: 0.01 };
      case "checkpoint": {
        const dir = `${r.root as string}/step-${r.step as number}`;
        const again = s.checkpointAsked.has(r.step as number);
        s.checkpointAsked.add(r.step as number);
        return { dir, written: again };
      }
      case "checkpointShard":
        throw new Error("the fake workers write no sharded checkpoints");
      case "drain":
        return { state: "stopped" };
      case "gatherShards":
        return { gathered: true };
      case "reshard":
        return { resharded: true };
    }
  }
}

/** The policy over fake workers, with an event log and a job store that only record. */
export function fakeJob(sizes: { dp: number; pp?: number; tp?: number }, options: Partial<CoordinatorOptions> = {}) {
  const group = new FakeWorkers(sizes);
  const job = createActor(jobMachine).start();
  const events: ClusterEvent[] = [];
  const committed: CommittedStep[] = [];
  const eventLog = { publish: async (e: ClusterEvent) => void events.push(e) } as unknown as EventLog;
  const applies: number[] = [];
  const store = {
    commit: async (c: CommittedStep) => void committed.push(c),
    recordApply: async (_job: string, sent: { step: number }) => void applies.push(sent.step),
    setStraggler: async () => undefined,
  } as unknown as JobStore;
  const layout = (sizes.pp ?? 1) * (sizes.tp ?? 1) > 1 ? rankLayout({ dp: sizes.dp, pp: sizes.pp ?? 1, tp: sizes.tp ?? 1 }) : undefined;
  const policy = new TrainingPolicy({
    group,
    job,
    events: eventLog,
    logger: pino({ level: "silent" }),
    store: () => store,
    options: { jobId: "j", jobFile: "job.json", dp: sizes.dp, layout, microBatch: 1, clip: 1, ...options },
  });
  return { group, job, policy, events, committed, applies };
}

/** The plan of step k of a job whose steps hold `dp` sequences of 8 tokens. */
export function plan(step: number, dp: number): { step: number; lr: number; batchSize: number; firstSample: number; tokensAfter: number } {
  return { step, lr: 0.01, batchSize: dp, firstSample: (step - 1) * dp, tokensAfter: step * dp * 8 };
}
