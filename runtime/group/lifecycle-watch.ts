// The latest lifecycle record (runtime/lifecycle-recorder.ts) of each member of a group, from one KV watch, and
// waiters on them ("member m is idle in epoch e"): readiness is pushed by the members, never polled.
import { delay } from "../async.ts";
import type { LifecycleRecord, LifecycleStore } from "../lifecycle-recorder.ts";
import type { Logger } from "../logger.ts";

interface Waiter {
  id: string;
  accept: (rec: LifecycleRecord) => boolean;
  reached: (rec: LifecycleRecord) => void;
}

/** Pause before watching again after a watch was lost (its consumer gone with a nats-server restart). */
const REWATCH_MS = 250;

export class LifecycleWatch {
  private readonly latest = new Map<string, LifecycleRecord>();
  private readonly waiters = new Set<Waiter>();
  private readonly closing = new AbortController();

  constructor(
    private readonly store: LifecycleStore,
    private readonly kind: string,
    private readonly ids: ReadonlySet<string>,
    private readonly log: Logger,
    /** False once the connection is closed for good: then there is nothing to watch again. */
    private readonly connected: () => boolean,
  ) {
    void this.run();
  }

  /** The member's last record seen, if any. */
  last(id: string): LifecycleRecord | undefined {
    return this.latest.get(id);
  }

  /** Calls `reached` with the member's record once `accept` takes it (at once if the latest does); returns a cancel. */
  until(id: string, accept: (rec: LifecycleRecord) => boolean, reached: (rec: LifecycleRecord) => void): () => void {
    const w: Waiter = { id, accept, reached };
    this.waiters.add(w);
    this.check(id);
    return () => this.waiters.delete(w);
  }

  /** Asks the member's waiters again: what they accept may have changed (the supervisor started another process). */
  check(id: string): void {
    const rec = this.latest.get(id);
    if (!rec) return;
    for (const w of this.waiters) {
      if (w.id !== id || !w.accept(rec)) continue;
      this.waiters.delete(w);
      w.reached(rec);
    }
  }

  close(): void {
    this.closing.abort();
    this.waiters.clear();
  }

  private async run(): Promise<void> {
    const signal = this.closing.signal;
    while (!signal.aborted && this.connected()) {
      try {
        for await (const rec of this.store.watch(this.kind, signal)) {
          if (!this.ids.has(rec.id)) continue;
          this.latest.set(rec.id, rec);
          this.check(rec.id);
        }
      } catch (err) {
        if (!signal.aborted) this.log.warn({ err }, "lifecycle watch lost: watching again");
      }
      await delay(REWATCH_MS, signal);
    }
  }
}
