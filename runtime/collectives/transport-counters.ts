// What a rank's collectives cost it: the bytes its TCP mesh wrote to and read from its peers (counted by the mesh,
// tcp-mesh.ts, frames with their headers) and the seconds it spent in collective calls (counted by a wrapper of its
// world communicator and every group taken from it: the union of the stretches during which at least one call was
// pending, so overlapping bucketed all-reduces count once). One object per process outlives its communicators: a
// recovery's new world adds to the same counts. A worker reports them with each step (actors/worker/step-verbs.ts).
import type { Collectives, CollectivesWorld } from "./types.ts";

/** Counts since the last take(). */
export interface CollectiveTally {
  sentBytes: number;
  receivedBytes: number;
  seconds: number;
}

/** Operations of a communicator that do not wait for peers (everything else returning a promise is timed). */
const UNTIMED = new Set<PropertyKey>(["group", "abort", "close"]);

export class TransportCounters {
  sentBytes = 0;
  receivedBytes = 0;
  private pending = 0;
  private since = 0;
  private totalMs = 0;
  private taken: CollectiveTally = { sentBytes: 0, receivedBytes: 0, seconds: 0 };
  /** A group asked for twice is the same object twice (CollectivesWorld.group): so is its timed wrapper. */
  private readonly wrappers = new WeakMap<Collectives, Collectives>();

  /** Seconds during which at least one collective call was pending (a stretch in progress counts up to now). */
  get seconds(): number {
    return (this.totalMs + (this.pending > 0 ? performance.now() - this.since : 0)) / 1000;
  }

  /** The counts since these counters were made (the process's start, for a worker's). */
  total(): CollectiveTally {
    return { sentBytes: this.sentBytes, receivedBytes: this.receivedBytes, seconds: this.seconds };
  }

  /** The counts since the previous take (since the start, the first time). */
  take(): CollectiveTally {
    const now = { sentBytes: this.sentBytes, receivedBytes: this.receivedBytes, seconds: this.seconds };
    const delta = {
      sentBytes: now.sentBytes - this.taken.sentBytes,
      receivedBytes: now.receivedBytes - this.taken.receivedBytes,
      seconds: now.seconds - this.taken.seconds,
    };
    this.taken = now;
    return delta;
  }

  /** `world`, with every collective call of it and of the groups taken from it timed on these counters. */
  timeWorld(world: CollectivesWorld): CollectivesWorld {
    return this.timed(world);
  }

  private timed<C extends Collectives>(c: C): C {
    const known = this.wrappers.get(c);
    if (known) return known as C;
    const wrapper = new Proxy(c, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        const fn = value as (...args: unknown[]) => unknown;
        if (prop === "group") return (...args: unknown[]) => this.timed(fn.apply(target, args) as Collectives);
        if (UNTIMED.has(prop)) return fn.bind(target);
        return (...args: unknown[]) => this.call(() => fn.apply(target, args));
      },
    });
    this.wrappers.set(c, wrapper);
    return wrapper;
  }

  private call(op: () => unknown): unknown {
    if (this.pending++ === 0) this.since = performance.now();
    let result: unknown;
    try {
      result = op();
    } catch (err) {
      this.leave();
      throw err;
    }
    if (result instanceof Promise) return result.finally(() => this.leave());
    this.leave();
    return result;
  }

  private leave(): void {
    if (--this.pending === 0) this.totalMs += performance.now() - this.since;
  }
}
