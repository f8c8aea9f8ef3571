import { DeadlineError } from "./errors.ts";
// Promise helpers used across troupe (after nats.js core/src/util.ts): a deferred, a delay, a deadline,
// and a poll for the few conditions that cannot be watched (a file appearing, a port opening).
// Prefer watching the state itself (a KV watch, xstate's waitFor on a machine) over pollUntil.

export interface Deferred<T> extends Promise<T> {
  resolve(value: T): void;
  reject(err: Error): void;
  /** Whether resolve or reject has been called. */
  readonly settled: boolean;
}

/**
 * A promise with its resolve and reject on it. A rejection nobody awaits is not an unhandled rejection
 * (a failure promise raced against work only when there is work).
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  let settled = false;
  const p = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  }) as Deferred<T>;
  p.catch(() => undefined);
  Object.defineProperties(p, {
    resolve: { value: (v: T) => ((settled = true), resolve(v)) },
    reject: { value: (e: Error) => ((settled = true), reject(e)) },
    settled: { get: () => settled },
  });
  return p;
}

/** Resolves after `ms` milliseconds; with a signal, resolves early when it aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** `p`, or a DeadlineError with `what` after `ms` milliseconds (the timer does not keep the process alive). */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new DeadlineError(`${what}: no answer within ${ms} ms`)), ms);
    t.unref?.();
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(t);
  }
}

/**
 * Calls `check` every `everyMs` until it returns something other than undefined, and returns that; throws a
 * DeadlineError naming `what` after `timeoutMs`. For conditions with nothing to watch.
 */
export async function pollUntil<T>(
  check: () => T | undefined | Promise<T | undefined>,
  o: { what: string; timeoutMs: number; everyMs?: number; signal?: AbortSignal },
): Promise<T> {
  const end = Date.now() + o.timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (o.signal?.aborted) throw new DeadlineError(`${o.what}: aborted`);
    if (Date.now() >= end) throw new DeadlineError(`${o.what}: not within ${o.timeoutMs} ms`);
    await delay(Math.min(o.everyMs ?? 50, Math.max(1, end - Date.now())), o.signal);
  }
}
