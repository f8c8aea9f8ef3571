// Plain types shared by the coordinator's parts.
import type { EventLog } from "../../runtime/event-log.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../../runtime/logger.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import type { Registry } from "../../runtime/registry.ts";
import type { Timeouts } from "../../runtime/types.ts";
import type { TrainConfig } from "../../ml/train/config.ts";
import type { RankLayout } from "../../ml/parallel/ranks.ts";
import type { Resize } from "./job-machine.ts";
import type { StepHealthOptions } from "./step-health.ts";

export type { FinalCheckpoint, RollBack } from "./errors.ts";

export interface CoordinatorDeps {
  nc: NatsConnection;
  ns: Namespace;
  registry: Registry;
  events: EventLog;
  logger: Logger;
}

export interface CoordinatorOptions {
  jobId: string;
  /** job.json written by the caller (actors/worker/job-spec.ts). */
  jobFile: string;
  dp: number;
  /** The job's rank layout when pp or tp > 1 or zeroShards (ml/parallel/ranks.ts); absent = dp workers. */
  layout?: RankLayout;
  /**
   * ZeRO-1 with dp > 2 (ml/optim/zero-adamw.ts): the moments are cut into this many shards per (stage, tp rank);
   * dp rank r holds shard r and a copy of shard r + 1. Checkpoints are written by every worker, one shard each, and
   * a replacement takes its state from its two neighbours.
   */
  zeroShards?: number;
  /**
   * An elastic ZeRO-1 job (zeroShards set): a replacement or a new replica takes the parameters from one peer, then
   * every worker re-shards the moments over the live replicas (the `reshard` verb), whatever their number.
   */
  zeroReshards?: boolean;
  /** The host of each rank (worker-hosts.ts); absent = the supervisor picks the least loaded host. */
  hosts?: readonly string[];
  microBatch: number;
  clip: number;
  timeouts?: Partial<Timeouts>;
  /** How long every worker has to reach idle (boot, join, load). */
  /** The epoch the workers start in (default 1); a coordinator taking a job over goes on from the workers' newest. */
  epoch?: number;
  loadTimeoutMs?: number;
  /** NaN/inf repeat window and straggler thresholds (step-health.ts; defaults: 10 steps, 1.5× median for 5 steps). */
  health?: Omit<StepHealthOptions, "jobId">;
  /** Worker restarts allowed per period before the job escalates and stops (default 3 in 60 s). */
  intensity?: { maxRestarts: number; periodMs: number };
  /** Where checkpoints go: an escalated job writes its final checkpoint there. */
  checkpoints?: { root: string; keep: number; config: TrainConfig };
  /** Delay before a lost worker is restarted (default 20 ms, doubling to 500 ms). */
  backoff?: { initialMs: number; maxMs: number; jitter: number };
  /** The newest checkpoint written whole (the runner's): where to roll back when no DP peer holds a lost shard. */
  lastCheckpoint?: () => Promise<string | undefined>;
  /** Called after each recovery (progress output, benchmarks). */
  onRecovery?: (r: RecoveryRecord) => void;
  /** Elastic data parallelism (the config's `elastic` section, pp = tp = 1): absent = every lost worker is replaced. */
  elastic?: ElasticOptions;
  /** Called when an elastic job shrinks or grows. */
  onResize?: (r: Resize) => void;
  /** A worker was lost while the job loaded: every worker loads again in `epoch` (loading.ts). */
  onReload?: (r: { worker: string; cause: string; epoch: number }) => void;
  /** An operator asked the job to stop (`troupe stop`): the driver finishes the step and saves; returns the last committed step. */
  onStopRequested?: (reason: string) => number;
}

/** The config's `elastic` section in the coordinator's units. */
export interface ElasticOptions {
  minDp: number;
  replaceTimeoutMs: number;
}

export interface StepPlan {
  step: number;
  lr: number;
  batchSize: number;
  firstSample: number;
  tokensAfter: number;
}

/** One recovered worker: where its state came from and how long it took. */
export interface RecoveryRecord {
  jobId: string;
  actorId: string;
  cause: string;
  /** Epoch of the communicator the job runs in after the recovery. */
  epoch: number;
  /** The step in flight when the worker was lost. */
  step: number;
  /** false when every worker had applied `step` (it is committed without running again). */
  rerun: boolean;
  source: "peer" | "checkpoint";
  /** The peer's actor id or the checkpoint folder. */
  from: string;
  /** Time the state transfer took. */
  restoreSeconds: number;
  /** From the failure's detection to the job ready to step again. */
  seconds: number;
  detectedAt: number;
}

/** A worker lost since the last recovery: the cause in words and when it was seen. */
export interface Victim {
  cause: string;
  at: number;
  /** A worker added by an elastic grow, not lost: it gets the whole load timeout, and is never dropped. */
  joining?: true;
}
