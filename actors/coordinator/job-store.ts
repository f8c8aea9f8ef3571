// Committed job progress: one KV key per job in `troupe_<cluster>_jobs`, and a `step.committed` event
// per step (message id job:<id>:step:<k>, so a retried commit is stored once). Only committed steps count; a
// skipped step (NaN/inf) is committed too, marked `skipped`, so the log holds every step 1..N exactly once.
// Also each flagged straggler under `straggler.<actor id>` (troupe ps shows it).
import { type KV } from "@nats-io/kv";
import { createKv } from "../../runtime/jetstream-replicas.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode, encode } from "../../runtime/codec.ts";
import type { EventLog } from "../../runtime/event-log.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { retrying } from "../../runtime/retry.ts";
import type { CollectiveTally } from "../../runtime/collectives/transport-counters.ts";

export interface CommittedStep {
  jobId: string;
  step: number;
  epoch: number;
  tokensSeen: number;
  samplesSeen: number;
  loss: number;
  gradNorm: number;
  lr: number;
  batchSize: number;
  time: number;
  /** NaN/inf somewhere: every rank dropped the step's gradients and the optimizer did not step (nonfinite.ts). */
  skipped?: boolean;
  /** Worker id → its busy seconds in this step (wall time minus time blocked in collectives; absent: not measured). */
  busySeconds?: Record<string, number>;
  /** Worker id → the bytes and seconds of its collectives since its previous step (absent: not measured). */
  collective?: Record<string, CollectiveTally>;
  /** Worker id → the same counts since its process started (absent: not measured). */
  collectiveTotal?: Record<string, CollectiveTally>;
}

/** A worker flagged as a straggler (stragglers.ts), as `troupe ps` reads it. */
export interface StragglerRecord {
  jobId: string;
  step: number;
  ratio: number;
  busyMs: number;
  medianMs: number;
}

/** A step's combined figures, as sent with its apply (combine.ts CombinedStep). */
export interface ApplySent {
  step: number;
  combined: { loss: number; gradNorm: number; clipScale: number; skipped?: boolean };
}

const applyKey = (jobId: string) => `apply.${jobId}`;

/** The keys of a job's progress in the jobs bucket (its last committed step and its last apply sent). */
export const progressKeys = (jobId: string): string[] => [jobId, applyKey(jobId)];

/** Key of a worker's straggler flag in the jobs bucket (job ids and actor ids have no dots). */
export const stragglerKey = (actorId: string) => `straggler.${actorId}`;

export class JobStore {
  private constructor(
    private readonly kv: KV,
    private readonly events: EventLog,
  ) {}

  static async open(nc: NatsConnection, ns: Namespace, events: EventLog): Promise<JobStore> {
    return new JobStore(await createKv(nc, `troupe_${ns.clusterId}_jobs`, { history: 8 }), events);
  }

  async commit(c: CommittedStep): Promise<void> {
    await retrying(() => this.kv.put(c.jobId, encode(c)));
    await this.events.publish({ type: "step.committed", subject: c.jobId, time: c.time, data: { ...c } }, `job:${c.jobId}:step:${c.step}`);
  }

  /** Sets or (null) clears a worker's straggler flag. */
  async setStraggler(actorId: string, flag: StragglerRecord | null): Promise<void> {
    if (flag) await retrying(() => this.kv.put(stragglerKey(actorId), encode(flag)));
    else await retrying(() => this.kv.delete(stragglerKey(actorId)));
  }

  async straggler(actorId: string): Promise<StragglerRecord | null> {
    const e = await this.kv.get(stragglerKey(actorId));
    return e && e.operation === "PUT" ? (decode(e.value) as StragglerRecord) : null;
  }

  /**
   * What the step protocol combined for a step before it sent apply: a coordinator that takes the job over commits
   * that step from it when every worker had applied it (its predecessor died between apply and commit).
   */
  async recordApply(jobId: string, sent: ApplySent): Promise<void> {
    await retrying(() => this.kv.put(applyKey(jobId), encode(sent)));
  }

  async lastApply(jobId: string): Promise<ApplySent | null> {
    const e = await this.kv.get(applyKey(jobId));
    return e && e.operation === "PUT" ? (decode(e.value) as ApplySent) : null;
  }

  async latest(jobId: string): Promise<CommittedStep | null> {
    const e = await this.kv.get(jobId);
    return e && e.operation === "PUT" ? (decode(e.value) as CommittedStep) : null;
  }
}
