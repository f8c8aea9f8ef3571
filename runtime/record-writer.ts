// Ordered, retrying writes of a supervisor: actor records to KV and events to the stream, in the
// order they happened (one queue), so a reader never sees an event before the record it explains.
import { randomUUID } from "node:crypto";
import { describeDeath } from "./death-cause.ts";
import type { EventLog } from "./event-log.ts";
import type { Logger } from "./logger.ts";
import type { ActorRecordContext } from "./machines/actor-record.ts";
import type { Registry } from "./registry.ts";
import type { ActorRecord, ActorRecordState, ClusterEvent, Coordinates } from "./types.ts";

export class RecordWriter {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly registry: Registry,
    private readonly events: EventLog,
    private readonly clusterId: string,
    private readonly log: Logger,
  ) {}

  /** Writes the record; with `transitionFrom` also the `actor.transition` event (id `<cluster>:<actor>:<seq>`). */
  record(rec: ActorRecord, transitionFrom?: ActorRecordState | null, reason?: string | null): void {
    const event: ClusterEvent | undefined =
      transitionFrom === undefined
        ? undefined
        : {
            type: "actor.transition",
            subject: rec.id,
            time: rec.updatedAt,
            data: {
              from: transitionFrom,
              to: rec.state,
              pid: rec.pid,
              host: rec.host,
              restarts: rec.restarts,
              cause: rec.deathCause,
              reason: reason ?? null,
            },
          };
    const msgId = `${this.clusterId}:${rec.id}:${rec.seq}`;
    this.enqueue(async () => {
      await this.registry.putActor(rec);
      if (event) await this.events.publish(event, msgId);
    });
  }

  /** Appends an event that has no natural id (a decision, a command); resolves when written. */
  event(event: ClusterEvent): Promise<void> {
    this.enqueue(async () => {
      await this.events.publish(event, randomUUID());
    });
    return this.queue;
  }

  settled(): Promise<void> {
    return this.queue;
  }

  private enqueue(op: () => Promise<void>): void {
    this.queue = this.queue.then(op).catch((err: unknown) => this.log.error({ err }, "registry write failed"));
  }
}

/** The KV record of an actor from its record machine's snapshot. */
export function actorRecordOf(
  snap: { value: unknown; context: ActorRecordContext },
  state: ActorRecordState,
  meta: { supervisor: string; coords: Coordinates; seq: number; now: number },
): ActorRecord {
  const { timeouts: _static, ...ctx } = snap.context;
  return {
    id: ctx.id,
    supervisor: meta.supervisor,
    coords: meta.coords,
    host: ctx.host,
    pid: ctx.pid,
    state,
    restarts: ctx.restarts,
    step: ctx.step,
    epoch: ctx.epoch,
    lastHeartbeat: ctx.lastHeartbeat,
    deathCause: ctx.death ? describeDeath(ctx.death) : null,
    seq: meta.seq,
    updatedAt: meta.now,
    snapshot: { value: snap.value, context: ctx },
  };
}
