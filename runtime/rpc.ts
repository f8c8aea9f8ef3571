// Request/reply with validation on both ends. A handler never sees an invalid message: garbage,
// wrong shapes and stale epochs get an error reply (and `onReject`), and the process keeps running.
import { RequestError, TimeoutError, NoRespondersError, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { z } from "zod";
import { decode, encode } from "./codec.ts";
import { RequestFailedError, type SchemaError, type CodecError, type StaleEpochError } from "./errors.ts";
import { decodeAs, replySchema, type Decoded, type Reply } from "./messages.ts";

export type Rejection = CodecError | SchemaError | StaleEpochError;

export interface ServeOptions<T> {
  subject: string;
  /** Decodes and validates; use decodeFenced inside to fence epochs. */
  parse: (bytes: Uint8Array) => Decoded<T>;
  handle: (msg: NoInfer<T>) => Promise<unknown> | unknown;
  onReject?: (error: Rejection, subject: string) => void;
  queue?: string;
}

export function serve<T>(nc: NatsConnection, opts: ServeOptions<T>): Subscription {
  return nc.subscribe(opts.subject, {
    queue: opts.queue,
    callback: (err, msg) => {
      if (err) return;
      const parsed = opts.parse(msg.data);
      if (!parsed.ok) {
        opts.onReject?.(parsed.error, msg.subject);
        if (msg.reply) msg.respond(encode({ ok: false, error: parsed.error.message, kind: parsed.error.name } satisfies Reply));
        return;
      }
      void Promise.resolve()
        .then(() => opts.handle(parsed.value))
        .then(
          (value) => {
            if (msg.reply) msg.respond(encode({ ok: true, value: value ?? null } satisfies Reply));
          },
          (e: unknown) => {
            const error = e instanceof Error ? e : new Error(String(e));
            if (msg.reply) msg.respond(encode({ ok: false, error: error.message, kind: error.name } satisfies Reply));
          },
        );
    },
  });
}

export function parseWith<S extends z.ZodType>(schema: S): (bytes: Uint8Array) => Decoded<z.output<S>> {
  return (bytes) => decodeAs(bytes, schema);
}

/** Sends a request and returns the reply's value; error replies, timeouts and no responders throw RequestFailedError. */
export async function call(nc: NatsConnection, subject: string, payload: unknown, timeoutMs = 2000): Promise<unknown> {
  const r = await attempt(nc, subject, payload, timeoutMs);
  if (r.ok) return r.value;
  throw r.error;
}

type Attempt = { ok: true; value: unknown } | { ok: false; error: RequestFailedError; transient: boolean };

/** One request. `transient`: the request may not have reached a handler or its reply was lost (retry is safe for idempotent handlers). */
async function attempt(nc: NatsConnection, subject: string, payload: unknown, timeoutMs: number): Promise<Attempt> {
  let raw: Uint8Array;
  try {
    const m = await nc.request(subject, encode(payload), { timeout: timeoutMs });
    raw = m.data;
  } catch (err) {
    if (err instanceof RequestError && err.cause instanceof NoRespondersError) {
      return {
        ok: false,
        transient: true,
        error: new RequestFailedError(`nobody answers on ${subject}`, { cause: err, reason: "no-responders" }),
      };
    }
    if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
      return {
        ok: false,
        transient: true,
        error: new RequestFailedError(`no reply on ${subject} within ${timeoutMs} ms`, { cause: err, reason: "timeout" }),
      };
    }
    // a closed connection is final; anything else (disconnect, reconnect in progress) may pass
    return {
      ok: false,
      transient: !nc.isClosed(),
      error: new RequestFailedError(`request on ${subject} failed: ${(err as Error).message}`, { cause: err, reason: "transport" }),
    };
  }
  const reply = replySchema.safeParse(decodeSafe(raw));
  if (!reply.success)
    return { ok: false, transient: false, error: new RequestFailedError(`malformed reply on ${subject}`, { reason: "malformed-reply" }) };
  if (!reply.data.ok) return { ok: false, transient: false, error: new RequestFailedError(reply.data.error) };
  return { ok: true, value: reply.data.value };
}

export interface RetryingCallOptions {
  /** Wait for one reply this long before asking again (ms). */
  attemptMs: number;
  /** Give up after this long in all (ms); the last attempt's error is thrown. */
  deadlineMs: number;
  /** Pause after a failed attempt that came back at once (no responders) (ms, default 100). */
  pauseMs?: number;
  /** Checked before every retry: an error returned here is thrown instead of retrying (e.g. the job failed). */
  stop?: () => Error | undefined;
}

/**
 * `call` for idempotent handlers (see ReplyMemo), asked again while the request or its reply may have been lost:
 * timeouts, no responders (the handler's subscription not back yet after a nats-server restart) and disconnects.
 * Error replies are final.
 */
export async function callRetrying(nc: NatsConnection, subject: string, payload: unknown, o: RetryingCallOptions): Promise<unknown> {
  const deadline = Date.now() + o.deadlineMs;
  let prior: Error | undefined;
  for (;;) {
    const started = Date.now();
    const budget = Math.max(1, Math.min(o.attemptMs, deadline - started));
    const r = await attempt(nc, subject, payload, budget);
    if (r.ok) return r.value;
    const pause = Date.now() - started < (o.pauseMs ?? 100) ? (o.pauseMs ?? 100) : 0;
    // a last attempt cut short by the deadline that merely timed out says less than the failure before it
    const cutShort = budget < o.attemptMs && prior !== undefined && (r.error as Partial<RequestFailedError>).reason === "timeout";
    if (!r.transient || Date.now() + pause >= deadline) throw cutShort ? prior! : r.error;
    prior = r.error;
    const stopped = o.stop?.();
    if (stopped) throw stopped;
    if (pause) await new Promise((res) => setTimeout(res, pause));
  }
}

/**
 * Makes a handler idempotent for `callRetrying`: the same key asked again while its work runs, or after it succeeded,
 * gets the same value instead of running the work twice. A failure is forgotten once it settles (the callers waiting
 * then get the error), so a refused request (e.g. apply before its step) does not poison a later valid one.
 * Keeps the last `capacity` keys.
 */
export class ReplyMemo {
  private readonly outcomes = new Map<string, Promise<unknown>>();

  constructor(private readonly capacity = 16) {}

  run<T>(key: string, work: () => Promise<T> | T): Promise<T> {
    const known = this.outcomes.get(key);
    if (known) return known as Promise<T>;
    const outcome = Promise.resolve().then(work);
    outcome.catch(() => {
      if (this.outcomes.get(key) === outcome) this.outcomes.delete(key);
    });
    this.outcomes.set(key, outcome);
    while (this.outcomes.size > this.capacity) this.outcomes.delete(this.outcomes.keys().next().value!);
    return outcome;
  }
}

function decodeSafe(bytes: Uint8Array): unknown {
  try {
    return decode(bytes);
  } catch {
    return undefined;
  }
}
