// A task farm over the dedup's actor group: each actor pulls the next task when it is idle, and a task whose actor
// is lost (its death seen by the supervisor through the host agent's exit report or missed heartbeats) goes back to
// the queue for any actor, the restarted one included.
import { deferred } from "../../runtime/async.ts";
import { describeDeath } from "../../runtime/death-cause.ts";
import { RequestFailedError } from "../../runtime/errors.ts";
import type { ActorGroup, GroupMember } from "../../runtime/group/actor-group.ts";
import { MemberLostError } from "../../runtime/group/errors.ts";
import type { DedupProtocol, DedupRole, ReadyReply } from "./dedup-actor-protocol.ts";
import { ActorLostError, DedupActorsError } from "./errors.ts";

export type DedupActor = GroupMember<{ role: DedupRole; index: number }>;
export type DedupGroup = ActorGroup<DedupActor["coords"], DedupProtocol>;
type TaskVerb = Exclude<keyof DedupProtocol, "ready">;

export interface TaskStart {
  stage: string;
  task: number;
  actorId: string;
  pid: number;
  attempt: number;
}

export interface RunTasksOptions<V extends TaskVerb, T> {
  group: DedupGroup;
  actors: readonly DedupActor[];
  stage: string;
  verb: V;
  tasks: readonly T[];
  payload: (task: T, index: number) => DedupProtocol[V]["req"];
  /** Runs of one task before the dedup gives up (each lost actor costs one). */
  maxAttempts: number;
  /** The error line of the last crash of one of the group's actors, for the message when one is dead for good. */
  lastCrash: () => string | undefined;
  onStart?: (e: TaskStart) => void;
  onDone?: (index: number, result: DedupProtocol[V]["reply"]) => void;
  onReassigned?: (e: TaskStart & { cause: string }) => void;
}

/** Resolves once the actor answers (after a restart too); throws DedupActorsError if it never will. */
export async function readyOn(group: DedupGroup, a: DedupActor, lastCrash: () => string | undefined): Promise<ReadyReply> {
  const deadline = Date.now() + group.timeouts.startMs;
  for (;;) {
    try {
      await group.waitForRecord(a, ["alive", "suspect"], { deadline });
      // heartbeating but not serving yet: "ready" is asked again until it answers
      return await group.ask(a, "ready", {}, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (err) {
      // lost while it was asked: wait for its restart
      if (err instanceof MemberLostError && group.record(a).state !== "dead") continue;
      if (err instanceof MemberLostError) {
        const crash = lastCrash();
        throw new DedupActorsError(`actor ${a.id} is dead: ${describeDeath(err.death)}${crash ? `; last crash: ${crash}` : ""}`, {
          cause: err,
        });
      }
      throw new DedupActorsError(`actor ${a.id} did not answer within ${group.timeouts.startMs} ms (state ${group.record(a).state})`, {
        cause: err,
      });
    }
  }
}

/** One task on actor `a`; its death while the task is in flight rejects with ActorLostError. */
async function runOn<V extends TaskVerb>(
  group: DedupGroup,
  a: DedupActor,
  verb: V,
  payload: DedupProtocol[V]["req"],
): Promise<DedupProtocol[V]["reply"]> {
  const pid = group.record(a).pid;
  try {
    return await group.ask(a, verb, payload);
  } catch (err) {
    if (err instanceof MemberLostError) throw new ActorLostError(`actor ${err.message}`, { cause: err });
    // an error reply from the handler is the task's own failure; a transport failure (no responders, timeout) may be
    // the actor dying: its fate is known once it answers again or is lost
    if (!(err instanceof RequestFailedError) || err.cause === undefined) throw err;
    await group.settle([a], { deadlineMs: group.timeouts.killMs });
    const now = group.record(a);
    if (now.pid !== pid && now.death) throw new ActorLostError(`actor ${a.id} lost: ${describeDeath(now.death)}`, { cause: err });
    throw new ActorLostError(`actor ${a.id}: ${err.message}`, { cause: err });
  }
}

/** Runs every task on some actor; results come back in task order. */
export async function runTasks<V extends TaskVerb, T>(o: RunTasksOptions<V, T>): Promise<DedupProtocol[V]["reply"][]> {
  type R = DedupProtocol[V]["reply"];
  const n = o.tasks.length;
  const results = new Array<R>(n);
  const attempts = new Array<number>(n).fill(0);
  const queue = Array.from({ length: n }, (_, i) => i);
  let done = 0;
  let failure: Error | undefined;
  let changed = deferred();
  const signal = (): void => {
    const c = changed;
    changed = deferred();
    c.resolve();
  };
  const loop = async (a: DedupActor): Promise<void> => {
    while (done < n && !failure) {
      const t = queue.shift();
      if (t === undefined) {
        await changed;
        continue;
      }
      let start: TaskStart | undefined;
      try {
        const { pid } = await readyOn(o.group, a, o.lastCrash);
        start = { stage: o.stage, task: t, actorId: a.id, pid, attempt: ++attempts[t]! };
        o.onStart?.(start);
        results[t] = await runOn(o.group, a, o.verb, o.payload(o.tasks[t]!, t));
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
  await Promise.all(o.actors.map(loop));
  return results;
}
