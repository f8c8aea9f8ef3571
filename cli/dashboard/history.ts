// What a dashboard started on a cluster that has run for a while reads of the past, without reading the past whole.
// A training job stores several events and one output message per step: a long-lived cluster's streams hold hundreds
// of thousands, and the nats-server (which may share the job's CPU) spends 0.1–0.5 ms on each old message it sends
// (measured with nats-server 2.9, docs/benchmarks.md "dashboard"). Read whole, they cost a running job most of its
// steps for as long as the read took. So:
// - events: only the kinds that are not per step (failures, recoveries, actor and job transitions, operator
//   commands…), each kind through a filtered read; for each recovery among them, the few per-step events its
//   timeline bar needs (the worker's transitions from the fault to its restore, and the commit of the step it
//   interrupted), looked up one by one; and each job's last commit (its workers' busy time and collective bytes);
// - job output: a job's messages whole when it has few, else evenly spaced samples of them (each step message
//   carries the job's last validation loss, so the validation curve survives the sampling).
import { jetstreamManager, type JetStreamManager, type JsMsg, type StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode } from "../../runtime/codec.ts";
import { parseEvent, type StoredEvent } from "../../runtime/event-log.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { readStream } from "../../runtime/streams.ts";
import type { JobOutputMessage } from "../../actors/jobs/job-output.ts";
import { opensRecovery } from "./recovery-timeline.ts";

/** The event kinds (subject tokens) stored at every step: read only around recoveries. */
const PER_STEP_KINDS = new Set(["worker-transition", "step-committed"]);
/** At most this many of a recovering worker's transitions are looked up (from its fault to its restore). */
const TRANSITIONS_PER_RECOVERY = 200;
/** At most this many commits after a restore are looked at for the one of the interrupted step. */
const COMMITS_PER_RECOVERY = 20;

/** A job output message as the past gives it. */
export interface PastOutput {
  job: string;
  seq: number;
  /** When the stream stored it (ms). */
  time: number;
  m: JobOutputMessage;
}

/** The stream's last sequence and how many messages each of its subjects holds. */
async function subjectCounts(jsm: JetStreamManager, stream: string): Promise<{ upTo: number; subjects: Record<string, number> }> {
  const info = await jsm.streams.info(stream, { subjects_filter: ">" });
  return { upTo: info.state.last_seq, subjects: info.state.subjects ?? {} };
}

/**
 * The event stream's last sequence, its subjects ("troupe.<cluster>.events.<kind>.<about>") and the kinds among them
 * that are not stored at every step.
 */
export async function eventSubjects(jsm: JetStreamManager, ns: Namespace): Promise<{ upTo: number; subjects: string[]; kinds: string[] }> {
  const { upTo, subjects } = await subjectCounts(jsm, ns.eventsStream);
  const root = ns.eventsFilter.slice(0, -1);
  const kinds = new Set(Object.keys(subjects).map((s) => s.slice(root.length, s.indexOf(".", root.length))));
  return { upTo, subjects: Object.keys(subjects), kinds: [...kinds].filter((k) => !PER_STEP_KINDS.has(k)) };
}

/** The first message of `subject` at or after `seq` (the server's `next_by_subj`), or null. */
export function nextOf(jsm: JetStreamManager, stream: string, subject: string, seq: number): Promise<StoredMsg | null> {
  // nats-server (2.9 too) takes next_by_subj in a plain message get; the client's type names it for direct gets only
  return jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as { seq: number });
}

/** The job and step whose commit ends a restore's rerun (a `worker.restored` event's), or null. */
export function awaitedCommit(e: StoredEvent): { job: string; step: number } | null {
  if (e.type !== "worker.restored" || typeof e.data.jobId !== "string" || typeof e.data.step !== "number") return null;
  return { job: e.data.jobId, step: e.data.step };
}

/**
 * The per-step events a recovery's bar needs (recovery-timeline.ts), looked up one by one instead of read with the
 * rest: the worker's transitions from its fault to its restore (its join ends at the first `restoring`), and the
 * commit of the step the loss interrupted. Fed the other events in stream order, it knows each open recovery's fault.
 */
export class RecoveryLookups {
  /** Actor → the sequence of the fault that opened its recovery. */
  private readonly opened = new Map<string, number>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    /** The stream's subjects' prefix, "troupe.<cluster>.events.". */
    private readonly root: string,
    /** Nothing after this sequence is taken (what follows is read live). */
    private readonly upTo = Infinity,
  ) {}

  private async next(subject: string, seq: number): Promise<StoredMsg | null> {
    const m = seq <= this.upTo ? await nextOf(this.jsm, this.stream, subject, seq) : null;
    return m && m.seq <= this.upTo ? m : null;
  }

  /** Takes `e`; for a restore, the worker's transitions from the fault that opened its recovery up to `e`. */
  async before(e: StoredEvent): Promise<StoredMsg[]> {
    if (opensRecovery(e)) {
      if (!this.opened.has(e.subject)) this.opened.set(e.subject, e.seq);
    } else if (e.type === "actor.transition" && e.data.to === "dead") this.opened.delete(e.subject);
    if (e.type !== "worker.restored") return [];
    const actor = typeof e.data.actorId === "string" ? e.data.actorId : e.subject;
    const start = this.opened.get(actor);
    this.opened.delete(actor);
    const out: StoredMsg[] = [];
    for (let seq = start ?? e.seq; start !== undefined && out.length < TRANSITIONS_PER_RECOVERY;) {
      const m = await this.next(`${this.root}worker-transition.${actor}`, seq);
      if (!m || m.seq > e.seq) break;
      out.push(m);
      seq = m.seq + 1;
    }
    return out;
  }

  /**
   * The first commit of `job` after sequence `after` whose step is at least `step` (null: none stored yet), and
   * the commits of earlier steps passed over; `last`: the sequence to go on after when none was found.
   */
  async commitAfter(job: string, after: number, step: number): Promise<{ commit: StoredMsg | null; skipped: StoredMsg[]; last: number }> {
    const skipped: StoredMsg[] = [];
    let last = after;
    while (skipped.length < COMMITS_PER_RECOVERY) {
      const m = await this.next(`${this.root}step-committed.${job}`, last + 1);
      if (!m) break;
      last = m.seq;
      const committed = eventOf(m.data, m.seq)?.data.step;
      if (typeof committed === "number" && committed >= step) return { commit: m, skipped, last };
      skipped.push(m);
    }
    return { commit: null, skipped, last };
  }
}

/** The event in a message, or null when it is not one (anyone with the cluster's credentials can publish there). */
export function eventOf(data: Uint8Array, seq: number): StoredEvent | null {
  const e = parseEvent(data);
  return typeof e === "string" ? null : { ...e, seq };
}

/**
 * The events of the last `window` of the stream a dashboard shows and builds its recovery bars from, in stream
 * order, and the stream's last sequence then (what follows it is read live).
 */
export async function readEventHistory(
  nc: NatsConnection,
  ns: Namespace,
  window: number,
): Promise<{ events: StoredEvent[]; upTo: number }> {
  const jsm = await jetstreamManager(nc);
  const stream = ns.eventsStream;
  const { upTo, subjects, kinds } = await eventSubjects(jsm, ns);
  const root = ns.eventsFilter.slice(0, -1); // "troupe.<cluster>.events."
  const from = Math.max(1, upTo - window + 1);
  const bySeq = new Map<number, StoredEvent>();
  const take = (data: Uint8Array, seq: number) => {
    const e = seq >= from && seq <= upTo ? eventOf(data, seq) : null;
    if (e) bySeq.set(seq, e);
  };
  for (const kind of kinds) {
    await readStream(nc, { stream, filter: `${root}${kind}.>`, follow: false, last: window, onMessage: (m: JsMsg) => take(m.data, m.seq) });
  }
  // each recovery's worker transitions and the commit that ends its rerun
  const lookups = new RecoveryLookups(jsm, stream, root, upTo);
  for (const e of [...bySeq.values()].sort((a, b) => a.seq - b.seq)) {
    for (const t of await lookups.before(e)) take(t.data, t.seq);
    const awaited = awaitedCommit(e);
    if (!awaited) continue;
    const { commit, skipped } = await lookups.commitAfter(awaited.job, e.seq, awaited.step);
    for (const m of [...skipped, ...(commit ? [commit] : [])]) take(m.data, m.seq);
  }
  // each job's last commit
  for (const s of subjects) {
    if (!s.startsWith(`${root}step-committed.`)) continue;
    const m = await jsm.streams.getMessage(stream, { last_by_subj: s });
    if (m) take(m.data, m.seq);
  }
  return { events: [...bySeq.values()].sort((a, b) => a.seq - b.seq), upTo };
}

/**
 * The output messages of the `jobs` jobs that wrote last, as the charts draw their past: whole for a job of at most
 * `perJob` messages, else `perJob` of them evenly spaced from its first to its last; in stream order per job, and
 * the stream's last sequence then.
 */
export async function readOutputHistory(
  nc: NatsConnection,
  ns: Namespace,
  perJob: number,
  jobs: number,
): Promise<{ messages: PastOutput[]; upTo: number }> {
  const jsm = await jetstreamManager(nc);
  const stream = ns.jobOutputStream;
  const { upTo, subjects } = await subjectCounts(jsm, stream);
  const messages: PastOutput[] = [];
  const take = (job: string, seq: number, time: number, data: Uint8Array) => {
    if (seq > upTo) return;
    try {
      messages.push({ job, seq, time, m: decode(data) as JobOutputMessage });
    } catch {
      // not a coordinator's message: skipped
    }
  };
  const lasts: { subject: string; count: number; last: StoredMsg }[] = [];
  for (const [subject, count] of Object.entries(subjects)) {
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (last) lasts.push({ subject, count, last });
  }
  for (const { subject, count, last } of lasts.sort((a, b) => b.last.seq - a.last.seq).slice(0, jobs)) {
    const job = subject.slice(subject.lastIndexOf(".") + 1);
    if (count <= perJob) {
      await readStream(nc, {
        stream,
        filter: subject,
        follow: false,
        onMessage: (m: JsMsg) => take(job, m.seq, m.info.timestampNanos / 1e6, m.data),
      });
      continue;
    }
    const first = await nextOf(jsm, stream, subject, 1);
    if (!first) continue;
    let seen = 0;
    for (let i = 0; i < perJob; i++) {
      const target = Math.round(first.seq + ((last.seq - first.seq) * i) / (perJob - 1));
      if (target <= seen) continue;
      const m = await nextOf(jsm, stream, subject, target);
      if (!m || m.seq <= seen) continue;
      seen = m.seq;
      take(job, m.seq, m.time.getTime(), m.data);
    }
  }
  return { messages, upTo };
}
