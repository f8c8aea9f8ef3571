// What the dashboard shows, kept in memory from the cluster's NATS state by one set of watches per server (the
// actors, hosts, lifecycles and jobs buckets; the event stream; the jobs' output stream) and fanned out to every
// open page: a new page gets a snapshot, then every change as it happens.
import { Kvm, type KV } from "@nats-io/kv";
import { decode } from "../../runtime/codec.ts";
import { delay } from "../../runtime/async.ts";
import type { StoredEvent } from "../../runtime/event-log.ts";
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import type { ActorRecord, HostRecord } from "../../runtime/types.ts";
import type { CollectiveTally } from "../../runtime/collectives/transport-counters.ts";
import type { StragglerRecord } from "../../actors/coordinator/job-store.ts";
import { ensureJobOutputStream, type JobOutputMessage } from "../../actors/jobs/job-output.ts";
import { FINAL_JOB_STATES, JobRecords, type JobRecord } from "../../actors/jobs/job-records.ts";
import type { OpenCluster } from "../cluster/cluster-options.ts";
import { phaseName } from "../cluster/format.ts";
import { jobFlopsPerToken } from "./job-model.ts";
import { readEventHistory, readOutputHistory } from "./history.ts";
import { LiveReader } from "./live.ts";
import { CollectiveTotals, type JobCollectives } from "./collective-totals.ts";
import { probeClusterServers, type NatsServerHealth } from "./nats-servers.ts";
import { RecoveryTracker, type RecoveryBar } from "./recovery-timeline.ts";

/** One committed step of a job as the charts draw it. */
interface StepPoint {
  step: number;
  loss: number;
  tps: number;
  /** Model FLOP/s (tokens/s × the model's FLOPs per token, job-model.ts); null when the job's config is unreadable. */
  flops: number | null;
  time: number;
}

export interface JobSeries {
  points: StepPoint[];
  val: { step: number; loss: number }[];
}

/** An actor record without its xstate snapshot (that goes with the actor's detail only). */
export type ActorRow = Omit<ActorRecord, "snapshot">;

export type ViewUpdate =
  | { t: "actor"; rec: ActorRow }
  | { t: "host"; rec: HostRecord }
  | { t: "phase"; kind: string; id: string; phase: string }
  | { t: "job"; rec: JobRecord }
  | { t: "straggler"; id: string; flag: StragglerRecord | null }
  | { t: "event"; e: StoredEvent }
  | { t: "point"; job: string; p: StepPoint }
  | { t: "val"; job: string; step: number; loss: number }
  | { t: "recoveries"; bars: readonly RecoveryBar[] }
  | { t: "busy"; job: string; busy: StepBusy }
  /** `added`: each worker's counts since the update before (what the metrics' counters add). */
  | { t: "collective"; job: string; c: JobCollectives; added: Record<string, CollectiveTally> }
  | { t: "nats"; health: NatsHealth }
  | { t: "natsServers"; servers: NatsServerHealth[] };

/** Each worker's busy seconds in a job's last committed step (its step.committed event's busySeconds). */
export interface StepBusy {
  step: number;
  seconds: Record<string, number>;
}

/** The client URL(s) the dashboard was given (comma-separated) and the credential to probe each server with. */
export interface ServersToProbe {
  url: string;
  token?: string | undefined;
  /** The CA of a TLS cluster. */
  caFile?: string | undefined;
}

/** The nats-server this dashboard is connected to, as last checked (a round trip every few seconds). */
export interface NatsHealth {
  url: string;
  version: string | null;
  jetstream: boolean;
  rttMs: number | null;
  error: string | null;
  at: number;
}

const EVENTS_KEPT = 2000;
/** A dashboard reads the past of at most this many of the last events (history.ts). */
const EVENTS_READ = 200_000;
const HEALTH_EVERY_MS = 5000;
const POINTS_KEPT = 20_000;
const POLL_MS = 500;
/** A job's past output drawn from at most this many of its messages (history.ts). */
const OUTPUT_SAMPLES = 600;
/** The charts' past is read for the jobs that wrote last, at most this many. */
const OUTPUT_JOBS = 20;

export class ClusterView {
  readonly actors = new Map<string, ActorRow>();
  readonly hosts = new Map<string, HostRecord>();
  /** "<kind>.<id>" (worker.x, job.y) → phase name. */
  readonly phases = new Map<string, string>();
  readonly jobs = new Map<string, JobRecord>();
  readonly stragglers = new Map<string, StragglerRecord>();
  readonly events: StoredEvent[] = [];
  readonly series = new Map<string, JobSeries>();
  readonly recoveries = new RecoveryTracker();
  readonly busy = new Map<string, StepBusy>();
  readonly collectives = new Map<string, JobCollectives>();
  /** Model FLOPs per token of each job whose config could be read. */
  private readonly flopsPerToken = new Map<string, number>();
  private readonly listeners = new Set<(u: ViewUpdate) => void>();
  private readonly hooks: ((u: ViewUpdate) => void)[] = [];
  /** What reads the streams (made once the past is read). */
  private live: LiveReader | undefined;
  /** Job → the stream sequence of the commit its busy time and collectives are from (samples may come late). */
  private readonly commitSeq = new Map<string, number>();
  private readonly collectiveTotals = new CollectiveTotals();
  private nats: NatsHealth | null = null;
  /** Every nats-server of the cluster, as last probed (nats-servers.ts). */
  servers: NatsServerHealth[] = [];

  private constructor(
    private readonly c: OpenCluster,
    private readonly probe: ServersToProbe | undefined,
  ) {}

  /**
   * Starts the watches (they run until `signal` aborts, each watched again when lost with the connection), and the
   * health checks of the nats-servers (of `probe`'s URLs and those the cluster announces) every few seconds.
   */
  static async start(c: OpenCluster, signal: AbortSignal, hook?: (u: ViewUpdate) => void, probe?: ServersToProbe): Promise<ClusterView> {
    const v = new ClusterView(c, probe);
    if (hook) v.hooks.push(hook);
    const kvm = new Kvm(c.nc);
    const lifecycles = (await LifecycleStore.open(c.nc, c.ns)).kv;
    // the jobs first: their model FLOPs per token go on the chart points of their past
    for (const rec of await (await JobRecords.open(c.nc, c.ns)).list()) v.onJobsEntry(`job.${rec.id}`, rec);
    const jobs = await kvm.open(c.ns.jobsBucket);
    await ensureJobOutputStream(c.nc, c.ns);
    v.keep(signal, () => v.watchKv(c.registry.actors, signal, (k, val) => v.onActor(val as ActorRecord)));
    v.keep(signal, () => v.watchKv(c.registry.hosts, signal, (k, val) => v.emit({ t: "host", rec: put(v.hosts, k, val as HostRecord) })));
    // a lifecycle's every write is followed by its `<kind>.transition` event (lifecycle-recorder.ts), which carries
    // the same state: the phases are read from the bucket once, then kept from the events (a worker transitions
    // several times a step, and the records carry the machine's context: watching both doubled the messages)
    await v.readLifecycles(lifecycles);
    // the jobs bucket also holds the coordinators' per-step state: only the job records and straggler flags are watched
    for (const prefix of ["job.>", "straggler.>"]) v.keep(signal, () => v.watchKv(jobs, signal, (k, val) => v.onJobsEntry(k, val), prefix));
    // the past in a few cheap reads (history.ts), then the events that are not per step as they come and the rest
    // sampled twice a second (live.ts): never each message of a job's every step
    v.keep(signal, () => v.follow(signal));
    void v.checkNats();
    const timer = setInterval(() => void v.checkNats(), HEALTH_EVERY_MS);
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
    return v;
  }

  /** The past (history.ts) once, then what is added (live.ts); run again after a lost connection, it goes on. */
  private async follow(signal: AbortSignal): Promise<void> {
    if (!this.live) {
      const events = await readEventHistory(this.c.nc, this.c.ns, EVENTS_READ);
      for (const e of events.events) this.onEvent(e);
      const output = await readOutputHistory(this.c.nc, this.c.ns, OUTPUT_SAMPLES, OUTPUT_JOBS);
      for (const o of output.messages) this.onJobOutput(o.job, o.m, o.time);
      this.live = await LiveReader.open(this.c.nc, this.c.ns, {
        eventsFrom: events.upTo,
        outputFrom: output.upTo,
        everyMs: POLL_MS,
        jobs: () => [...this.jobs.values()].filter((j) => !FINAL_JOB_STATES.has(j.state)).map((j) => j.id),
        workers: () =>
          [...this.actors.values()].filter((a) => a.state !== "dead" && Object.keys(a.coords ?? {}).length > 0).map((a) => a.id),
        onEvent: (e) => this.onEvent(e),
        onOutput: (job, m, time) => this.onJobOutput(job, m, time),
      });
    }
    await this.live.run(signal);
  }

  private async checkNats(): Promise<void> {
    const info = this.c.nc.info;
    const base = { url: info ? `${info.host}:${info.port}` : "-", version: info?.version ?? null, jetstream: info?.jetstream === true };
    try {
      this.nats = { ...base, rttMs: await this.c.nc.rtt(), error: null, at: Date.now() };
    } catch (err) {
      this.nats = { ...base, rttMs: null, error: (err as Error).message, at: Date.now() };
    }
    this.emit({ t: "nats", health: this.nats });
    if (this.probe) {
      this.servers = await probeClusterServers(this.probe.url, this.c.nc, this.probe.token, this.probe.caFile);
      this.emit({ t: "natsServers", servers: this.servers });
    }
  }

  subscribe(fn: (u: ViewUpdate) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Everything a new page starts from. */
  snapshot() {
    return {
      clusterId: this.c.ns.clusterId,
      nats: this.nats,
      servers: this.servers,
      actors: [...this.actors.values()],
      hosts: [...this.hosts.values()],
      phases: Object.fromEntries(this.phases),
      jobs: [...this.jobs.values()],
      stragglers: Object.fromEntries(this.stragglers),
      events: this.events.slice(-500),
      series: Object.fromEntries(this.series),
      recoveries: this.recoveries.bars,
      busy: Object.fromEntries(this.busy),
      collectives: Object.fromEntries(this.collectives),
    };
  }

  private emit(u: ViewUpdate): void {
    for (const h of this.hooks) h(u);
    for (const l of this.listeners) l(u);
  }

  /** Runs `watch` again whenever it ends or fails (a lost connection), until `signal` aborts. */
  private keep(signal: AbortSignal, watch: () => Promise<void>): void {
    void (async () => {
      while (!signal.aborted) {
        await watch().catch(() => undefined);
        if (!signal.aborted) await delay(1000);
      }
    })();
  }

  private async watchKv(kv: KV, signal: AbortSignal, onPut: (key: string, value: unknown) => void, key = ">"): Promise<void> {
    const w = await kv.watch({ key });
    const stop = () => w.stop();
    signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const e of w) {
        if (e.operation !== "PUT") continue;
        try {
          onPut(e.key, decode(e.value));
        } catch {
          // a malformed value is skipped: `troupe ps` reports those
        }
      }
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }

  private onActor(rec: ActorRecord): void {
    if (!rec || typeof rec.id !== "string") return;
    const { snapshot: _snapshot, ...row } = rec;
    this.actors.set(row.id, row);
    this.emit({ t: "actor", rec: row });
  }

  /** Every lifecycle's phase as its record has it now (the transition events keep them from then on). */
  private async readLifecycles(kv: KV): Promise<void> {
    for (const key of await collect(await kv.keys())) {
      try {
        const rec = decode((await kv.get(key))?.value ?? new Uint8Array()) as LifecycleRecord;
        if (rec && typeof rec === "object" && "value" in rec)
          this.setPhase(key.slice(0, key.indexOf(".")), key.slice(key.indexOf(".") + 1), rec.value);
      } catch {
        // a deleted or malformed record is skipped: `troupe ps` reports those
      }
    }
  }

  private setPhase(kind: string, id: string, value: unknown): void {
    const phase = phaseName(value);
    if (this.phases.get(`${kind}.${id}`) === phase) return;
    this.phases.set(`${kind}.${id}`, phase);
    this.emit({ t: "phase", kind, id, phase });
  }

  private onJobsEntry(key: string, value: unknown): void {
    if (key.startsWith("job.")) {
      const rec = value as JobRecord;
      this.jobs.set(rec.id, rec);
      if (!this.flopsPerToken.has(rec.id)) {
        const f = jobFlopsPerToken(rec);
        if (f !== null) this.flopsPerToken.set(rec.id, f);
      }
      this.emit({ t: "job", rec });
    } else if (key.startsWith("straggler.")) {
      const id = key.slice("straggler.".length);
      this.stragglers.set(id, value as StragglerRecord);
      this.emit({ t: "straggler", id, flag: value as StragglerRecord });
    }
  }

  private onEvent(e: StoredEvent): void {
    if (LIFECYCLE_KINDS.has(e.type)) this.setPhase(e.type.slice(0, e.type.indexOf(".")), e.subject, e.data.to);
    if (e.type === "worker.straggler-cleared" && this.stragglers.delete(e.subject))
      this.emit({ t: "straggler", id: e.subject, flag: null });
    // committed steps reach the pages as chart points (from the job output), and a worker's idle → stepping →
    // applying happens at every step: events for each would drown the list (troupe events shows them)
    if (e.type !== "step.committed" && !routine(e)) {
      this.events.push(e);
      if (this.events.length > EVENTS_KEPT) this.events.splice(0, this.events.length - EVENTS_KEPT);
      this.emit({ t: "event", e });
    }
    if (this.recoveries.add(e)) this.emit({ t: "recoveries", bars: this.recoveries.bars });
    // the newest commit of each job (a restore's rerun commit may be looked up after a newer one was sampled)
    if (e.type !== "step.committed" || typeof e.data.step !== "number" || e.seq <= (this.commitSeq.get(e.subject) ?? 0)) return;
    this.commitSeq.set(e.subject, e.seq);
    const seconds = e.data.busySeconds;
    if (seconds && typeof seconds === "object") {
      const busy = { step: e.data.step, seconds: seconds as Record<string, number> };
      this.busy.set(e.subject, busy);
      this.emit({ t: "busy", job: e.subject, busy });
    }
    const total = e.data.collectiveTotal && typeof e.data.collectiveTotal === "object" ? e.data.collectiveTotal : undefined;
    if (e.data.collective && typeof e.data.collective === "object")
      this.onCollective(
        e.subject,
        e.data.step,
        e.data.collective as Record<string, CollectiveTally>,
        total as Record<string, CollectiveTally>,
      );
  }

  /** A job's collectives in its step `step`: `last` in that step, `sinceStart` since each worker's process started. */
  private onCollective(
    job: string,
    step: number,
    last: Record<string, CollectiveTally>,
    sinceStart?: Record<string, CollectiveTally>,
  ): void {
    const c = this.collectives.get(job) ?? { step, last, total: {} };
    this.collectives.set(job, c);
    c.step = step;
    c.last = last;
    this.emit({ t: "collective", job, c, added: this.collectiveTotals.add(job, c, sinceStart) });
  }

  /** One message of a job's output, stored at `time` (ms). */
  private onJobOutput(job: string, m: JobOutputMessage, time: number): void {
    const s = this.series.get(job) ?? { points: [], val: [] };
    this.series.set(job, s);
    if (m.k === "step") {
      // a sampled past (history.ts) has the validations only as each step's last one
      const lastVal = s.val.at(-1);
      if (m.v && (!lastVal || lastVal.step < m.v.step)) this.onValidation(job, s, m.v.step, m.v.loss);
      const perToken = this.flopsPerToken.get(job);
      const p = { step: m.r.step, loss: m.r.loss, tps: m.tps, flops: perToken === undefined ? null : perToken * m.tps, time };
      // a step run again after a recovery replaces the first run's point
      while (s.points.length && s.points.at(-1)!.step >= p.step) s.points.pop();
      s.points.push(p);
      if (s.points.length > POINTS_KEPT) s.points.splice(0, s.points.length - POINTS_KEPT);
      this.emit({ t: "point", job, p });
    } else if (m.k === "validation") this.onValidation(job, s, m.step, m.loss);
  }

  private onValidation(job: string, s: JobSeries, step: number, loss: number): void {
    s.val.push({ step, loss });
    this.emit({ t: "val", job, step, loss });
  }
}

const STEP_PHASES = new Set(["idle", "stepping", "applying"]);
/** The transition events of the lifecycles bucket's kinds (a job's, a worker's). */
const LIFECYCLE_KINDS = new Set(["worker.transition", "job.transition"]);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function routine(e: StoredEvent): boolean {
  return e.type === "worker.transition" && STEP_PHASES.has(phaseName(e.data.to)) && STEP_PHASES.has(phaseName(e.data.from));
}

function put<T>(map: Map<string, T>, key: string, value: T): T {
  map.set(key, value);
  return value;
}
