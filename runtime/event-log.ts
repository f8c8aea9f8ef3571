// The durable event stream of a cluster: state transitions, failures, escalations, operator
// commands. Each event carries a message id, so a retried publish is stored once.
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode, encode } from "./codec.ts";
import type { Namespace } from "./namespace.ts";
import { retrying } from "./retry.ts";
import { ensureStream, readStream } from "./streams.ts";
import type { ClusterEvent } from "./types.ts";

export interface StoredEvent extends ClusterEvent {
  seq: number;
}

export class EventLog {
  private readonly js: JetStreamClient;

  private constructor(
    private readonly nc: NatsConnection,
    readonly ns: Namespace,
  ) {
    this.js = jetstream(nc);
  }

  static async open(nc: NatsConnection, ns: Namespace): Promise<EventLog> {
    await ensureStream(nc, { name: ns.eventsStream, subjects: [ns.eventsFilter] });
    await ensureStream(nc, {
      name: ns.logsStream,
      subjects: [`troupe.${ns.clusterId}.logs.>`],
      maxAgeMs: 24 * 3600_000,
      maxBytes: 256 * 1024 * 1024,
    });
    return new EventLog(nc, ns);
  }

  /**
   * Appends an event. `msgId` must identify the event (not the attempt): publishing the same id
   * again within the duplicate window is acknowledged but not stored twice.
   */
  async publish(event: ClusterEvent, msgId: string): Promise<{ seq: number; duplicate: boolean }> {
    const subject = this.ns.eventSubject(event.type.replaceAll(".", "-"), event.subject);
    const ack = await retrying(() => this.js.publish(subject, encode(event), { msgID: msgId }));
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  async read(opts: { follow: boolean; about?: string; last?: number; signal?: AbortSignal }, onEvent: (e: StoredEvent) => void): Promise<void> {
    const filter = opts.about ? `troupe.${this.ns.clusterId}.events.*.${opts.about}` : undefined;
    await readStream(this.nc, {
      stream: this.ns.eventsStream,
      filter,
      follow: opts.follow,
      last: opts.last,
      signal: opts.signal,
      onMessage: (m) => onEvent({ ...(decode(m.data) as ClusterEvent), seq: m.seq }),
    });
  }

  async readAll(about?: string): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    await this.read({ follow: false, about }, (e) => out.push(e));
    return out;
  }

  /** Log lines of one actor as the host agent captured them. */
  async readLogs(actorId: string, opts: { follow: boolean; last?: number; signal?: AbortSignal }, onLine: (line: string) => void): Promise<void> {
    await readStream(this.nc, {
      stream: this.ns.logsStream,
      filter: this.ns.logSubject(actorId),
      follow: opts.follow,
      last: opts.last,
      signal: opts.signal,
      onMessage: (m) => onLine(m.string()),
    });
  }
}
