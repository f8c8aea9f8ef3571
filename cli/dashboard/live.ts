// What a dashboard reads of a cluster as it runs, at a cost that does not grow with its jobs' step rates. A job
// stores several events and one output message per step; sent to the dashboard, each costs the nats-server (which
// may share the job's CPU) about as much as storing it did, and a tiny fast job measurably slowed with the page open
// (docs/benchmarks.md "dashboard"). So:
// - the event kinds that are not per step (failures, recoveries, transitions of actors and jobs, operator
//   commands…) are followed as they are stored, each kind through a filtered consumer (nats-server 2.9 takes one
//   filter per consumer); kinds new to the stream are found every few seconds;
// - the per-step ones are sampled every tick (POLL_MS): each running job's last commit (its workers' busy time and
//   collective bytes) and last output message (the charts' point), and each live worker's last transition (its
//   phase in the grid);
// - a recovery's bar needs two per-step events more, looked up when its restore arrives (history.ts).
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
  type StoredMsg,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { delay } from "../../runtime/async.ts";
import { decode } from "../../runtime/codec.ts";
import type { StoredEvent } from "../../runtime/event-log.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import type { JobOutputMessage } from "../../actors/jobs/job-output.ts";
import { awaitedCommit, eventOf, eventSubjects, RecoveryLookups } from "./history.ts";

/** Kinds new to the event stream are looked for this often (ms). */
const DISCOVER_MS = 5000;
/** At most this many workers' phases are sampled per tick (the rest on the next ones). */
const WORKERS_PER_TICK = 128;

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
  /** Kind → its consumer's messages, the last sequence it gave and how many it had still to give then. */
  private readonly kinds = new Map<string, { messages?: ConsumerMessages; seq: number; pending: number }>();
  /** Sampled subject → the last sequence taken. */
  private readonly sampled = new Map<string, number>();
  private buffer: StoredEvent[] = [];
  /** Restores whose rerun's commit is not stored yet. */
  private awaiting: { job: string; after: number; step: number }[] = [];
  private readonly root: string;
  private workerTurn = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ns: Namespace,
    private readonly jsm: JetStreamManager,
    private readonly o: LiveOptions,
    private readonly lookups: RecoveryLookups,
  ) {
    this.root = ns.eventsFilter.slice(0, -1);
  }

  static async open(nc: NatsConnection, ns: Namespace, o: LiveOptions): Promise<LiveReader> {
    const jsm = await jetstreamManager(nc);
    return new LiveReader(nc, ns, jsm, o, new RecoveryLookups(jsm, ns.eventsStream, ns.eventsFilter.slice(0, -1)));
  }

  /** Reads until `signal` aborts (or the connection fails: then it throws, and may be run again: it goes on). */
  async run(signal: AbortSignal): Promise<void> {
    let discovered = 0;
    try {
      while (!signal.aborted) {
        if (Date.now() - discovered >= DISCOVER_MS) {
          await this.discover();
          discovered = Date.now();
        }
        await this.tick();
        await delay(this.o.everyMs, signal).catch(() => undefined);
      }
    } finally {
      for (const k of this.kinds.values()) {
        await k.messages?.close().catch(() => undefined);
        k.messages = undefined;
      }
    }
  }

  /** A consumer for each kind of event in the stream that is not per step and has none yet (or lost its own). */
  private async discover(): Promise<void> {
    for (const kind of (await eventSubjects(this.jsm, this.ns)).kinds) {
      const known = this.kinds.get(kind);
      if (known?.messages) continue;
      const k = known ?? { seq: this.o.eventsFrom, pending: 0 };
      this.kinds.set(kind, k);
      const consumer = await jetstream(this.nc).consumers.get(this.ns.eventsStream, {
        filter_subjects: `${this.root}${kind}.>`,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: k.seq + 1,
      });
      const messages = await consumer.consume();
      k.messages = messages;
      void (async () => {
        try {
          for await (const m of messages) {
            k.seq = m.seq;
            k.pending = m.info.pending;
            const e = eventOf(m.data, m.seq);
            if (e) this.buffer.push(e);
          }
        } catch {
          // lost: made again at the next discovery, from the last message it gave
        } finally {
          if (k.messages === messages) k.messages = undefined;
          await consumer.delete().catch(() => undefined);
        }
      })();
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
    await this.flush();
  }

  /**
   * The tick's events in stream order (those after a kind's consumer still behind wait for it); before a restore,
   * the worker's transitions since its fault; right after it, and before anything else, the commit that ends its
   * rerun, once stored (a sampled later commit would end the bar too late).
   */
  private async flush(): Promise<void> {
    // a job that ended (or was forgotten) commits no more: its awaited reruns are dropped
    const running = new Set(this.o.jobs());
    this.awaiting = this.awaiting.filter((a) => running.has(a.job));
    for (const a of [...this.awaiting]) await this.settle(a);
    const behind = [...this.kinds.values()].filter((k) => k.messages && k.pending > 0).map((k) => k.seq);
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
