// The dashboard's recovery timeline: each loss of a worker as a bar split into detect, spawn, boot, join, restore
// and rerun (to the commit of the step the loss interrupted), built from the events the runtime already publishes
// (docs/reference/events.md, "What a recovery looks like in the log"). Fed one event at a time, in stream order.
import type { StoredEvent } from "../../runtime/event-log.ts";
import { phaseName } from "../cluster/format.ts";

const RECOVERY_PHASES = ["detect", "spawn", "boot", "join", "restore", "rerun"] as const;
type RecoveryPhase = (typeof RECOVERY_PHASES)[number];

export interface RecoveryBar {
  actor: string;
  job: string;
  cause: string;
  /** `peer` or `checkpoint`, and which peer or checkpoint. */
  source: string;
  from: string;
  /** Wall-clock ms of the failure (the fault, or the exit when no fault was injected through troupe). */
  start: number;
  /** Seconds from the detection of the failure to the job ready to step again, as the coordinator measured it. */
  seconds: number;
  /** Each phase's end in wall-clock ms, in RECOVERY_PHASES order (a phase no event marked ends where the one before did). */
  ends: Record<RecoveryPhase, number>;
}

/** What is known of a worker that failed and is not restored yet. */
interface Open {
  faultAt: number;
  failedAt?: number;
  startingAt?: number;
  aliveAt?: number;
  restoringAt?: number;
}

const FAULTS = new Set(["operator.kill", "chaos.fault", "process.exited"]);
const KEEP = 200;

/** A fault, or an actor's failure: what starts a bar (when none is open for that actor). */
export function opensRecovery(e: StoredEvent): boolean {
  return FAULTS.has(e.type) || (e.type === "actor.transition" && String(e.data.to) === "failed");
}

export class RecoveryTracker {
  private readonly open = new Map<string, Open>();
  private readonly list: RecoveryBar[] = [];
  /** Bars whose rerun ends at the commit of their job's interrupted step, not seen yet. */
  private readonly awaitingCommit: { bar: RecoveryBar; step: number }[] = [];

  get bars(): readonly RecoveryBar[] {
    return this.list;
  }

  /** Takes one event; true when a bar was added. */
  add(e: StoredEvent): boolean {
    const d = e.data;
    if (FAULTS.has(e.type)) {
      if (!this.open.has(e.subject)) this.open.set(e.subject, { faultAt: e.time });
      return false;
    }
    if (e.type === "actor.transition") return this.transition(e.subject, String(d.to), e.time);
    if (e.type === "worker.transition" && phaseName(d.to).startsWith("restoring")) {
      const o = this.open.get(e.subject);
      if (o && o.restoringAt === undefined) o.restoringAt = e.time;
      return false;
    }
    if (e.type === "worker.restored") return this.restored(e);
    if (e.type === "step.committed") return this.committed(e);
    return false;
  }

  /** The interrupted step committed (run again, or committed as it was when every worker had applied it). */
  private committed(e: StoredEvent): boolean {
    const step = typeof e.data.step === "number" ? e.data.step : NaN;
    let changed = false;
    for (let k = this.awaitingCommit.length - 1; k >= 0; k--) {
      const { bar, step: awaited } = this.awaitingCommit[k]!;
      if (bar.job !== e.subject || !(step >= awaited)) continue;
      bar.ends.rerun = Math.max(bar.ends.restore, e.time);
      this.awaitingCommit.splice(k, 1);
      changed = true;
    }
    return changed;
  }

  private transition(actor: string, to: string, at: number): boolean {
    if (to === "failed") {
      const o = this.open.get(actor) ?? { faultAt: at };
      o.failedAt = at;
      this.open.set(actor, o);
    } else if (to === "dead") this.open.delete(actor);
    const o = this.open.get(actor);
    if (!o) return false;
    if (to === "starting" && o.failedAt !== undefined) o.startingAt = at;
    if (to === "alive" && o.startingAt !== undefined) o.aliveAt = at;
    // an actor back alive with no failure recorded exited normally (its job ended): nothing to recover
    if (to === "alive" && o.failedAt === undefined) this.open.delete(actor);
    return false;
  }

  private restored(e: StoredEvent): boolean {
    const d = e.data;
    const actor = typeof d.actorId === "string" ? d.actorId : e.subject;
    const o = this.open.get(actor);
    this.open.delete(actor);
    const start = Math.min(o?.faultAt ?? Infinity, typeof d.detectedAt === "number" ? d.detectedAt : Infinity, e.time);
    // each phase ends no earlier than the one before it (events come from different clocks and publishers)
    let last = start;
    const at = (t: number | undefined) => (last = Math.max(last, t ?? last));
    const ends: Record<RecoveryPhase, number> = {
      detect: at(o?.failedAt),
      spawn: at(o?.startingAt),
      boot: at(o?.aliveAt),
      join: at(o?.restoringAt),
      restore: at(e.time),
      // until the interrupted step commits (a step.committed after this event): worker.restored is published as the
      // job is ready to step again, so the step run again lies after it
      rerun: last,
    };
    const bar: RecoveryBar = {
      actor,
      job: String(d.jobId ?? ""),
      cause: String(d.cause ?? ""),
      source: String(d.source ?? ""),
      from: String(d.from ?? ""),
      start,
      seconds: typeof d.seconds === "number" ? d.seconds : (e.time - start) / 1000,
      ends,
    };
    this.list.push(bar);
    if (typeof d.step === "number") this.awaitingCommit.push({ bar, step: d.step });
    if (this.list.length > KEEP) {
      const dropped = this.list.shift();
      const k = this.awaitingCommit.findIndex((a) => a.bar === dropped);
      if (k >= 0) this.awaitingCommit.splice(k, 1);
    }
    return true;
  }
}
