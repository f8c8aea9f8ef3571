// Lifecycle of one supervised actor as its supervisor sees it:
//   pending → starting → alive ⇄ suspect → failed → restarting → starting … ; dead (given up / stopped).
// Side effects (spawn, kill, report failure) are actions the supervisor provides; timers use the
// actor's clock, so tests drive them with SimulatedClock. Silence timers only fire while the
// supervisor is connected to NATS: an outage is not the actors' fault.
import { assign, setup } from "xstate";
import type { DeathCause, ExitDeath } from "../death-cause.ts";
import type { ActorRecord, Timeouts } from "../types.ts";

export interface ActorRecordContext {
  id: string;
  timeouts: Timeouts;
  pid: number | null;
  host: string | null;
  restarts: number;
  step: number;
  epoch: number;
  lastHeartbeat: number | null;
  /** Why it last failed or died (null while healthy and never failed); words: describeDeath. */
  death: DeathCause | null;
  restartReason: string | null;
  backoffMs: number;
  connected: boolean;
}

export type ActorRecordEvent =
  | { type: "START" }
  /** A supervisor started again takes over a child whose process runs (its last record said so): no spawn. */
  | { type: "ADOPT"; pid: number; host: string; restarts: number; epoch: number; step: number }
  | { type: "SPAWNED"; pid: number; host: string }
  | { type: "SPAWN_FAILED"; cause: string }
  | { type: "HEARTBEAT"; pid: number; step: number; epoch: number; time: number }
  | { type: "EXITED"; pid: number; cause: ExitDeath }
  /** The supervisor's answer to a failure: restart after a backoff. */
  | { type: "RESTART"; delayMs: number }
  /** Kill the running process and start a new one without counting a failure (operator, sibling). */
  | { type: "RECYCLE"; reason: string; delayMs: number }
  /** Give up: the actor stays listed as dead with this cause. */
  | { type: "STOP"; cause: DeathCause }
  /** A suspect's host agent did not answer either (supervisor-host-probe.ts): failed now, not after the kill timeout. */
  | { type: "HOST_LOST"; pid: number; host: string; probeMs: number }
  | { type: "DISCONNECTED" }
  | { type: "RECONNECTED" };

export interface ActorRecordInput {
  id: string;
  timeouts: Timeouts;
}

const pidMatches = ({ context, event }: { context: ActorRecordContext; event: ActorRecordEvent }) =>
  "pid" in event && event.pid === context.pid;

export const actorRecordMachine = setup({
  types: {
    context: {} as ActorRecordContext,
    events: {} as ActorRecordEvent,
    input: {} as ActorRecordInput,
  },
  actions: {
    // Provided by the supervisor.
    spawnProcess: (_: unknown, _params: { id: string }) => {},
    killProcess: (_: unknown, _params: { id: string; pid: number | null; host: string | null; signal: string }) => {},
    reportFailure: (_: unknown, _params: { id: string; cause: DeathCause }) => {},
    /** On becoming suspect: ask the child's host agent whether it is there (a silent host is lost, not slow). */
    probeHost: (_: unknown, _params: { id: string; pid: number | null; host: string | null }) => {},
  },
  guards: {
    pidMatches,
    connected: ({ context }) => context.connected,
  },
  delays: {
    start: ({ context }) => context.timeouts.startMs,
    suspect: ({ context }) => context.timeouts.suspectMs,
    kill: ({ context }) => context.timeouts.killMs - context.timeouts.suspectMs,
    backoff: ({ context }) => context.backoffMs,
  },
}).createMachine({
  id: "actor-record",
  context: ({ input }) => ({
    id: input.id,
    timeouts: input.timeouts,
    pid: null,
    host: null,
    restarts: 0,
    step: 0,
    epoch: 0,
    lastHeartbeat: null,
    death: null,
    restartReason: null,
    backoffMs: 0,
    connected: true,
  }),
  initial: "pending",
  on: {
    DISCONNECTED: { actions: assign({ connected: false }) },
    // Re-entering the current state re-arms its silence timer from now.
    RECONNECTED: { actions: assign({ connected: true }) },
    RECYCLE: {
      target: ".restarting",
      actions: [
        { type: "killProcess", params: ({ context }) => ({ id: context.id, pid: context.pid, host: context.host, signal: "SIGKILL" }) },
        assign({ restartReason: ({ event }) => event.reason, backoffMs: ({ event }) => event.delayMs }),
      ],
    },
    STOP: {
      target: ".dead",
      actions: [
        { type: "killProcess", params: ({ context }) => ({ id: context.id, pid: context.pid, host: context.host, signal: "SIGKILL" }) },
        assign({ death: ({ event }) => event.cause, pid: null }),
      ],
    },
  },
  states: {
    pending: {
      on: {
        START: "starting",
        // alive from now on: it must keep beating (silence makes it suspect, then it is killed and restarted)
        ADOPT: {
          target: "alive",
          actions: assign({
            pid: ({ event }) => event.pid,
            host: ({ event }) => event.host,
            restarts: ({ event }) => event.restarts,
            epoch: ({ event }) => event.epoch,
            step: ({ event }) => event.step,
            lastHeartbeat: () => Date.now(),
          }),
        },
      },
    },
    starting: {
      entry: [assign({ pid: null }), { type: "spawnProcess", params: ({ context }) => ({ id: context.id }) }],
      // The start timer lives in a child state so that a reconnect can re-arm it without re-spawning.
      initial: "waiting",
      states: {
        waiting: {
          after: {
            start: {
              guard: "connected",
              target: "#actor-record.failed",
              actions: [
                {
                  type: "killProcess",
                  params: ({ context }) => ({ id: context.id, pid: context.pid, host: context.host, signal: "SIGKILL" }),
                },
                assign({ death: ({ context }) => ({ kind: "start-timeout", ms: context.timeouts.startMs }) }),
              ],
            },
          },
        },
      },
      on: {
        SPAWNED: { actions: assign({ pid: ({ event }) => event.pid, host: ({ event }) => event.host }) },
        SPAWN_FAILED: { target: "failed", actions: assign({ death: ({ event }) => ({ kind: "spawn", error: event.cause }) }) },
        HEARTBEAT: { guard: "pidMatches", target: "alive" },
        EXITED: {
          guard: "pidMatches",
          target: "failed",
          actions: assign({ death: ({ event }) => ({ ...event.cause, starting: true as const }) }),
        },
        RECONNECTED: { target: ".waiting", reenter: true, actions: assign({ connected: true }) },
      },
    },
    alive: {
      entry: assign(({ context, event }) =>
        event.type === "HEARTBEAT"
          ? { lastHeartbeat: event.time, step: event.step, epoch: event.epoch, restartReason: null }
          : { lastHeartbeat: context.lastHeartbeat },
      ),
      after: { suspect: { guard: "connected", target: "suspect" } },
      on: {
        HEARTBEAT: { guard: "pidMatches", target: "alive", reenter: true },
        RECONNECTED: { target: "alive", reenter: true, actions: assign({ connected: true }) },
        EXITED: { guard: "pidMatches", target: "failed", actions: assign({ death: ({ event }) => event.cause }) },
      },
    },
    suspect: {
      entry: { type: "probeHost", params: ({ context }) => ({ id: context.id, pid: context.pid, host: context.host }) },
      after: {
        kill: {
          guard: "connected",
          target: "failed",
          actions: [
            { type: "killProcess", params: ({ context }) => ({ id: context.id, pid: context.pid, host: context.host, signal: "SIGKILL" }) },
            assign({ death: ({ context }) => ({ kind: "silence", ms: context.timeouts.killMs }) }),
          ],
        },
      },
      on: {
        HEARTBEAT: { guard: "pidMatches", target: "alive" },
        RECONNECTED: { target: "suspect", reenter: true, actions: assign({ connected: true }) },
        HOST_LOST: {
          guard: ({ context, event }) => context.connected && event.pid === context.pid && event.host === context.host,
          target: "failed",
          actions: [
            { type: "killProcess", params: ({ context }) => ({ id: context.id, pid: context.pid, host: context.host, signal: "SIGKILL" }) },
            assign({
              death: ({ context, event }) => ({
                kind: "host-lost" as const,
                host: event.host,
                silentMs: context.lastHeartbeat === null ? context.timeouts.suspectMs : Math.max(0, Date.now() - context.lastHeartbeat),
                probeMs: event.probeMs,
              }),
            }),
          ],
        },
        EXITED: { guard: "pidMatches", target: "failed", actions: assign({ death: ({ event }) => event.cause }) },
      },
    },
    failed: {
      entry: {
        type: "reportFailure",
        params: ({ context }) => ({ id: context.id, cause: context.death ?? { kind: "stopped", by: context.id, reason: "unknown" } }),
      },
      on: {
        RESTART: { target: "restarting", actions: assign({ backoffMs: ({ event }) => event.delayMs }) },
      },
    },
    restarting: {
      entry: assign({ restarts: ({ context }) => context.restarts + 1, pid: null }),
      after: { backoff: "starting" },
    },
    dead: {},
  },
});

/**
 * How a supervisor starts a child's record: START spawns a process; with `adopt`, a child whose last record says its
 * process runs (alive or suspect, with a pid and host) is taken over as it is (ADOPT).
 */
export function startEventOf(last: ActorRecord | null, adopt: boolean): ActorRecordEvent {
  const running = last !== null && (last.state === "alive" || last.state === "suspect") && last.pid !== null && last.host !== null;
  return adopt && running
    ? { type: "ADOPT", pid: last.pid!, host: last.host!, restarts: last.restarts, epoch: last.epoch, step: last.step }
    : { type: "START" };
}
