// What a job's coordinator shows, published for its followers: every line, the start of training, each committed
// step with its tokens/s, each validation, and at the end the outcome. A JetStream stream keeps it, so `troupe
// attach` (or a `troupe train` that lost its terminal and came back) replays the job from its first line and
// then follows it live; a TerminalView draws it exactly as a local run draws itself.
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode, encode } from "../../runtime/codec.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { duringElection } from "../../runtime/jetstream-replicas.ts";
import { retrying } from "../../runtime/retry.ts";
import { ensureStream } from "../../runtime/streams.ts";
import type { RunView, ViewStart } from "../../ml/train/run-view.ts";
import type { StepReport } from "../../ml/train/types.ts";
import type { JobState } from "./job-records.ts";

/** How a job ended, for its followers (and their exit code). */
export interface JobOutcome {
  state: Extract<JobState, "completed" | "failed" | "stopped">;
  cause?: string;
  /** Set when a signal stopped it (the follower exits 128 + its number). */
  signal?: NodeJS.Signals;
}

export type JobOutputMessage =
  | { k: "say"; line: string }
  | { k: "message"; line: string }
  | { k: "begin"; start: ViewStart }
  /** `v`: the job's last validation before this step, so that a reader that samples the steps has it too. */
  | { k: "step"; r: StepReport; tps: number; v?: { step: number; loss: number } }
  | { k: "validation"; step: number; loss: number }
  | { k: "end" }
  | { k: "done"; outcome: JobOutcome };

export async function ensureJobOutputStream(nc: NatsConnection, ns: Namespace): Promise<void> {
  await ensureStream(nc, {
    name: ns.jobOutputStream,
    subjects: [`troupe.${ns.clusterId}.jobout.>`],
    maxAgeMs: 7 * 24 * 3600_000,
    maxBytes: 512 * 1024 * 1024,
  });
}

/** Forgets a job's output (troupe gc), so that a new job of the same id is followed from its own first line. */
export async function purgeJobOutput(nc: NatsConnection, ns: Namespace, jobId: string): Promise<void> {
  await ensureJobOutputStream(nc, ns);
  await (await jetstreamManager(nc)).streams.purge(ns.jobOutputStream, { filter: ns.jobOutputSubject(jobId) });
}

/** The coordinator's side: a RunView whose every call becomes a message on the job's subject, in order. */
export class PublishedView implements RunView {
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown;
  private lastValidation: { step: number; loss: number } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    /** Also shown here (the coordinator's own log). */
    private readonly echo?: (line: string) => void,
  ) {}

  say(line: string): void {
    this.echo?.(line);
    this.publish({ k: "say", line });
  }
  message(line: string): void {
    this.echo?.(line);
    this.publish({ k: "message", line });
  }
  begin(start: ViewStart): void {
    this.publish({ k: "begin", start });
  }
  step(r: StepReport, tps: number): void {
    this.publish(this.lastValidation ? { k: "step", r, tps, v: this.lastValidation } : { k: "step", r, tps });
  }
  validation(step: number, loss: number): void {
    this.lastValidation = { step, loss };
    this.publish({ k: "validation", step, loss });
  }
  end(): void {
    this.publish({ k: "end" });
  }
  done(outcome: JobOutcome): void {
    this.publish({ k: "done", outcome });
  }

  /** Resolves once every message so far is stored (rejects with the first publish that failed). */
  async settled(): Promise<void> {
    await this.queue;
    if (this.failure) throw this.failure;
  }

  private publish(m: JobOutputMessage): void {
    const js = jetstream(this.nc);
    this.queue = this.queue.then(() =>
      retrying(() => js.publish(this.subject, encode(m))).then(
        () => undefined,
        (err: unknown) => void (this.failure ??= err),
      ),
    );
  }
}

/** A follower's pull requests expire after this long (ms); while idle the server sends a heartbeat every half of it. */
const PULL_EXPIRES_MS = 10_000;
/** Nothing from the follower's consumer for this long (no message, no heartbeat): it is taken for lost, made again. */
const SILENT_MS = 20_000;

/**
 * The follower's side: every message of the job from its first, then live ones, until the job's `done` (resolves
 * with its outcome) or `signal` aborts (resolves undefined: the follower detached). The consumer is an ordered one
 * of a single copy: when the nats-server holding it is lost for good (missed heartbeats, or silence after a
 * reconnect), another is made that goes on from the next message, once the stream has a leader again.
 */
export async function followJobOutput(
  nc: NatsConnection,
  ns: Namespace,
  jobId: string,
  onMessage: (m: JobOutputMessage) => void,
  signal?: AbortSignal,
): Promise<JobOutcome | undefined> {
  // the stream's info and a new consumer need its leader: wait out an election (a server of the cluster lost)
  await duringElection(() => ensureJobOutputStream(nc, ns));
  const js = jetstream(nc);
  let from = 0; // the stream sequence to go on from; 0: the job's first message
  const deliver = (m: JsMsg): JobOutcome | undefined => {
    from = m.seq + 1;
    let msg: JobOutputMessage;
    try {
      msg = decode(m.data) as JobOutputMessage;
    } catch {
      return undefined; // not a message of a coordinator: skipped
    }
    onMessage(msg);
    return msg.k === "done" ? msg.outcome : undefined;
  };
  while (!signal?.aborted) {
    const start = from > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : { deliver_policy: DeliverPolicy.All };
    const consumer = await duringElection(() =>
      js.consumers.get(ns.jobOutputStream, { filter_subjects: ns.jobOutputSubject(jobId), ...start }),
    );
    const end = await followConsumer(await consumer.consume({ expires: PULL_EXPIRES_MS }), deliver, signal);
    if (end) return end.outcome;
  }
  return undefined;
}

/** `deliver` for each message until it answers an outcome, `signal` aborts, or the consumer goes silent (undefined). */
async function followConsumer(
  messages: ConsumerMessages,
  deliver: (m: JsMsg) => JobOutcome | undefined,
  signal?: AbortSignal,
): Promise<{ outcome: JobOutcome } | undefined> {
  let heard = Date.now();
  const close = () => void messages.close();
  signal?.addEventListener("abort", close, { once: true });
  void (async () => {
    for await (const s of messages.status()) {
      if (s.type === "heartbeats_missed") close();
      else heard = Date.now(); // a heartbeat, a new pull request, the consumer made again
    }
  })();
  const watchdog = setInterval(() => Date.now() - heard > SILENT_MS && close(), 1000);
  try {
    for await (const m of messages) {
      heard = Date.now();
      const outcome = deliver(m);
      if (outcome) return { outcome };
    }
    return undefined;
  } finally {
    clearInterval(watchdog);
    signal?.removeEventListener("abort", close);
    await messages.close().catch(() => undefined);
  }
}

/** Draws job output messages on a view (the follower's terminal). */
export function drawOn(view: RunView): (m: JobOutputMessage) => void {
  return (m) => {
    switch (m.k) {
      case "say":
        return view.say(m.line);
      case "message":
        return view.message(m.line);
      case "begin":
        return view.begin(m.start);
      case "step":
        return view.step(m.r, m.tps);
      case "validation":
        return view.validation(m.step, m.loss);
      case "end":
      case "done":
        return view.end();
    }
  };
}
