// Why a supervised actor died, as data. The supervisor builds it once: from the host agent's exit report (with
// the error line of the process's stderr inside), from its own timers (silence, start), or from its decisions
// (stopped, escalated). Policies branch on `kind`; describeDeath() words it for people: the actor record's
// `deathCause`, `troupe ps` / `inspect`, job errors.
/** What the host agent saw of a process's end; `starting`: it ended before its first heartbeat. */
export type ExitDeath =
  | { kind: "signal"; signal: string; crashLine?: string; starting?: true }
  | { kind: "exit"; code: number | null; lastLine?: string; crashLine?: string; starting?: true };

/** The restart intensity an escalation exceeded, and the failure that exceeded it. */
export interface IntensityExceeded {
  child: string;
  maxRestarts: number;
  periodMs: number;
  last: DeathCause;
}

export type DeathCause =
  | ExitDeath
  /** Heartbeats stopped for `ms` (hung, or its machine lost): the supervisor killed it. */
  | { kind: "silence"; ms: number }
  /**
   * Silent for `silentMs` and its host's agent did not answer within `probeMs` while the NATS server answered the
   * supervisor: the whole host is gone (powered off, cut off). Declared without waiting out the kill timeout.
   */
  | { kind: "host-lost"; host: string; silentMs: number; probeMs: number }
  /** No heartbeat within `ms` of the start. */
  | { kind: "start-timeout"; ms: number }
  | { kind: "spawn"; error: string }
  /** This actor exceeded its supervisor's restart intensity and was given up; `to` decides for the siblings. */
  | ({ kind: "escalated"; to: string | null } & IntensityExceeded)
  /** A sibling exceeded the restart intensity and the parent decided to stop the supervisor's children. */
  | { kind: "sibling-escalated"; by: string; child: string }
  /** Stopped on purpose (the job ended, the run was interrupted); `reason` is its whole description. */
  | { kind: "stopped"; by: string; reason: string }
  /** Killed to be started again (an operator, a job reload): not a failure, never recorded as a death cause. */
  | { kind: "restarted"; reason: string };

/** `restart intensity exceeded (…); last failure: <child> <cause>`: the escalation's cause as the events word it. */
export function describeIntensityExceeded(e: IntensityExceeded): string {
  return `restart intensity exceeded (more than ${e.maxRestarts} restarts in ${e.periodMs} ms); last failure: ${e.child} ${describeDeath(e.last)}`;
}

export function describeDeath(c: DeathCause): string {
  switch (c.kind) {
    case "signal":
      return `killed by ${c.signal}${c.starting ? " while starting" : ""}`;
    case "exit":
      return `exited with code ${c.code}${c.lastLine ? `: ${c.lastLine}` : ""}${c.starting ? " while starting" : ""}`;
    case "silence":
      return `no heartbeat for ${c.ms} ms (hung); killed`;
    case "host-lost":
      return `host ${c.host} lost: no heartbeat for ${c.silentMs} ms and its agent did not answer within ${c.probeMs} ms`;
    case "start-timeout":
      return `no heartbeat within ${c.ms} ms of start`;
    case "spawn":
      return `spawn failed: ${c.error}`;
    case "escalated":
      return `escalated to ${c.to ?? "no parent"}: ${describeIntensityExceeded(c)}`;
    case "sibling-escalated":
      return `stopped by ${c.by}: escalated after ${c.child} failed`;
    case "stopped":
      return c.reason;
    case "restarted":
      return `restarted: ${c.reason}`;
  }
}

/** The cause of a process end from the host agent's exit report. */
export function deathOfExit(r: { code: number | null; signal: string | null; stderrTail: string }): ExitDeath {
  const line = crashLine(r.stderrTail);
  const crash = line ? { crashLine: line } : {};
  if (r.signal) return { kind: "signal", signal: r.signal, ...crash };
  // The last plain (non-JSON log) stderr line usually says why a process gave up.
  const last = r.stderrTail
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("{"))
    .at(-1);
  return { kind: "exit", code: r.code, ...(last ? { lastLine: last.slice(0, 300) } : {}), ...crash };
}

/**
 * The line of a crashed process's stderr that names the error. Node prints the thrown error near the top and its
 * own version last, so the last line alone rarely explains a crash.
 */
export function crashLine(stderrTail: string): string | undefined {
  const lines = stderrTail.split("\n").map((l) => l.trim());
  const line = lines.find((l) => /^([A-Z]\w*)?Error\b.*:/.test(l) || /^\w+Error \[/.test(l));
  return line?.slice(0, 300);
}

/** The error line the dead process printed, if its cause came from an exit report that had one. */
export function crashLineOf(c: DeathCause): string | undefined {
  return c.kind === "signal" || c.kind === "exit" ? c.crashLine : undefined;
}

/**
 * Whether the death came from outside the actor (a signal: the OOM killer, an operator, chaos; or silence: a
 * hang; or a lost host) rather than an error of its own (a non-zero exit): starting it again can mend the first only.
 */
export function lostFromOutside(c: DeathCause): boolean {
  return c.kind === "signal" || c.kind === "silence" || c.kind === "host-lost" || c.kind === "start-timeout";
}

/** Whether the death is the supervisor's escalation: the actor that exceeded the intensity, or a sibling stopped after it. */
export function byEscalation(c: DeathCause): boolean {
  return c.kind === "escalated" || c.kind === "sibling-escalated";
}
