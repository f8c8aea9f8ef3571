// Lifecycle of a job as its coordinator drives it; the coordinator's parts ask it (snapshot.matches) what may happen:
//   provisioning → initializing → training ⇄ checkpointing;
//   training | checkpointing → recovering (waiting ⇄ restoring) → training;
//   any running state → escalating (loading | training): the restart intensity was exceeded, the job ends;
//   any → stopping → completed | failed | stopped (final).
// A loss while restoring goes back to waiting: that recovery starts over, with every victim, in a newer epoch.
// Tags: "loading" before the workers loaded (a loss reloads them all), "loaded" once they did (a loss is recovered).
import { assign, setup, waitFor, type Actor, type SnapshotFrom } from "xstate";

export type JobEvent =
  | { type: "PROVISIONED" }
  | { type: "INITIALIZED" }
  /** A worker was lost (or is restarted by an operator) while the job runs steps. */
  | { type: "FAILURE"; actorId: string; cause: string }
  /** A recovery attempt starts: survivors recover, replacements restore. */
  | { type: "RESTORE" }
  | { type: "RECOVERED" }
  | { type: "CHECKPOINT" }
  | { type: "CHECKPOINTED" }
  | { type: "STEP_COMMITTED"; step: number }
  /** The worker supervisor exceeded its restart intensity: no recovery starts any more. */
  | { type: "ESCALATE" }
  /** The job is being stopped: its workers drain. */
  | { type: "STOPPING" }
  | { type: "FINISHED" }
  | { type: "GIVE_UP"; cause: string }
  | { type: "STOP" };

export interface JobContext {
  committedStep: number;
  recoveries: number;
  failure: string | null;
}

export const jobMachine = setup({
  types: { context: {} as JobContext, events: {} as JobEvent },
  actions: { counted: assign({ recoveries: ({ context }) => context.recoveries + 1 }) },
}).createMachine({
  id: "job",
  context: { committedStep: -1, recoveries: 0, failure: null },
  initial: "provisioning",
  on: {
    STOP: ".stopped",
    STOPPING: ".stopping",
    GIVE_UP: { target: ".failed", actions: assign({ failure: ({ event }) => event.cause }) },
  },
  states: {
    provisioning: { tags: ["loading"], on: { PROVISIONED: "initializing", ESCALATE: "escalating.loading" } },
    initializing: { tags: ["loading"], on: { INITIALIZED: "training", ESCALATE: "escalating.loading" } },
    training: {
      tags: ["loaded"],
      on: {
        STEP_COMMITTED: { actions: assign({ committedStep: ({ event }) => event.step }) },
        FAILURE: { target: "recovering", actions: "counted" },
        CHECKPOINT: "checkpointing",
        FINISHED: "completed",
        ESCALATE: "escalating.training",
      },
    },
    checkpointing: {
      tags: ["loaded"],
      on: { CHECKPOINTED: "training", FAILURE: { target: "recovering", actions: "counted" }, ESCALATE: "escalating.training" },
    },
    recovering: {
      tags: ["loaded"],
      initial: "waiting",
      on: { RECOVERED: "training", FAILURE: { actions: "counted" }, ESCALATE: "escalating.training" },
      states: {
        waiting: { on: { RESTORE: "restoring" } },
        restoring: { on: { FAILURE: { target: "waiting", actions: "counted" } } },
      },
    },
    escalating: {
      initial: "training",
      states: {
        loading: {},
        training: { tags: ["loaded"] },
      },
    },
    stopping: { on: { FINISHED: "completed" } },
    completed: { type: "final" },
    failed: { type: "final" },
    stopped: { type: "final" },
  },
});

export type JobActor = Actor<typeof jobMachine>;
export type JobSnapshot = SnapshotFrom<typeof jobMachine>;

/** Whether the job is being stopped or has ended: nothing new starts. */
export function isEnding(s: JobSnapshot): boolean {
  return s.status === "done" || s.matches("stopping");
}

/**
 * `work`, unless the job leaves the states `stays` accepts first: then rejects with `left()`'s error (e.g. a step
 * in flight when a worker is lost and the job goes recovering).
 */
export async function whileJob<T>(job: JobActor, stays: (s: JobSnapshot) => boolean, work: Promise<T>, left: () => Error): Promise<T> {
  const done = new AbortController();
  const leaving = waitFor(job, (s) => !stays(s), { signal: done.signal }).then(() => {
    throw left();
  });
  leaving.catch(() => undefined);
  try {
    return await Promise.race([work, leaving]);
  } finally {
    done.abort();
  }
}
