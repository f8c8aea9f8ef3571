// JetStream streams of a cluster (events, logs): creation and reading with an ordered consumer.
import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

export interface StreamSpec {
  name: string;
  subjects: string[];
  /** Oldest message kept (ms); 0 = forever. */
  maxAgeMs?: number;
  maxBytes?: number;
  /** Window in which a repeated message id is stored once (ms). */
  duplicateWindowMs?: number;
}

export async function ensureStream(nc: NatsConnection, spec: StreamSpec): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(spec.name);
    return;
  } catch {
    // not there yet
  }
  try {
    await jsm.streams.add({
      name: spec.name,
      subjects: spec.subjects,
      max_age: (spec.maxAgeMs ?? 0) * 1_000_000,
      max_bytes: spec.maxBytes ?? -1,
      duplicate_window: (spec.duplicateWindowMs ?? 120_000) * 1_000_000,
    });
  } catch (err) {
    // Another process created it between our info and add: fine.
    await jsm.streams.info(spec.name).catch(() => {
      throw err;
    });
  }
}

export interface ReadOptions {
  stream: string;
  filter?: string;
  /** Keep delivering new messages after the existing ones (like `tail -f`). */
  follow: boolean;
  /** Only the last N messages (before following); default all. */
  last?: number;
  onMessage(m: JsMsg): void;
  signal?: AbortSignal;
}

/** Delivers the stream's messages in order; without `follow` resolves after the last one. */
export async function readStream(nc: NatsConnection, opts: ReadOptions): Promise<void> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(opts.stream);
  let startSeq = 1;
  if (opts.last !== undefined) startSeq = Math.max(1, info.state.last_seq - opts.last + 1);
  const lastSeq = info.state.last_seq;
  if (!opts.follow && (info.state.messages === 0 || startSeq > lastSeq)) return;
  const consumer = await js.consumers.get(opts.stream, {
    filter_subjects: opts.filter,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: startSeq,
  });
  if (!opts.follow) {
    // An empty filtered view: nothing pending at all.
    const cinfo = await consumer.info(true);
    if (cinfo.num_pending === 0) {
      await consumer.delete().catch(() => undefined);
      return;
    }
  }
  const messages = await consumer.consume();
  const stop = () => void messages.close();
  opts.signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of messages) {
      opts.onMessage(m);
      if (!opts.follow && (m.info.pending === 0 || m.seq >= lastSeq)) break;
    }
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    await messages.close();
  }
}
