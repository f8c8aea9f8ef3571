// Lifecycle of a job as its coordinator drives it (design: "Lifecycles"):
//   provisioning → initializing → training ⇄ recovering; training ⇄ checkpointing;
//   completed | failed | stopped (final).
import { assign, setup } from "xstate";

export type JobEvent =
  | { type: "PROVISIONED" }
  | { type: "INITIALIZED" }
  | { type: "FAILURE"; actorId: string; cause: string }
  | { type: "RECOVERED" }
  | { type: "CHECKPOINT" }
  | { type: "CHECKPOINTED" }
  | { type: "STEP_COMMITTED"; step: number }
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
}).createMachine({
  id: "job",
  context: { committedStep: -1, recoveries: 0, failure: null },
  initial: "provisioning",
  on: {
    STOP: ".stopped",
    GIVE_UP: { target: ".failed", actions: assign({ failure: ({ event }) => event.cause }) },
  },
  states: {
    provisioning: { on: { PROVISIONED: "initializing" } },
    initializing: { on: { INITIALIZED: "training", FAILURE: { target: "failed", actions: assign({ failure: ({ event }) => `${event.actorId}: ${event.cause}` }) } } },
    training: {
      on: {
        STEP_COMMITTED: { actions: assign({ committedStep: ({ event }) => event.step }) },
        FAILURE: { target: "recovering", actions: assign({ recoveries: ({ context }) => context.recoveries + 1 }) },
        CHECKPOINT: "checkpointing",
        FINISHED: "completed",
      },
    },
    recovering: { on: { RECOVERED: "training", FAILURE: { actions: assign({ recoveries: ({ context }) => context.recoveries + 1 }) } } },
    checkpointing: { on: { CHECKPOINTED: "training", FAILURE: "recovering" } },
    completed: { type: "final" },
    failed: { type: "final" },
    stopped: { type: "final" },
  },
});
