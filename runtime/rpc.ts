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
  let raw: Uint8Array;
  try {
    const m = await nc.request(subject, encode(payload), { timeout: timeoutMs });
    raw = m.data;
  } catch (err) {
    if (err instanceof RequestError && err.cause instanceof NoRespondersError) {
      throw new RequestFailedError(`nobody answers on ${subject}`, { cause: err });
    }
    if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
      throw new RequestFailedError(`no reply on ${subject} within ${timeoutMs} ms`, { cause: err });
    }
    throw new RequestFailedError(`request on ${subject} failed: ${(err as Error).message}`, { cause: err });
  }
  const reply = replySchema.safeParse(decodeSafe(raw));
  if (!reply.success) throw new RequestFailedError(`malformed reply on ${subject}`);
  if (!reply.data.ok) throw new RequestFailedError(reply.data.error);
  return reply.data.value;
}

function decodeSafe(bytes: Uint8Array): unknown {
  try {
    return decode(bytes);
  } catch {
    return undefined;
  }
}
