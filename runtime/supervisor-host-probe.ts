// Whole-host loss, told apart from a slow actor. A child that goes silent (suspect) is normally given the kill timeout
// to beat again, and its host agent's exit report tells a crash at once. A host that is gone (powered off, cut off)
// reports nothing and takes no kill request, so silence alone would cost the whole kill timeout. On becoming suspect
// the supervisor asks the child's host agent directly (its `ping`): if the agent answers, nothing changes (the
// kill timeout stays the only way a silent child on a live host is taken for dead: a loaded host is never declared
// lost); if it does not answer within HOST_PROBE_MS while the NATS server answers the supervisor in the same window,
// the host is lost and the child fails at once with the typed cause `host-lost` (death-cause.ts).
import { NoRespondersError, RequestError, type NatsConnection } from "@nats-io/transport-node";
import { setImmediate as nextTurn } from "node:timers/promises";
import { delay } from "./async.ts";
import { encode } from "./codec.ts";
import type { Logger } from "./logger.ts";
import type { Namespace } from "./namespace.ts";
import { recordState, type Child } from "./supervisor-child.ts";

/** How long a suspect child's host agent has to answer before its host counts as lost. */
export const HOST_PROBE_MS = 500;

/** A probe that could not judge (the supervisor itself could not hear the server) is tried again after this. */
const RETRY_MS = 250;

export type ProbeOutcome =
  /** The agent answered: its host is up (whatever its children do). */
  | { kind: "answered" }
  /** No answer within the probe time (or no agent subscribed at all) while the NATS server answered us. */
  | { kind: "silent"; noResponders: boolean }
  /** The supervisor could not tell: the server did not answer its own ping in the window either. */
  | { kind: "unknown"; why: string };

/**
 * One probe of `host`'s agent. A reply the socket has already delivered is read before judging (timers run before
 * I/O in a turn of the event loop, so a supervisor that was itself held up would otherwise miss it).
 */
export async function probeAgent(nc: NatsConnection, ns: Namespace, host: string, timeoutMs = HOST_PROBE_MS): Promise<ProbeOutcome> {
  let answered = false;
  let noResponders = false;
  let failure: string | undefined;
  let serverAnswered = false;
  const reply = nc.request(ns.agentSubject(host, "ping"), encode(null), { timeout: Math.max(5000, 4 * timeoutMs) }).then(
    () => void (answered = true),
    (err: unknown) => {
      if (err instanceof RequestError && err.cause instanceof NoRespondersError) noResponders = true;
      else failure = (err as Error).message;
    },
  );
  const server = nc.rtt().then(
    () => void (serverAnswered = true),
    () => undefined,
  );
  await Promise.race([reply, delay(timeoutMs)]);
  if (!answered && !noResponders) {
    await nextTurn();
    await nextTurn();
  }
  if (answered) return { kind: "answered" };
  // no responders comes from the server itself: it holds no subscription of that agent
  if (!serverAnswered && !noResponders) await Promise.race([server, delay(RETRY_MS)]);
  if (!serverAnswered && !noResponders) return { kind: "unknown", why: "the NATS server did not answer the supervisor either" };
  // a request that failed on our side (disconnected, closing) says nothing of the agent
  if (failure !== undefined) return { kind: "unknown", why: failure };
  return { kind: "silent", noResponders };
}

interface SuspectProbe {
  nc: NatsConnection;
  ns: Namespace;
  log: Logger;
  id: string;
  pid: number;
  host: string;
  /** Whether the child is still suspect as this same process (a heartbeat, an exit or a stop ends the probing). */
  stillSuspect: () => boolean;
  /** The host is lost: the supervisor fails the child (HOST_LOST) and passes the host over for replacements. */
  lost: (probeMs: number) => void;
  timeoutMs?: number;
}

/** Probes the suspect child's host until it answers, is found lost, or the child is no longer suspect. */
async function probeSuspectHost(p: SuspectProbe): Promise<ProbeOutcome | undefined> {
  const timeoutMs = p.timeoutMs ?? HOST_PROBE_MS;
  for (;;) {
    if (!p.stillSuspect() || p.nc.isClosed()) return undefined;
    const started = Date.now();
    const outcome = await probeAgent(p.nc, p.ns, p.host, timeoutMs);
    if (!p.stillSuspect()) return outcome;
    if (outcome.kind === "answered") return outcome;
    if (outcome.kind === "silent") {
      p.log.warn(
        { actorId: p.id, pid: p.pid, host: p.host, probeMs: Date.now() - started, noResponders: outcome.noResponders },
        "host lost: the suspect's agent does not answer",
      );
      p.lost(timeoutMs);
      return outcome;
    }
    await delay(RETRY_MS);
  }
}

/**
 * The supervisor's `probeHost` action: once the record has settled in `suspect`, probes the child's host; a lost host
 * fails the child (HOST_LOST) and is noted in `unreachable` so that its replacement goes elsewhere at once.
 */
export function probeOnSuspect(
  o: { nc: NatsConnection; ns: Namespace; log: Logger; unreachable: Map<string, number> },
  child: Child | undefined,
  p: { id: string; pid: number | null; host: string | null },
): void {
  const { pid, host } = p;
  if (!child || pid === null || host === null) return;
  const stillSuspect = () => {
    const s = child.actor.getSnapshot();
    return recordState(s.value) === "suspect" && s.context.pid === pid;
  };
  const lost = (probeMs: number) => {
    o.unreachable.set(host, Date.now());
    child.actor.send({ type: "HOST_LOST", pid, host, probeMs });
  };
  queueMicrotask(
    () =>
      void probeSuspectHost({ ...o, id: p.id, pid, host, stillSuspect, lost }).catch((err: unknown) =>
        o.log.error({ err }, "host probe failed"),
      ),
  );
}
