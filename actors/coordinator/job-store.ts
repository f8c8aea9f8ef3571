// Committed job progress: one KV key per job in `troupe_<cluster>_jobs`, and a `step.committed` event
// per step (message id job:<id>:step:<k>, so a retried commit is stored once). Only committed steps count.
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode, encode } from "../../runtime/codec.ts";
import type { EventLog } from "../../runtime/event-log.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { retrying } from "../../runtime/retry.ts";

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
}

export class JobStore {
  private constructor(
    private readonly kv: KV,
    private readonly events: EventLog,
  ) {}

  static async open(nc: NatsConnection, ns: Namespace, events: EventLog): Promise<JobStore> {
    return new JobStore(await new Kvm(nc).create(`troupe_${ns.clusterId}_jobs`, { history: 8 }), events);
  }

  async commit(c: CommittedStep): Promise<void> {
    await retrying(() => this.kv.put(c.jobId, encode(c)));
    await this.events.publish({ type: "step.committed", subject: c.jobId, time: c.time, data: { ...c } }, `job:${c.jobId}:step:${c.step}`);
  }

  async latest(jobId: string): Promise<CommittedStep | null> {
    const e = await this.kv.get(jobId);
    return e && e.operation === "PUT" ? (decode(e.value) as CommittedStep) : null;
  }
}
