// The step protocol between the coordinator and its workers (design: "A step, and recovery"), as zod
// schemas. Every message carries the job epoch; a worker rejects anything older than its own epoch.
import { z } from "zod";
import { checkName, type Namespace } from "../../runtime/namespace.ts";
import type { ShardDescription } from "../../ml/checkpoint/shard-files.ts";
import type { CollectiveTally } from "../../runtime/collectives/transport-counters.ts";

const epoch = z.number().int().min(0);
const step = z.number().int().min(1);

/** step(k): run this worker's micro-batches of global step k and reduce the gradients. */
export const stepRequestSchema = z.object({
  epoch,
  step,
  lr: z.number().positive(),
  /** Global index of this worker's first sequence and how many micro-batches it runs. */
  firstSample: z.number().int().min(0),
  microBatches: z.number().int().min(1),
  microBatch: z.number().int().min(1),
  /** Micro-batches of the whole step over all replicas: gradients are scaled by 1 / this. */
  totalMicroBatches: z.number().int().min(1),
});
export type StepRequest = z.infer<typeof stepRequestSchema>;

/** ready(k): what a worker reports once its gradients are reduced. */
export interface ReadyReport {
  step: number;
  epoch: number;
  /** Sum of this worker's micro-batch losses (the coordinator divides by the step's micro-batches). */
  lossSum: number;
  /** Sum of squared gradients this worker holds after the reduction (one shard's part of the norm). */
  gradNormSquared: number;
  /** Its own gradients or loss were NaN/inf before any reduction (absent: not measured; coordinator/nonfinite.ts). */
  nonFinite?: boolean;
  /** The step's wall time minus the time blocked in collectives, ms (absent: not measured; coordinator/stragglers.ts). */
  busyMs?: number;
  /**
   * Bytes its collectives sent and received and seconds it spent in collective calls since its previous report
   * (this step's reductions and the previous step's apply; absent: not measured; runtime/collectives/transport-counters.ts).
   */
  collective?: CollectiveTally;
  /** The same counts since the worker's process started (a reader that samples the steps sums nothing). */
  collectiveTotal?: CollectiveTally;
}

/** apply(k, clip): scale the gradients by the global clip factor and take the optimizer step. */
export const applyRequestSchema = z.object({
  epoch,
  step,
  lr: z.number().positive(),
  clipScale: z.number().positive().max(1),
  /** Some rank saw NaN/inf: drop the gradients, no optimizer step (the step still counts; coordinator/nonfinite.ts). */
  skip: z.boolean().optional(),
});
export type ApplyRequest = z.infer<typeof applyRequestSchema>;

export interface AppliedReport {
  step: number;
  epoch: number;
}

/** Saves this worker's parameters and optimizer state (dp rank 0 only, for now). */
export const checkpointRequestSchema = z.object({
  epoch,
  /** Committed step the checkpoint is of. */
  step: z.number().int().min(0),
  tokensSeen: z.number().int().min(0),
  samplesSeen: z.number().int().min(0),
  root: z.string().min(1),
  keep: z.number().int().min(1),
  metrics: z.record(z.string(), z.number()),
});
export type CheckpointRequest = z.infer<typeof checkpointRequestSchema>;

/** Writes this worker's shard of a sharded checkpoint (pp or tp > 1: dp rank 0 of every stage and tp rank). */
export const checkpointShardRequestSchema = z.object({
  epoch,
  step: z.number().int().min(0),
  /** The checkpoint's staging folder (ml/checkpoint prepareStagingDir); the coordinator commits it. */
  staging: z.string().min(1),
  /**
   * ZeRO-1 with dp > 2: the dp shards whose parameters and moments this worker writes (its own, and a lost
   * neighbour's from its backup copy when the job stops after an escalation); absent: the whole (stage, tp rank).
   */
  zeroShards: z.array(z.number().int().min(0)).min(1).optional(),
});
export type CheckpointShardRequest = z.infer<typeof checkpointShardRequestSchema>;

/** What a worker wrote (ml/checkpoint ShardDescription) and the tokenizer its data came from. */
export interface CheckpointShardReport {
  shard: ShardDescription;
  optimizerStepCount: number;
  layersPerStage: number[];
  tokenizer: { file: string; sha256?: string };
}

/** Validation loss on the fixed held-out micro-batches (asked of dp rank 0: replicas are identical). */
export const validateRequestSchema = z.object({
  epoch,
  step: z.number().int().min(0),
  batches: z.number().int().min(1),
  microBatch: z.number().int().min(1),
});
export type ValidateRequest = z.infer<typeof validateRequestSchema>;

const statusRequestSchema = z.object({ epoch });

export interface WorkerStatus {
  state: string;
  step: number;
  epoch: number;
  committed: number;
  rejected: number;
  /** The worker's process: a status from a process being replaced is told from its replacement's. */
  pid: number;
}

/**
 * recover: a worker of the job was lost and the epoch bumped. A survivor aborts the step in flight (finishing an
 * apply it has started), joins the communicator of the new epoch (the replacement joins it too) and answers.
 */
export const recoverRequestSchema = z.object({
  epoch,
  /**
   * An elastic data-parallel job (pp = tp = 1) whose replicas changed: the dp indices of the replicas the new
   * communicator holds, in order; a worker's communicator rank is its dp's index in it. Absent: every replica.
   */
  replicas: z.array(z.number().int().min(0)).min(1).optional(),
});
type RecoverRequest = z.infer<typeof recoverRequestSchema>;

export interface RecoverReport {
  /** Last step whose optimizer update this worker has applied (0 = none). */
  applied: number;
  optimizerStepCount: number;
}

/**
 * halt: the job is stopping after an escalation. A worker aborts the step in flight (finishing an apply it has
 * started) or a recovery it is in, and goes idle with its state of the last applied step, so it can be checkpointed.
 */
export const haltRequestSchema = z.object({ epoch });

/** sendState: send this worker's parameters, AdamW moments and step to world rank `to` over the data plane. */
export const sendStateRequestSchema = z.object({
  epoch,
  to: z.number().int().min(0),
  /** ZeRO-1 with dp > 2, where a replacement's two shards live on two peers: which moments to send (absent: all it holds). */
  zeroShards: z.array(z.number().int().min(0)).optional(),
  /** false: moments only (the second donor of a ZeRO-1 replacement). */
  params: z.boolean().optional(),
});
export type SendStateRequest = z.infer<typeof sendStateRequestSchema>;

/** restore: a replacement takes its state from world rank `from` (a DP peer holding the same shard). */
export const restoreRequestSchema = z.object({
  epoch,
  from: z.number().int().min(0),
  /**
   * ZeRO-1 with dp > 2: the moments of the replacement's shards come from two peers, `from` (with the parameters)
   * and these, each with the shards it sends; absent: everything from `from`.
   */
  parts: z
    .array(z.object({ from: z.number().int().min(0), zeroShards: z.array(z.number().int().min(0)), params: z.boolean() }))
    .min(1)
    .optional(),
});
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;

/** gatherShards: ZeRO-1 with dp > 2, after a recovery: every shard's parameters from its owner (a collective of all workers). */
export const gatherShardsRequestSchema = z.object({ epoch });

/**
 * reshard: an elastic ZeRO-1 job after a recovery or resize: every worker re-shards the moments (and the parameters)
 * over the live replicas, a collective of all of them; `fresh`: this worker holds no moments yet (a replacement).
 */
export const reshardRequestSchema = z.object({ epoch, fresh: z.boolean() });

/** loadCheckpoint: no live peer holds a lost shard; every worker rolls back to this checkpoint (any layout). */
export const loadCheckpointRequestSchema = z.object({ epoch, dir: z.string().min(1) });
export type LoadCheckpointRequest = z.infer<typeof loadCheckpointRequestSchema>;

/** Where a restored worker got its state and how long it took. */
export interface RestoreReport {
  actorId: string;
  source: "peer" | "checkpoint";
  /** The peer's actor id, or the checkpoint folder. */
  from: string;
  /** Step of the state it now holds (its last applied step). */
  step: number;
  seconds: number;
}

/** checkpoint: the first request for a step copies the state ({ written: false }); a repeated one answers once it is whole. */
interface CheckpointReply {
  dir: string;
  written: boolean;
}

/** checkpointShard: the first request for a step copies the shard; a repeated one answers its report once it is written. */
type CheckpointShardReply = CheckpointShardReport | { step: number; copied: true };

interface ValidateReply {
  loss: number;
}

/** sendState: the bytes sent to the replacement. */
interface SendStateReply {
  sent: number;
}

interface DrainReply {
  state: string;
}

/** halt answers as recover does: the last applied step and the optimizer's step count. */
type HaltReport = RecoverReport;

type Exchange<Req, Reply> = { req: Omit<Req, "epoch">; reply: Reply };

/** Every verb with what the coordinator sends (the group adds the epoch) and what the worker answers. */
export interface WorkerProtocol {
  step: Exchange<StepRequest, ReadyReport>;
  apply: Exchange<ApplyRequest, AppliedReport>;
  checkpoint: Exchange<CheckpointRequest, CheckpointReply>;
  checkpointShard: Exchange<CheckpointShardRequest, CheckpointShardReply>;
  status: Exchange<z.infer<typeof statusRequestSchema>, WorkerStatus>;
  drain: Exchange<z.infer<typeof statusRequestSchema>, DrainReply>;
  validate: Exchange<ValidateRequest, ValidateReply>;
  recover: Exchange<RecoverRequest, RecoverReport>;
  sendState: Exchange<SendStateRequest, SendStateReply>;
  restore: Exchange<RestoreRequest, RestoreReport>;
  loadCheckpoint: Exchange<LoadCheckpointRequest, RestoreReport>;
  halt: Exchange<z.infer<typeof haltRequestSchema>, HaltReport>;
  gatherShards: Exchange<z.infer<typeof gatherShardsRequestSchema>, { gathered: boolean }>;
  reshard: Exchange<z.infer<typeof reshardRequestSchema>, { resharded: boolean }>;
}

export type WorkerVerb = keyof WorkerProtocol;

/** troupe.<cluster>.worker.<actor>.<verb> */
export function workerSubject(ns: Namespace, actorId: string, verb: WorkerVerb): string {
  return `troupe.${ns.clusterId}.worker.${checkName("actor id", actorId)}.${verb}`;
}
