// A served actor: the process side every rank actor (training worker, inference worker) shares. It owns the
// ActorProcess (NATS, heartbeats), a lifecycle machine whose every transition is recorded to the lifecycles KV
// bucket and the event stream, and the verbs it answers: zod-validated, epoch-fenced requests on subjects of its
// own, a bad one refused with an error reply and a `message.rejected` event. `status` and `drain` are served
// from boot until stop; the actor's other verbs stop being served when it drains.
import { randomUUID } from "node:crypto";
import type { Subscription } from "@nats-io/transport-node";
import { createActor, type Actor, type AnyMachineSnapshot, type AnyStateMachine, type EventFromLogic } from "xstate";
import { z } from "zod";
import { ActorProcess, type ActorEnvironment } from "./actor-process.ts";
import { EventLog } from "./event-log.ts";
import { LifecycleStore, recordLifecycle, type RecorderHandle } from "./lifecycle-recorder.ts";
import { decodeFenced } from "./messages.ts";
import type { Namespace } from "./namespace.ts";
import { serve, type Rejection } from "./rpc.ts";

/** The events the plumbing sends the lifecycle: booted (status and drain served), draining, drained (final). */
export type ServedEvent = { type: "BOOTED" } | { type: "DRAIN" } | { type: "DRAINED" };

/** The two verbs every served actor answers from boot until stop. */
export type ControlVerb = "status" | "drain";

/** A status or drain request: nothing but the sender's epoch. */
const controlRequestSchema = z.object({ epoch: z.number().int().min(0) });

export interface ServedActorOptions<M extends AnyStateMachine, V extends string> {
  env: ActorEnvironment;
  /** The lifecycle; it accepts the ServedEvents (DRAIN from any state). */
  machine: ServedEvent extends EventFromLogic<M> ? M : never;
  /** Names its records: `<kind>.<actor id>` in the lifecycles bucket, `<kind>.transition` events. */
  kind: string;
  /** The subject of one of its verbs (the verbs include status and drain). */
  subject: ControlVerb extends V ? (ns: Namespace, actorId: string, verb: V) => string : never;
  /** The answer to `status`. */
  status: () => unknown;
  /** Waited for before the lifecycle is told DRAIN: work that must hand over first (a checkpoint's memory copy). */
  settle?: () => Promise<unknown>;
  /** Releases what the actor holds once its verbs are no longer served (background writes, collectives). */
  release?: () => Promise<unknown>;
  /**
   * The verbs that bring this actor into a newer epoch (a training worker's `recover` and `halt`). When set, any other
   * verb of a newer epoch means this process was replaced while it was cut off: its supervisor took it for dead and
   * started another with its identity, which was handed that epoch. It answers nothing (the live one answers) and
   * exits (supersededExit).
   */
  joinVerbs?: readonly NoInfer<V>[];
}

/** Exit code of a process that found it was replaced while cut off (ServedActorOptions.joinVerbs). */
const SUPERSEDED_EXIT_CODE = 75;

export class ServedActor<M extends AnyStateMachine, V extends string> {
  readonly process: ActorProcess;
  readonly lifecycle: Actor<M>;
  /** Requests refused so far on this actor's verbs (garbage, wrong schema, stale epoch). */
  rejected = 0;
  private events: EventLog | undefined;
  private recorder: RecorderHandle | undefined;
  private control: Record<ControlVerb, Subscription> | undefined;
  private readonly verbs: Subscription[] = [];
  private draining: Promise<{ state: string }> | undefined;

  constructor(private readonly o: ServedActorOptions<M, V>) {
    this.process = new ActorProcess(o.env);
    this.lifecycle = createActor(o.machine as M);
  }

  get id(): string {
    return this.process.env.actorId;
  }

  /** The lifecycle's state value, as a string ("idle", "stopped"). */
  get state(): string {
    return String(this.snapshot.value);
  }

  /** Starts the lifecycle and the process, records every transition, serves status and drain, then BOOTED. */
  async boot(): Promise<void> {
    this.lifecycle.start();
    await this.process.start();
    const nc = this.process.connection;
    this.events = await EventLog.open(nc, this.process.ns);
    this.recorder = await recordLifecycle(this.lifecycle, {
      kind: this.o.kind,
      id: this.id,
      store: await LifecycleStore.open(nc, this.process.ns),
      events: this.events,
      onError: (err) => this.process.log.warn({ err }, "lifecycle write failed"),
    });
    this.control = {
      status: this.subscribe("status" as V, controlRequestSchema, () => this.o.status()),
      drain: this.subscribe("drain" as V, controlRequestSchema, () => this.drain()),
    };
    this.send({ type: "BOOTED" });
  }

  /** Serves `verb` until the actor drains; a verb added once draining has begun is not served. */
  serveVerb<S extends z.ZodType<{ epoch: number }>>(verb: Exclude<V, ControlVerb>, schema: S, handle: (msg: z.output<S>) => unknown): void {
    if (this.draining) return;
    this.verbs.push(this.subscribe(verb, schema, handle));
  }

  /**
   * Stops serving the actor's verbs, releases what it holds and ends the lifecycle in its final state. Asked again
   * (or while running), it answers with the same outcome without doing the work twice.
   */
  drain(): Promise<{ state: string }> {
    this.draining ??= this.drainOnce();
    return this.draining;
  }

  /** Drains, stops answering status and drain, and closes the process's connection. */
  async stop(): Promise<void> {
    await this.drain();
    this.control?.status.unsubscribe();
    this.control?.drain.unsubscribe();
    this.recorder?.stop();
    await this.process.stop();
  }

  private get snapshot(): AnyMachineSnapshot {
    return this.lifecycle.getSnapshot() as AnyMachineSnapshot;
  }

  private send(event: ServedEvent): void {
    this.lifecycle.send(event as EventFromLogic<M>);
  }

  private async drainOnce(): Promise<{ state: string }> {
    if (this.snapshot.status === "done") return { state: this.state };
    await this.o.settle?.();
    this.send({ type: "DRAIN" });
    for (const s of this.verbs.splice(0)) s.unsubscribe();
    await this.o.release?.();
    this.send({ type: "DRAINED" });
    await this.recorder?.settled();
    return { state: this.state };
  }

  private subscribe<S extends z.ZodType<{ epoch: number }>>(verb: V, schema: S, handle: (msg: z.output<S>) => unknown): Subscription {
    const subject = (this.o.subject as (ns: Namespace, actorId: string, verb: V) => string)(this.process.ns, this.id, verb);
    return serve(this.process.connection, {
      subject,
      parse: (bytes) => decodeFenced(bytes, schema, this.process.epoch),
      handle: (msg) => {
        const newer = msg.epoch > this.process.epoch;
        const query = verb === "status" || verb === "drain";
        if (newer && this.o.joinVerbs && !query && !this.o.joinVerbs.includes(verb)) return this.superseded(verb, msg.epoch);
        // a newer epoch means membership changed: from now on older messages are zombies. With join verbs, only they
        // enter it: a query of a newer epoch (answered by a replaced process too, while both listen) joins nothing,
        // or a process cut off and back would pass as a member and answer its replacement's restore
        if (newer && !(this.o.joinVerbs && query)) this.process.epoch = msg.epoch;
        return handle(msg);
      },
      onReject: (err, on) => this.reject(err, on),
    });
  }

  /** Fenced: a verb of an epoch this process never joined. It leaves without a word (see joinVerbs). */
  private superseded(verb: V, epoch: number): Promise<never> {
    this.process.log.error(
      { verb, epoch, own: this.process.epoch, pid: process.pid },
      "replaced while cut off: a request of a newer epoch that this process never joined; exiting",
    );
    process.exit(SUPERSEDED_EXIT_CODE);
  }

  private reject(err: Rejection, subject: string): void {
    this.rejected++;
    this.process.log.warn({ kind: err.name, reason: err.message, subject }, "message rejected");
    void this.events
      ?.publish(
        { type: "message.rejected", subject: this.id, time: Date.now(), data: { kind: err.name, reason: err.message, on: subject } },
        randomUUID(),
      )
      .catch(() => undefined);
  }
}
