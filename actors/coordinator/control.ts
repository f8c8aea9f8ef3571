// Operator control of a running job: the coordinator serves `troupe.<cluster>.job.<jobId>.control`.
// {describe} answers the job's layout and worker ids; {restart: {actors?, stage?, replica?}, reason} resolves the
// targets from the layout (resolveRestartTargets, pure) and asks the coordinator for a live graceful restart;
// {stop: {reason}} asks the job to finish its step, save a checkpoint and end (`troupe stop`); {scale: {dp, reason}}
// asks an elastic job that shrank for dp replicas again (`troupe scale`), answered once they step.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { checkName, type Namespace } from "../../runtime/namespace.ts";
import { parseWith, serve, type Rejection } from "../../runtime/rpc.ts";
import type { RankMember } from "../rank-members.ts";
import { InvalidTargetError } from "./errors.ts";
import type { Resize } from "./job-machine.ts";
import type { RecoveryRecord } from "./types.ts";

/** What the control subject needs of the coordinator. */
export interface JobControlTarget {
  readonly jobId: string;
  readonly workers: readonly RankMember[];
  restartWorkers(ids: string[], reason: string): Promise<RecoveryRecord[]>;
  /** Asks the job to stop with a checkpoint; answers the last committed step. Absent: the job cannot be stopped so. */
  requestStop?(reason: string): { step: number };
  /** An elastic job: `dp` replicas from the next step boundary (elastic-grow.ts); resolves once they step. */
  scale?(dp: number, reason: string): Promise<Resize>;
}

export interface RestartSelector {
  actors?: string[];
  /** Pipeline stage p: every replica's and tensor shard's worker of that stage. */
  stage?: number;
  /** Data-parallel replica d: every worker of that replica. */
  replica?: number;
}

interface JobWorker {
  id: string;
  replica: number;
  stage: number;
  shard: number;
  rank: number;
}

export interface JobDescription {
  jobId: string;
  sizes: { dp: number; pp: number; tp: number };
  workers: JobWorker[];
}

const controlRequestSchema = z.union([
  z.object({ describe: z.literal(true) }),
  z.object({
    restart: z.object({
      actors: z.array(z.string().min(1)).min(1).optional(),
      stage: z.number().int().optional(),
      replica: z.number().int().optional(),
    }),
    reason: z.string().min(1),
  }),
  z.object({ stop: z.object({ reason: z.string().min(1) }) }),
  z.object({ scale: z.object({ dp: z.number(), reason: z.string().min(1) }) }),
]);
type ControlRequest = z.output<typeof controlRequestSchema>;

export function jobControlSubject(ns: Namespace, jobId: string): string {
  return `troupe.${ns.clusterId}.job.${checkName("job id", jobId)}.control`;
}

export function describeJob(jobId: string, workers: readonly RankMember[]): JobDescription {
  const ws = workers.map((w) => ({ id: w.id, replica: w.coords.dp, stage: w.coords.pp, shard: w.coords.tp, rank: w.coords.rank }));
  const size = (k: "replica" | "stage" | "shard") => Math.max(0, ...ws.map((w) => w[k])) + 1;
  return { jobId, sizes: { dp: size("replica"), pp: size("stage"), tp: size("shard") }, workers: ws };
}

function checkIndex(kind: "stage" | "replica", value: number, size: number, jobId: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= size) {
    const axis = kind === "stage" ? "pp" : "dp";
    throw new InvalidTargetError(
      `${kind} ${value} is out of range for job ${jobId}: valid ${kind}s are 0..${size - 1} (${axis} = ${size})`,
    );
  }
}

/**
 * The worker ids a selector names, in rank order. Selectors combine as an intersection of stage and replica,
 * plus any actors named. Worked example, dp 2 · pp 2 · tp 2 (Megatron order, rank = t + 2d + 4p):
 *   {stage: 1}             → w4 w5 w6 w7
 *   {replica: 0}           → w0 w1 w4 w5
 *   {stage: 1, replica: 0} → w4 w5
 */
export function resolveRestartTargets(job: JobDescription, sel: RestartSelector): string[] {
  const { stage, replica, actors } = sel;
  if (stage === undefined && replica === undefined && (!actors || actors.length === 0)) {
    throw new InvalidTargetError("name what to restart: actors, a stage or a replica");
  }
  if (stage !== undefined) checkIndex("stage", stage, job.sizes.pp, job.jobId);
  if (replica !== undefined) checkIndex("replica", replica, job.sizes.dp, job.jobId);
  const chosen = new Set<string>();
  for (const a of actors ?? []) {
    if (!job.workers.some((w) => w.id === a)) {
      throw new InvalidTargetError(`job ${job.jobId} has no worker '${a}' (workers: ${job.workers.map((w) => w.id).join(", ")})`);
    }
    chosen.add(a);
  }
  if (stage !== undefined || replica !== undefined) {
    for (const w of job.workers) {
      if ((stage === undefined || w.stage === stage) && (replica === undefined || w.replica === replica)) chosen.add(w.id);
    }
  }
  return job.workers.filter((w) => chosen.has(w.id)).map((w) => w.id);
}

export interface RestartReply {
  restarted: string[];
  records: RecoveryRecord[];
}

/** Serves the job's control subject until the subscription is unsubscribed (when the job ends). */
export function serveJobControl(
  nc: NatsConnection,
  ns: Namespace,
  target: JobControlTarget,
  onReject?: (e: Rejection, subject: string) => void,
): Subscription {
  return serve<ControlRequest>(nc, {
    subject: jobControlSubject(ns, target.jobId),
    parse: parseWith(controlRequestSchema),
    onReject,
    handle: async (req: ControlRequest): Promise<JobDescription | RestartReply | Resize | { step: number }> => {
      const job = describeJob(target.jobId, target.workers);
      if ("describe" in req) return job;
      if ("scale" in req) {
        if (!target.scale) throw new InvalidTargetError(`job ${target.jobId} cannot scale`);
        return target.scale(req.scale.dp, req.scale.reason);
      }
      if ("stop" in req) {
        if (!target.requestStop)
          throw new InvalidTargetError(`job ${target.jobId} is driven by a process that stops with it (Ctrl-C there)`);
        return target.requestStop(req.stop.reason);
      }
      const ids = resolveRestartTargets(job, req.restart);
      const records = await target.restartWorkers(ids, req.reason);
      return { restarted: ids, records };
    },
  });
}
