// Retries an operation that fails while NATS is reconnecting (JetStream publish, KV put).

export interface RetryOptions {
  /** Give up after this long (ms, default 30 s). */
  forMs?: number;
  delayMs?: number;
}

export async function retrying<T>(op: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.forMs ?? 30_000);
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 100));
    }
  }
}
