// Lifecycle of a training worker process as it sees itself (design: "Lifecycles"):
//   booting → joining → loading → idle ⇄ stepping → applying → idle; idle → checkpointing → idle;
//   draining → stopped; failed from anywhere. Recovery: a survivor goes to recovering (step aborted, new
//   communicator) and back to idle; a replacement goes loading → restoring (waits for its state) → idle. Pure: the worker code sends events as work completes.
import { assign, setup, waitFor, type Actor } from "xstate";

export type WorkerEvent =
  | { type: "BOOTED" }
  | { type: "JOINED"; epoch: number }
  | { type: "LOADED" }
  | { type: "AWAIT_STATE" }
  | { type: "RESTORED"; step: number }
  | { type: "RECOVER"; epoch: number }
  | { type: "RECOVERED" }
  | { type: "STEP"; step: number; epoch: number }
  | { type: "READY" }
  | { type: "APPLY" }
  | { type: "APPLIED" }
  | { type: "ABORT" }
  | { type: "CHECKPOINT" }
  | { type: "CHECKPOINTED" }
  | { type: "DRAIN" }
  | { type: "DRAINED" }
  | { type: "FAIL"; cause: string };

export type WorkerState =
  | "booting"
  | "joining"
  | "loading"
  | "restoring"
  | "recovering"
  | "idle"
  | "stepping"
  | "applying"
  | "checkpointing"
  | "draining"
  | "stopped"
  | "failed";

export interface WorkerContext {
  step: number;
  epoch: number;
  committed: number;
  failure: string | null;
}

export const workerMachine = setup({
  types: { context: {} as WorkerContext, events: {} as WorkerEvent },
}).createMachine({
  id: "worker",
  context: { step: 0, epoch: 0, committed: -1, failure: null },
  initial: "booting",
  on: {
    FAIL: { target: ".failed", actions: assign({ failure: ({ event }) => event.cause }) },
    DRAIN: { target: ".draining" },
  },
  states: {
    booting: { on: { BOOTED: "joining" } },
    joining: { on: { JOINED: { target: "loading", actions: assign({ epoch: ({ event }) => event.epoch }) } } },
    loading: { on: { LOADED: "idle", AWAIT_STATE: "restoring" } },
    restoring: {
      on: { RESTORED: { target: "idle", actions: assign({ step: ({ event }) => event.step, committed: ({ event }) => event.step }) } },
    },
    recovering: { on: { RECOVERED: "idle" } },
    idle: {
      on: {
        STEP: { target: "stepping", actions: assign({ step: ({ event }) => event.step, epoch: ({ event }) => event.epoch }) },
        CHECKPOINT: "checkpointing",
        RECOVER: { target: "recovering", actions: assign({ epoch: ({ event }) => event.epoch }) },
        // A membership change while idle: rejoin with the new epoch.
        JOINED: { actions: assign({ epoch: ({ event }) => event.epoch }) },
      },
    },
    // READY is reported upward; the worker stays in stepping until told to apply or abort.
    stepping: {
      on: {
        READY: "stepping",
        APPLY: "applying",
        ABORT: "idle",
        RECOVER: { target: "recovering", actions: assign({ epoch: ({ event }) => event.epoch }) },
      },
    },
    applying: { on: { APPLIED: { target: "idle", actions: assign({ committed: ({ context }) => context.step }) }, ABORT: "idle" } },
    checkpointing: { on: { CHECKPOINTED: "idle" } },
    draining: { on: { DRAINED: "stopped" } },
    stopped: { type: "final" },
    failed: { type: "final" },
  },
});

/**
 * Resolves once the worker is not checkpointing: a checkpoint's memory copy is short and local, so a recovery, a
 * halt or a drain lets it finish (its write goes on in the background).
 */
export function notCheckpointing(lifecycle: Actor<typeof workerMachine>): Promise<unknown> {
  return waitFor(lifecycle, (s) => !s.matches("checkpointing"));
}
