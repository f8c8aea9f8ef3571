// Writes every transition of any xstate actor (a job, a worker's own lifecycle) to the cluster:
// the latest snapshot under `<kind>.<id>` in the lifecycles KV bucket, and a `<kind>.transition`
// event. Message ids are `<kind>:<id>:<seq>`, so replaying a transition is stored once.
import { type KV } from "@nats-io/kv";
import { createKv } from "./jetstream-replicas.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AnyActorRef } from "xstate";
import { decode, encode } from "./codec.ts";
import type { EventLog } from "./event-log.ts";
import { checkName, type Namespace } from "./namespace.ts";
import { retrying } from "./retry.ts";

export interface LifecycleRecord {
  kind: string;
  id: string;
  /** xstate state value, e.g. "training" or { starting: "waiting" }. */
  value: unknown;
  context: unknown;
  status: string;
  /** The recording process: a record left by a process being replaced is told from its replacement's (absent: older records). */
  pid?: number;
  seq: number;
  updatedAt: number;
}

export class LifecycleStore {
  private constructor(readonly kv: KV) {}

  static async open(nc: NatsConnection, ns: Namespace): Promise<LifecycleStore> {
    return new LifecycleStore(await createKv(nc, ns.lifecyclesBucket, { history: 16 }));
  }

  async put(rec: LifecycleRecord): Promise<void> {
    await retrying(() => this.kv.put(`${rec.kind}.${rec.id}`, encode(rec)));
  }

  async get(kind: string, id: string): Promise<LifecycleRecord | null> {
    const e = await this.kv.get(`${kind}.${id}`);
    return e && e.operation === "PUT" ? (decode(e.value) as LifecycleRecord) : null;
  }

  /**
   * Every record of `kind` as it is written, starting with the latest of each; ends when `signal` aborts (or the
   * watch is lost with the connection: then it throws or returns, and the caller may watch again).
   */
  async *watch(kind: string, signal: AbortSignal): AsyncGenerator<LifecycleRecord> {
    const w = await this.kv.watch({ key: `${checkName("lifecycle kind", kind)}.>` });
    const stop = () => w.stop();
    signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const e of w) if (e.operation === "PUT") yield decode(e.value) as LifecycleRecord;
    } finally {
      signal.removeEventListener("abort", stop);
      w.stop();
    }
  }
}

export interface RecorderHandle {
  /** Resolves when every transition seen so far is written. */
  settled(): Promise<void>;
  stop(): void;
}

export async function recordLifecycle(
  actor: AnyActorRef,
  opts: { kind: string; id: string; store: LifecycleStore; events: EventLog; onError?: (err: unknown) => void },
): Promise<RecorderHandle> {
  checkName("lifecycle kind", opts.kind);
  checkName("lifecycle id", opts.id);
  const previous = await opts.store.get(opts.kind, opts.id);
  let seq = previous?.seq ?? 0;
  let last: string | undefined;
  let writes = Promise.resolve();
  const onSnapshot = (snap: { value?: unknown; context?: unknown; status?: string }) => {
    const key = JSON.stringify(snap.value);
    if (key === last) return;
    const from = last === undefined ? null : (JSON.parse(last) as unknown);
    last = key;
    seq++;
    const rec: LifecycleRecord = {
      kind: opts.kind,
      id: opts.id,
      value: snap.value,
      context: snap.context,
      status: snap.status ?? "active",
      pid: process.pid,
      seq,
      updatedAt: Date.now(),
    };
    writes = writes
      .then(async () => {
        await opts.store.put(rec);
        await opts.events.publish(
          { type: `${opts.kind}.transition`, subject: opts.id, time: rec.updatedAt, data: { from, to: rec.value, status: rec.status } },
          `${opts.kind}:${opts.id}:${rec.seq}`,
        );
      })
      .catch((err: unknown) => opts.onError?.(err));
  };
  onSnapshot(actor.getSnapshot());
  const sub = actor.subscribe({ next: onSnapshot, error: (err) => opts.onError?.(err) });
  return {
    settled: () => writes,
    stop: () => sub.unsubscribe(),
  };
}
