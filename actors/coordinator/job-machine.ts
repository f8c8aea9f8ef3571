// Lifecycle of a job as its coordinator drives it; the coordinator's parts ask it (snapshot.matches) what may happen:
//   provisioning → initializing → training ⇄ checkpointing;
//   training | checkpointing → recovering (waiting ⇄ restoring) → training;
//   any running state → escalating (loading | training): the restart intensity was exceeded, the job ends;
//   any → stopping → completed | failed | stopped (final).
// A loss while restoring goes back to waiting: that recovery starts over, with every victim, in a newer epoch.
// An elastic job whose replacements did not come shrinks (SHRUNK: restoring → waiting, the victims dropped); one
// scaled up grows at a step boundary (GROWN). Either is kept in `resizes`, the job's dp history.
// Tags: "loading" before the workers loaded (a loss reloads them all), "loaded" once they did (a loss is recovered).
import { assign, setup, waitFor, type Actor, type SnapshotFrom } from "xstate";

/** One change of an elastic job's data-parallel replicas, and why. */
export interface Resize {
  kind: "shrunk" | "grown";
  from: number;
  to: number;
  /** The dp indices of the replicas after the change. */
  replicas: number[];
  /** The step in flight (shrunk) or the first step run with the new replicas (grown). */
  step: number;
  /** The workers dropped or added. */
  workers: string[];
  cause: string;
  time: number;
}

export type JobEvent =
  | { type: "PROVISIONED" }
  | { type: "INITIALIZED" }
  /** A worker was lost (or is restarted by an operator) while the job runs steps. */
  | { type: "FAILURE"; actorId: string; cause: string }
  /** A recovery attempt starts: survivors recover, replacements restore. */
  | { type: "RESTORE" }
  | { type: "RECOVERED" }
  /** Replacements of lost workers did not come in time: the job goes on without those replicas. */
  | { type: "SHRUNK"; resize: Resize }
  /** New replicas joined at a step boundary (troupe scale). */
  | { type: "GROWN"; resize: Resize }
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
  /** Every change of the replicas, in order: the job's dp is the last one's `to` (the config's when none). */
  resizes: Resize[];
}

export const jobMachine = setup({
  types: { context: {} as JobContext, events: {} as JobEvent },
  actions: {
    counted: assign({ recoveries: ({ context }) => context.recoveries + 1 }),
    resized: assign({
      resizes: ({ context, event }) =>
        event.type === "SHRUNK" || event.type === "GROWN" ? [...context.resizes, event.resize] : context.resizes,
    }),
  },
}).createMachine({
  id: "job",
  context: { committedStep: -1, recoveries: 0, failure: null, resizes: [] },
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
        GROWN: { actions: "resized" },
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
      on: {
        RECOVERED: "training",
        FAILURE: { actions: "counted" },
        SHRUNK: { target: ".waiting", actions: "resized" },
        ESCALATE: "escalating.training",
      },
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
