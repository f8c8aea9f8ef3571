// Interfaces and plain data types of the actor runtime (no implementations here).
import type { DeathCause } from "./death-cause.ts";

/** Where an actor sits in the job; for training workers { d, p, t }, anything numeric for others. */
export type Coordinates = Record<string, number>;

/** States of the actor record, kept by the supervisor for every child, dead ones too. */
export type ActorRecordState = "pending" | "starting" | "alive" | "suspect" | "failed" | "restarting" | "dead";

/** One key per actor in the `actors` KV bucket. */
export interface ActorRecord {
  id: string;
  supervisor: string;
  coords: Coordinates;
  host: string | null;
  pid: number | null;
  state: ActorRecordState;
  restarts: number;
  step: number;
  epoch: number;
  /** Wall-clock ms of the last heartbeat seen, or null. */
  lastHeartbeat: number | null;
  /** Why the actor last failed or died (null while healthy and never failed), in words (runtime/death-cause.ts). */
  deathCause: string | null;
  /** Counts writes of this record; also makes event message ids unique and retry-safe. */
  seq: number;
  updatedAt: number;
  /** The persisted xstate snapshot of the record machine (value + context), for `inspect`. */
  snapshot: unknown;
}

/** One key per host agent in the `hosts` KV bucket. */
export interface HostRecord {
  name: string;
  slots: number;
  /** Topology tier, e.g. rack or switch id: hosts with the same tier are "near". */
  tier: string;
  pid: number;
  startedAt: number;
  lastSeen: number;
  /** Actor ids the agent currently runs. */
  running: string[];
  /** Its warm spares (agent/spare-pool.ts); absent from agents older than the field. */
  spares?: SpareStatus;
}

/** A host agent's warm spares: one per command line that asked for them, started ahead of need. */
export interface SpareStatus {
  /** Spares started and waiting for an identity. */
  ready: number;
  /** Command lines the agent keeps a spare for. */
  target: number;
  pids: number[];
}

/** A durable event on the cluster's event stream. */
export interface ClusterEvent {
  type: string;
  /** Actor, host or supervisor the event is about. */
  subject: string;
  time: number;
  data: Record<string, unknown>;
}

/** What the host agent reports the moment a child process exits. */
export interface ExitReport {
  actorId: string;
  pid: number;
  host: string;
  code: number | null;
  signal: string | null;
  /** Last lines of the child's stderr, to explain crashes. */
  stderrTail: string;
  time: number;
}

/** Heartbeat published by every actor process. */
export interface Heartbeat {
  actorId: string;
  pid: number;
  step: number;
  epoch: number;
  time: number;
}

/** What the supervisor asks a host agent to start. */
export interface SpawnRequest {
  actorId: string;
  /** Executable and arguments; `node` means the current Node binary. */
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
}

/**
 * Timeout hierarchy (milliseconds): heartbeat < suspect < kill < step.
 * heartbeat: how often actors beat; suspect: silence before "suspect"; kill: silence before the
 * process is killed and counted failed; step: longest a step may take. start: time to first beat.
 */
export interface Timeouts {
  heartbeatMs: number;
  suspectMs: number;
  killMs: number;
  stepMs: number;
  startMs: number;
}

export type RestartStrategy = "one_for_one" | "one_for_all" | "rest_for_one";

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** 0..1: the delay is multiplied by a uniform factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

/** OTP restart intensity: more than `maxRestarts` within `periodMs` → the supervisor gives up. */
export interface Intensity {
  maxRestarts: number;
  periodMs: number;
}

export interface ChildSpec {
  id: string;
  coords?: Coordinates;
  /** Host to run on; when absent the supervisor picks a registered host. */
  host?: string;
  argv: string[];
  env?: Record<string, string>;
  /** Working directory of the process (default: the host agent's). */
  cwd?: string;
}

export interface SupervisorSpec {
  id: string;
  strategy: RestartStrategy;
  intensity: Intensity;
  backoff: BackoffPolicy;
  timeouts: Timeouts;
  children: ChildSpec[];
}

/** What a parent decides when a child supervisor exceeds its restart intensity. */
export type EscalationDecision = "restart" | "stop";

export interface Escalation {
  /** The supervisor that escalates. */
  from: string;
  /** The child whose failure exceeded the intensity, and that failure. */
  child: string;
  last: DeathCause;
  /** For people: "restart intensity exceeded (…); last failure: <child> <cause>". */
  cause: string;
  time: number;
}

/** A parent of a supervisor: gets escalations, answers with a decision (recorded as an event). */
export interface EscalationHandler {
  readonly id: string;
  handleEscalation(escalation: Escalation): Promise<EscalationDecision>;
}
