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

/** A message on the event stream that is not an event. */
export interface MalformedEvent {
  seq: number;
  subject: string;
  reason: string;
}

/** The event in a stream message, or why it is not one. */
export function parseEvent(data: Uint8Array): ClusterEvent | string {
  let v: unknown;
  try {
    v = decode(data);
  } catch (err) {
    return (err as Error).message;
  }
  if (!v || typeof v !== "object") return "not an event";
  const e = v as Partial<ClusterEvent>;
  if (typeof e.type !== "string" || typeof e.subject !== "string" || typeof e.time !== "number" || !e.data || typeof e.data !== "object") {
    return "not an event (needs type, subject, time and data)";
  }
  return e as ClusterEvent;
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

  /**
   * Events in order; one that is not an event (anyone with the cluster's credentials can publish on the stream's
   * subjects) is skipped and reported to `onMalformed` with its sequence number.
   */
  async read(
    opts: { follow: boolean; about?: string; last?: number; signal?: AbortSignal; onMalformed?: (m: MalformedEvent) => void },
    onEvent: (e: StoredEvent) => void,
  ): Promise<void> {
    const filter = opts.about ? `troupe.${this.ns.clusterId}.events.*.${opts.about}` : undefined;
    await readStream(this.nc, {
      stream: this.ns.eventsStream,
      filter,
      follow: opts.follow,
      last: opts.last,
      signal: opts.signal,
      onMessage: (m) => {
        const e = parseEvent(m.data);
        if (typeof e === "string") opts.onMalformed?.({ seq: m.seq, subject: m.subject, reason: e });
        else onEvent({ ...e, seq: m.seq });
      },
    });
  }

  async readAll(about?: string, onMalformed?: (m: MalformedEvent) => void): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    await this.read({ follow: false, about, ...(onMalformed ? { onMalformed } : {}) }, (e) => out.push(e));
    return out;
  }

  /** Log lines of one actor as the host agent captured them. */
  async readLogs(
    actorId: string,
    opts: { follow: boolean; last?: number; signal?: AbortSignal },
    onLine: (line: string) => void,
  ): Promise<void> {
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
