// JetStream streams of a cluster (events, logs): creation and reading with an ordered consumer.
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { duringElection, withReplicas } from "./jetstream-replicas.ts";

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
    await withReplicas(nc, (replicas) =>
      jsm.streams.add({
        name: spec.name,
        subjects: spec.subjects,
        max_age: (spec.maxAgeMs ?? 0) * 1_000_000,
        max_bytes: spec.maxBytes ?? -1,
        duplicate_window: (spec.duplicateWindowMs ?? 120_000) * 1_000_000,
        num_replicas: replicas,
      }),
    );
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
  /** Only the last N messages of the stream (before following; the filter then applies); default all. */
  last?: number;
  onMessage(m: JsMsg): void;
  signal?: AbortSignal;
}

/**
 * Delivers the stream's messages in order (those the filter takes, from the last `last` of the stream); without
 * `follow`, resolves after the last of them there when it was called.
 */
export async function readStream(nc: NatsConnection, opts: ReadOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  // a stream's info and a new consumer need its leader: wait out an election (a server of the cluster lost)
  const { last_seq: lastSeq } = (await duringElection(() => jsm.streams.info(opts.stream))).state;
  const startSeq = opts.last === undefined ? 1 : Math.max(1, lastSeq - opts.last + 1);
  const endSeq = opts.follow ? Infinity : await lastTaken(jsm, opts.stream, lastSeq, opts.filter);
  if (endSeq < startSeq) return;
  const consumer = await duringElection(() =>
    jetstream(nc).consumers.get(opts.stream, {
      filter_subjects: opts.filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq,
    }),
  );
  const messages = await consumer.consume();
  const stop = () => void messages.close();
  opts.signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of messages) {
      opts.onMessage(m);
      // the bound ends the read; a server that counts nothing more pending (the bound's message removed by a limit
      // meanwhile) too
      if (m.seq >= endSeq || (!opts.follow && m.info.pending === 0)) break;
    }
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    await messages.close();
    await consumer.delete().catch(() => undefined);
  }
}

/**
 * Sequence of the last message in the stream the filter takes (0: none). Looked up, not inferred from the stream's
 * last sequence (a filtered read's last message is often far below it, other subjects' messages after it) nor from
 * the pending counts the server puts on delivered messages (estimates a read must not wait on).
 */
async function lastTaken(jsm: JetStreamManager, stream: string, lastSeq: number, filter: string | undefined): Promise<number> {
  if (filter === undefined) return lastSeq;
  return (await jsm.streams.getMessage(stream, { last_by_subj: filter }))?.seq ?? 0;
}
