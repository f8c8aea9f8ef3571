// One supervised child as its supervisor holds it: the record machine that is its state, and the
// bookkeeping around it (record sequence, restart intensity, spawn generation, early exits).
import type { Actor, SnapshotFrom } from "xstate";
import type { RestartIntensity } from "./backoff.ts";
import type { ExitDeath } from "./death-cause.ts";
import type { actorRecordMachine } from "./machines/actor-record.ts";
import type { ActorRecordState, ChildSpec } from "./types.ts";

type RecordActor = Actor<typeof actorRecordMachine>;

export interface Child {
  spec: ChildSpec;
  actor: RecordActor;
  /** Last record sequence number written (continues from KV across supervisor restarts). */
  seq: number;
  lastState: ActorRecordState;
  lastPersistAt: number;
  failures: RestartIntensity;
  /** Increments at each spawn so a late spawn reply for an abandoned attempt is recognised. */
  generation: number;
  /**
   * Exit reports that arrived before the spawn reply naming their pid (a process that dies at once
   * can beat its own spawn reply through the event loop); replayed after SPAWNED.
   */
  earlyExits: Map<number, ExitDeath>;
}

/** Heartbeat-only changes are written to KV at most this often (transitions always are). */
export const HEARTBEAT_PERSIST_MS = 1000;

export function recordState(value: SnapshotFrom<typeof actorRecordMachine>["value"]): ActorRecordState {
  return (typeof value === "string" ? value : Object.keys(value)[0]) as ActorRecordState;
}
