// One loaded training rank between verbs: its lifecycle (through the served actor), its communicator and compute
// (both replaced by a recovery), the last step whose update it applied and the step or apply computing now. The
// verb groups (step-verbs.ts, recovery-verbs.ts, checkpoint-verbs.ts) share it and nothing else.
import type { Logger } from "../../runtime/logger.ts";
import type { ServedActor } from "../../runtime/served-actor.ts";
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";
import { WorkerProtocolError } from "./errors.ts";
import type { RankSetup, TokenizerRef } from "./load.ts";
import type { WorkerVerb } from "./protocol.ts";
import type { RankCompute } from "./rank-compute.ts";
import type { WorkerEvent, workerMachine, WorkerState } from "./worker-machine.ts";

export type ServedWorker = ServedActor<typeof workerMachine, WorkerVerb>;

export class Rank {
  /** Last step whose optimizer update this rank applied (a checkpoint's step after a resume). */
  appliedStep = 0;
  /** The step or apply computing now: recovery waits for it to settle before it rebuilds the compute. */
  inFlight: Promise<unknown> | undefined;
  /** How many times the rank took on another state (hold): a checkpoint copied before belongs to a state gone. */
  holds = 0;

  constructor(
    readonly served: ServedWorker,
    readonly setup: RankSetup,
    public world: CollectivesWorld,
    public compute: RankCompute,
    readonly tokenizer: TokenizerRef,
  ) {}

  get id(): string {
    return this.served.id;
  }

  get log(): Logger {
    return this.served.process.log;
  }

  get state(): string {
    return this.served.state;
  }

  matches(state: WorkerState): boolean {
    return this.served.lifecycle.getSnapshot().matches(state);
  }

  send(event: WorkerEvent): void {
    this.served.lifecycle.send(event);
  }

  /** The refusal of `what` in the lifecycle state the rank is in (`detail` follows the state). */
  refuse(what: string, detail = ""): WorkerProtocolError {
    return new WorkerProtocolError(`${this.id}: ${what} asked while ${this.state}${detail}`);
  }

  /** This rank now holds the state of `step` (resumed, restored or rolled back): the heartbeat reports it too. */
  hold(step: number): void {
    this.served.process.step = this.appliedStep = step;
    this.holds++;
  }
}
