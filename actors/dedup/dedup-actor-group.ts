// The dedup coordinator's view of its supervised actors: waits until one answers, sends it a task, and
// turns its death (seen by the supervisor through the host agent's exit report or missed heartbeats)
// into ActorLostError for the task in flight, so the task can go to another actor.
import type { NatsConnection } from "@nats-io/transport-node";
import { RequestFailedError } from "../../runtime/errors.ts";
import { crashLineOf, describeDeath } from "../../runtime/death-cause.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import { call } from "../../runtime/rpc.ts";
import { recordState, type Supervisor } from "../../runtime/supervisor.ts";
import { dedupSubject, type DedupVerb, type ReadyReply } from "./dedup-actor-protocol.ts";

/** The actor running a task died or stopped answering: the task may be run again elsewhere. */
export class ActorLostError extends Error {
  override name = "ActorLostError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The dedup cannot go on: actors are dead for good, never started, or a task keeps failing. */
export class DedupActorsError extends Error {
  override name = "DedupActorsError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ActorGroupDeps {
  nc: NatsConnection;
  ns: Namespace;
  supervisor: Supervisor;
  /** Longest a task request may take; an actor that hangs is killed earlier by missed heartbeats. */
  taskTimeoutMs: number;
  /** How long an actor has to answer after it was (re)started. */
  startTimeoutMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DedupActorGroup {
  private readonly lostListeners = new Map<string, Set<(cause: string) => void>>();
  /** Restarts seen so far (records entering `restarting`). */
  restarts = 0;
  /** The error line of the last crash of one of our actors (from the host agent's exit report). */
  private lastCrash: string | undefined;

  constructor(private readonly deps: ActorGroupDeps) {
    deps.supervisor.onTransition((rec, _from, death) => {
      const line = death && crashLineOf(death);
      if (line && rec.state === "failed") this.lastCrash = `${rec.id}: ${line}`;
      if (rec.state === "restarting") this.restarts++;
      if (rec.state !== "failed" && rec.state !== "dead" && rec.state !== "restarting") return;
      for (const f of this.lostListeners.get(rec.id) ?? []) f(`${rec.state}: ${rec.deathCause ?? "no cause recorded"}`);
    });
  }

  /** Resolves once actor `id` answers (after a restart too); throws DedupActorsError if it never will. */
  async ready(id: string): Promise<ReadyReply> {
    const { supervisor } = this.deps;
    const deadline = Date.now() + this.deps.startTimeoutMs;
    for (;;) {
      const snap = supervisor.snapshot(id);
      const state = recordState(snap.value);
      if (state === "dead") {
        const crash = this.lastCrash ? `; last crash: ${this.lastCrash}` : "";
        throw new DedupActorsError(`actor ${id} is dead: ${snap.context.death ? describeDeath(snap.context.death) : "stopped"}${crash}`);
      }
      if (supervisor.state !== "running") throw new DedupActorsError(`supervisor ${supervisor.id} is ${supervisor.state}`);
      if (state === "alive") {
        try {
          return (await call(this.deps.nc, dedupSubject(this.deps.ns, id, "ready"), {}, 1000)) as ReadyReply;
        } catch {
          // heartbeating but not serving yet (or just died): ask again
        }
      }
      if (Date.now() > deadline) throw new DedupActorsError(`actor ${id} did not answer within ${this.deps.startTimeoutMs} ms (state ${state})`);
      await sleep(50);
    }
  }

  close(): void {}

  /** One task on actor `id`; its death while the task is in flight rejects with ActorLostError. */
  async request<T>(id: string, verb: DedupVerb, payload: unknown): Promise<T> {
    let listeners = this.lostListeners.get(id);
    if (!listeners) this.lostListeners.set(id, (listeners = new Set()));
    let onLost!: (cause: string) => void;
    const lost = new Promise<never>((_, reject) => {
      onLost = (cause) => reject(new ActorLostError(`actor ${id} ${cause}`));
    });
    listeners.add(onLost);
    const reply = call(this.deps.nc, dedupSubject(this.deps.ns, id, verb), payload, this.deps.taskTimeoutMs).catch((err: unknown) => {
      // transport failures (no responders, timeout) carry a cause; an error reply from the handler does not
      if (err instanceof RequestFailedError && err.cause !== undefined) throw new ActorLostError(`actor ${id}: ${err.message}`, { cause: err });
      throw err;
    });
    try {
      return (await Promise.race([reply, lost])) as T;
    } finally {
      listeners.delete(onLost);
    }
  }
}

export interface TaskStart {
  stage: string;
  task: number;
  actorId: string;
  pid: number;
  attempt: number;
}

export interface RunTasksOptions<T, R> {
  group: DedupActorGroup;
  actorIds: readonly string[];
  stage: string;
  verb: DedupVerb;
  tasks: readonly T[];
  payload: (task: T, index: number) => unknown;
  /** Runs of one task before the dedup gives up (each lost actor costs one). */
  maxAttempts: number;
  onStart?: (e: TaskStart) => void;
  onDone?: (index: number, result: R) => void;
  onReassigned?: (e: TaskStart & { cause: string }) => void;
}

/**
 * Runs every task on some actor: each actor pulls the next task when idle; a task whose actor is lost
 * goes back to the queue for any actor (the restarted one included). Results come back in task order.
 */
export async function runTasks<T, R>(o: RunTasksOptions<T, R>): Promise<R[]> {
  const n = o.tasks.length;
  const results = new Array<R>(n);
  const attempts = new Array<number>(n).fill(0);
  const queue = Array.from({ length: n }, (_, i) => i);
  let done = 0;
  let failure: Error | undefined;
  let wake!: () => void;
  let changed = new Promise<void>((r) => (wake = r));
  const signal = (): void => {
    const w = wake;
    changed = new Promise<void>((r) => (wake = r));
    w();
  };
  const loop = async (actorId: string): Promise<void> => {
    while (done < n && !failure) {
      const t = queue.shift();
      if (t === undefined) {
        await changed;
        continue;
      }
      let start: TaskStart | undefined;
      try {
        const { pid } = await o.group.ready(actorId);
        start = { stage: o.stage, task: t, actorId, pid, attempt: ++attempts[t]! };
        o.onStart?.(start);
        results[t] = await o.group.request<R>(actorId, o.verb, o.payload(o.tasks[t]!, t));
        done++;
        o.onDone?.(t, results[t]!);
        if (done === n) signal();
      } catch (err) {
        if (err instanceof ActorLostError && attempts[t]! < o.maxAttempts) {
          queue.push(t);
          o.onReassigned?.({ ...start!, cause: err.message });
          signal();
          continue;
        }
        failure ??=
          err instanceof ActorLostError
            ? new DedupActorsError(`${o.stage} task ${t} failed ${attempts[t]} times; last: ${err.message}`, { cause: err })
            : (err as Error);
        signal();
      }
    }
    if (failure) throw failure;
  };
  await Promise.all(o.actorIds.map(loop));
  return results;
}
