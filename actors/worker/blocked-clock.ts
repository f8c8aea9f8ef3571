// Time a rank spends blocked in collectives, for its busy time (coordinator/stragglers.ts): the groups are wrapped
// so every collective operation (send, recv, all-reduce, …) marks the clock while it is pending. Overlapping
// operations count once (the union of the pending stretches), so busy = wall time − blocked time is the time the
// rank computed. In a pipeline every stage's wall time is the same (a fast stage waits in recv for a slow one);
// its busy time is not.
import type { RankGroups } from "../../ml/parallel/rank-groups.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";

/** The operations of Collectives that wait for peers. */
const BLOCKING = new Set<PropertyKey>(["allReduce", "reduceScatter", "allGather", "broadcast", "send", "recv", "barrier"]);

export class BlockedClock {
  private pending = 0;
  private since = 0;
  private total = 0;

  /** Ms during which at least one collective was pending since the last reset (a stretch in progress up to now). */
  get blockedMs(): number {
    return this.total + (this.pending > 0 ? performance.now() - this.since : 0);
  }

  reset(): void {
    this.total = 0;
    if (this.pending > 0) this.since = performance.now();
  }

  /** `c`, with its blocking operations timed on this clock. */
  wrap<C extends Collectives>(c: C): C {
    return new Proxy(c, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        const fn = value as (...args: unknown[]) => unknown;
        if (!BLOCKING.has(prop)) return fn.bind(target);
        return (...args: unknown[]) => this.timed(() => fn.apply(target, args) as Promise<unknown>);
      },
    });
  }

  /** Every group of a rank, wrapped. */
  wrapGroups(g: RankGroups): RankGroups {
    return { tp: this.wrap(g.tp), pp: this.wrap(g.pp), dp: this.wrap(g.dp), embedding: g.embedding && this.wrap(g.embedding) };
  }

  private timed<T>(op: () => Promise<T>): Promise<T> {
    if (this.pending++ === 0) this.since = performance.now();
    let p: Promise<T>;
    try {
      p = op();
    } catch (err) {
      this.leave();
      throw err;
    }
    return p.finally(() => this.leave());
  }

  private leave(): void {
    if (--this.pending === 0) this.total += performance.now() - this.since;
  }
}
