// What a dashboard reads of a cluster as it runs, at a cost that does not grow with its jobs' step rates. A job
// stores several events and one output message per step: sent to the dashboard, each costs the nats-server (which
// may share the job's CPU) about as much as storing it did, and a tiny fast job measurably slowed with the page open
// (docs/benchmarks.md "dashboard"). A consumer costs too, message or not: nats-server 2.9 wakes every consumer of
// a stream at each message stored, and one filtered consumer per kind (2.9 takes one filter per consumer) made a
// dozen wake-ups per event. So every tick (everyMs), by message gets only:
// - the per-step kinds are sampled: each running job's last commit (its workers' busy time and collective bytes)
//   and last output message (the charts' point), and each live worker's last transition (its phase in the grid);
// - then the kinds that are not per step (failures, recoveries, transitions of actors and jobs, operator
//   commands…), each read on from where it stopped (`next_by_subj` with the kind's wildcard; the stream's last
//   sequence, asked first, says how far a kind with nothing new is read); kinds new to the stream are found every
//   few seconds;
// - a recovery's bar needs two per-step events more, looked up when its restore arrives (history.ts).
import { jetstreamManager, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { delay } from "../../runtime/async.ts";
import { decode } from "../../runtime/codec.ts";
import type { StoredEvent } from "../../runtime/event-log.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import type { JobOutputMessage } from "../../actors/jobs/job-output.ts";
import { awaitedCommit, eventOf, eventSubjects, nextOf, RecoveryLookups } from "./history.ts";

/** Kinds new to the event stream are looked for this often (ms). */
const DISCOVER_MS = 5000;
/** At most this many workers' phases are sampled per tick (the rest on the next ones). */
const WORKERS_PER_TICK = 128;
/** At most this many events of one kind are read per tick (the rest on the next ones). */
const EVENTS_PER_KIND_PER_TICK = 256;

export interface LiveOptions {
  /** The events and the job output up to these sequences were read already (history.ts). */
  eventsFrom: number;
  outputFrom: number;
  everyMs: number;
  /** The jobs whose last commit and output are sampled (those running). */
  jobs(): Iterable<string>;
  /** The workers whose phase is sampled (those not dead). */
  workers(): Iterable<string>;
  onEvent(e: StoredEvent): void;
  onOutput(job: string, m: JobOutputMessage, time: number): void;
}

export class LiveReader {
  /** Kind → the sequence it was read up to (nothing of it is stored before), and whether more may follow at once. */
  private readonly kinds = new Map<string, { seq: number; behind: boolean }>();
  /** Sampled subject → the last sequence taken. */
  private readonly sampled = new Map<string, number>();
  private buffer: StoredEvent[] = [];
  /** Restores whose rerun's commit is not stored yet. */
  private awaiting: { job: string; after: number; step: number }[] = [];
  private readonly root: string;
  private workerTurn = 0;

  private constructor(
    private readonly ns: Namespace,
    private readonly jsm: JetStreamManager,
    private readonly o: LiveOptions,
    private readonly lookups: RecoveryLookups,
  ) {
    this.root = ns.eventsFilter.slice(0, -1);
  }

  static async open(nc: NatsConnection, ns: Namespace, o: LiveOptions): Promise<LiveReader> {
    const jsm = await jetstreamManager(nc);
    return new LiveReader(ns, jsm, o, new RecoveryLookups(jsm, ns.eventsStream, ns.eventsFilter.slice(0, -1)));
  }

  /** Reads until `signal` aborts (or the connection fails: then it throws, and may be run again: it goes on). */
  async run(signal: AbortSignal): Promise<void> {
    let discovered = 0;
    while (!signal.aborted) {
      if (Date.now() - discovered >= DISCOVER_MS) {
        for (const kind of (await eventSubjects(this.jsm, this.ns)).kinds)
          if (!this.kinds.has(kind)) this.kinds.set(kind, { seq: this.o.eventsFrom, behind: false });
        discovered = Date.now();
      }
      await this.tick();
      await delay(this.o.everyMs, signal).catch(() => undefined);
    }
  }

  /** Each kind's events since it was last read (after the samples: none stored before them is missed). */
  private async readKinds(): Promise<void> {
    const stream = this.ns.eventsStream;
    const last = (await this.jsm.streams.info(stream)).state.last_seq;
    for (const [kind, k] of this.kinds) {
      k.behind = true;
      for (let n = 0; n < EVENTS_PER_KIND_PER_TICK; n++) {
        const m = await nextOf(this.jsm, stream, `${this.root}${kind}.>`, k.seq + 1);
        if (!m) {
          // none after k.seq when asked, so none up to `last`, stored before
          k.seq = Math.max(k.seq, last);
          k.behind = false;
          break;
        }
        k.seq = m.seq;
        const e = eventOf(m.data, m.seq);
        if (e) this.buffer.push(e);
      }
    }
  }

  /** The last message of `subject` when it is newer than the last taken of it (or than `from`, the first time). */
  private async sample(stream: string, subject: string, from: number): Promise<StoredMsg | null> {
    const m = await this.jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (!m || m.seq <= (this.sampled.get(subject) ?? from)) return null;
    this.sampled.set(subject, m.seq);
    return m;
  }

  private async tick(): Promise<void> {
    const events = this.ns.eventsStream;
    const from = this.o.eventsFrom;
    for (const job of this.o.jobs()) {
      const commit = await this.sample(events, `${this.root}step-committed.${job}`, from);
      const e = commit && eventOf(commit.data, commit.seq);
      if (e) this.buffer.push(e);
      const out = await this.sample(this.ns.jobOutputStream, this.ns.jobOutputSubject(job), this.o.outputFrom);
      if (out) {
        try {
          this.o.onOutput(job, decode(out.data) as JobOutputMessage, out.time.getTime());
        } catch {
          // not a coordinator's message: skipped
        }
      }
    }
    const workers = [...this.o.workers()];
    for (let i = 0; i < Math.min(workers.length, WORKERS_PER_TICK); i++) {
      const w = workers[(this.workerTurn + i) % workers.length]!;
      const m = await this.sample(events, `${this.root}worker-transition.${w}`, from);
      const e = m && eventOf(m.data, m.seq);
      if (e) this.buffer.push(e);
    }
    this.workerTurn += WORKERS_PER_TICK;
    await this.readKinds();
    await this.flush();
  }

  /**
   * The tick's events in stream order (those after a kind still behind wait for it); before a restore,
   * the worker's transitions since its fault; right after it, and before anything else, the commit that ends its
   * rerun, once stored (a sampled later commit would end the bar too late).
   */
  private async flush(): Promise<void> {
    // a job that ended (or was forgotten) commits no more: its awaited reruns are dropped
    const running = new Set(this.o.jobs());
    this.awaiting = this.awaiting.filter((a) => running.has(a.job));
    for (const a of [...this.awaiting]) await this.settle(a);
    const behind = [...this.kinds.values()].filter((k) => k.behind).map((k) => k.seq);
    const upTo = behind.length ? Math.min(...behind) : Infinity;
    const batch = this.buffer.filter((e) => e.seq <= upTo).sort((a, b) => a.seq - b.seq);
    this.buffer = this.buffer.filter((e) => e.seq > upTo);
    for (const e of batch) {
      for (const m of await this.lookups.before(e)) {
        const t = eventOf(m.data, m.seq);
        if (t) this.o.onEvent(t);
      }
      this.o.onEvent(e);
      const awaited = awaitedCommit(e);
      if (!awaited) continue;
      const a = { ...awaited, after: e.seq };
      this.awaiting.push(a);
      await this.settle(a);
    }
  }

  /** The commit that ends a restore's rerun, when stored: taken, and no longer awaited. */
  private async settle(a: { job: string; after: number; step: number }): Promise<void> {
    const { commit, last } = await this.lookups.commitAfter(a.job, a.after, a.step);
    a.after = last;
    const e = commit && eventOf(commit.data, commit.seq);
    if (!e) return;
    this.o.onEvent(e);
    this.awaiting.splice(this.awaiting.indexOf(a), 1);
  }
}
