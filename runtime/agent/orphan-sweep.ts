// Orphans: processes a host agent runs for a supervisor that is gone for good (a job's coordinator killed and not
// started again, a test or a command that died without stopping its children). Every few seconds the agent asks
// each supervisor it runs children for whether it is there (its ping subject); one that has not answered for
// `orphanAfterMs` (long enough for a supervisor to be started again and take its children back) has its children
// stopped, each with an `actor.orphaned` event.
import type { NatsConnection } from "@nats-io/transport-node";
import type { Namespace } from "../namespace.ts";
import { call } from "../rpc.ts";

export interface OrphanSweepOptions {
  nc: NatsConnection;
  ns: Namespace;
  /** The children that name their supervisor (TROUPE_SUPERVISOR). */
  children: () => { actorId: string; pid: number; supervisor: string }[];
  /** Stops one orphan (and reports it). */
  stop: (c: { actorId: string; pid: number; supervisor: string }, silentMs: number) => void;
  everyMs?: number;
  orphanAfterMs?: number;
}

const DEFAULT_ORPHAN_AFTER_MS = 60_000;

export class OrphanSweep {
  /** Supervisor id → when it last answered (or was first seen). */
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(private readonly o: OrphanSweepOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.o.everyMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sweep(): Promise<void> {
    if (this.sweeping || this.o.nc.isClosed()) return;
    this.sweeping = true;
    try {
      const children = this.o.children();
      const supervisors = new Set(children.map((c) => c.supervisor));
      for (const id of this.seen.keys()) if (!supervisors.has(id)) this.seen.delete(id);
      const now = Date.now();
      await Promise.all(
        [...supervisors].map(async (id) => {
          if (!this.seen.has(id)) this.seen.set(id, now);
          const there = await call(this.o.nc, this.o.ns.supervisorSubject(id, "ping"), {}, 1000).then(
            () => true,
            () => false,
          );
          if (there) return void this.seen.set(id, Date.now());
          const silent = Date.now() - this.seen.get(id)!;
          if (silent < (this.o.orphanAfterMs ?? DEFAULT_ORPHAN_AFTER_MS)) return;
          for (const c of children.filter((x) => x.supervisor === id)) this.o.stop(c, silent);
          this.seen.delete(id);
        }),
      );
    } finally {
      this.sweeping = false;
    }
  }
}
