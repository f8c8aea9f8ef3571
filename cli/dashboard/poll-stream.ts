// The dashboard's reader of a busy stream (the events, the jobs' output): what was added, fetched every `everyMs` in
// one batch, instead of a consumer the nats-server sends each message as it is stored. A tiny job stores several
// events a step; sent one by one, each cost the nats-server (which may share the job's CPU) a wake-up and a write of
// its own. The pages redraw at most twice a second, so a batch every 500 ms shows the same.
import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { delay } from "../../runtime/async.ts";

const BATCH = 1000;

export interface PollOptions {
  stream: string;
  /** The messages after this sequence (what was read before, history.ts), then what is added. */
  after: number;
  everyMs: number;
  signal: AbortSignal;
  onMessage(m: JsMsg): void;
}

/** Delivers the stream's messages in order until `signal` aborts (or the connection is lost: then it throws). */
export async function pollStream(nc: NatsConnection, o: PollOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const lastSeq = async () => (await jsm.streams.info(o.stream)).state.last_seq;
  let seen = o.after;
  const consumer = await jetstream(nc).consumers.get(o.stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: seen + 1,
  });
  try {
    while (!o.signal.aborted) {
      // exactly what was added: a fetch for more would stay open and be sent each new message on its own
      const n = Math.min(BATCH, (await lastSeq()) - seen);
      if (n > 0) {
        const batch = await consumer.fetch({ max_messages: n, expires: 1000 });
        for await (const m of batch) {
          seen = Math.max(seen, m.seq);
          o.onMessage(m);
        }
      }
      if (n < BATCH) await delay(o.everyMs, o.signal);
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}
