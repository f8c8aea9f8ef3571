// Lifecycle of a training worker process as it sees itself (design: "Lifecycles"):
//   booting → joining → loading → idle ⇄ stepping → applying → idle; idle → checkpointing → idle;
//   draining → stopped; failed from anywhere. Pure: the worker code sends events as work completes.
import { assign, setup } from "xstate";

export type WorkerEvent =
  | { type: "BOOTED" }
  | { type: "JOINED"; epoch: number }
  | { type: "LOADED" }
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
    loading: { on: { LOADED: "idle" } },
    idle: {
      on: {
        STEP: { target: "stepping", actions: assign({ step: ({ event }) => event.step, epoch: ({ event }) => event.epoch }) },
        CHECKPOINT: "checkpointing",
        // A membership change while idle: rejoin with the new epoch.
        JOINED: { actions: assign({ epoch: ({ event }) => event.epoch }) },
      },
    },
    // READY is reported upward; the worker stays in stepping until told to apply or abort.
    stepping: { on: { READY: "stepping", APPLY: "applying", ABORT: "idle" } },
    applying: { on: { APPLIED: { target: "idle", actions: assign({ committed: ({ context }) => context.step }) }, ABORT: "idle" } },
    checkpointing: { on: { CHECKPOINTED: "idle" } },
    draining: { on: { DRAINED: "stopped" } },
    stopped: { type: "final" },
    failed: { type: "final" },
  },
});
