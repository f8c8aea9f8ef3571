// Checkpoints of a running job, written in the background. A data-parallel job's dp rank 0 writes the whole
// checkpoint; with pp or tp > 1, dp rank 0 of every (stage, tp rank) writes its shard into a staging folder and the
// manifest is written here once every shard is on disk. Each resolves once the state is copied (the job may step
// on); `written` resolves with the folder once the checkpoint is whole and `latest`. With ZeRO-1 at dp > 2 every
// worker writes: dp rank r the parameters and moments of shard r of its (stage, tp rank), so each writes 1/dp.
import path from "node:path";
import type { PendingCheckpoint } from "../../ml/checkpoint/async-save.ts";
import { buildManifest, checkpointInfo, commitCheckpoint, prepareStagingDir, runTokenizer, stepDirName } from "../../ml/checkpoint/mod.ts";
import type { RankLayout } from "../../ml/parallel/ranks.ts";
import { zeroShardsOf, type TrainConfig } from "../../ml/train/config.ts";
import type { RankMember } from "../rank-members.ts";
import type { CheckpointShardReport } from "../worker/protocol.ts";
import { JobFailedError } from "./errors.ts";
import { zeroChunks } from "./replicas.ts";
import type { JobActor } from "./job-machine.ts";
import type { Ask, WorkerGroup } from "./worker-group.ts";

export interface CheckpointRequest {
  step: number;
  tokensSeen: number;
  samplesSeen: number;
  root: string;
  keep: number;
  metrics: Record<string, number>;
}

export interface CheckpointsDeps {
  group: Pick<WorkerGroup, "members" | "failed">;
  job: JobActor;
  ask: Ask;
  layout?: RankLayout;
  /** ZeRO-1 with dp > 2: moment shards per (stage, tp rank) (CoordinatorOptions.zeroShards). */
  zeroShards?: number;
}

/** A worker asked for its part of a sharded checkpoint: its (stage, tp rank) whole, or these ZeRO-1 shards of it. */
export interface ShardWriter {
  member: RankMember;
  zeroShards?: number[];
}

export class Checkpoints {
  constructor(private readonly d: CheckpointsDeps) {}

  /** dp rank 0 (or `writer`) copies the state of the last committed step and writes the checkpoint in the background. */
  async checkpoint(req: CheckpointRequest, writer: RankMember = this.d.group.members[0]!): Promise<PendingCheckpoint> {
    const { dir } = await this.copying(this.d.ask(writer, "checkpoint", req));
    // a repeated request for the same step answers once the write is done
    const written = this.d.ask(writer, "checkpoint", req).then((r) => r.dir);
    written.catch(() => undefined); // the caller awaits it before the next checkpoint and at the end
    return { step: req.step, dir, written };
  }

  /**
   * pp or tp > 1: dp rank 0 of every (stage, tp rank) (or `writers`) copies its shard and writes it into the staging
   * folder; a repeated checkpointShard request answers once the shard is written. Only then is the manifest written,
   * here, and the checkpoint made `latest`.
   */
  async checkpointSharded(req: CheckpointRequest & { config: TrainConfig }, writers = this.shardWriters()): Promise<PendingCheckpoint> {
    const layout = this.d.layout;
    if (!layout) throw new JobFailedError("sharded checkpoints need a job with pp or tp > 1");
    const staging = prepareStagingDir(req.root, req.step);
    const askAll = () =>
      Promise.race([
        Promise.all(
          writers.map(({ member, zeroShards }) =>
            this.d.ask(member, "checkpointShard", { step: req.step, staging, ...(zeroShards ? { zeroShards } : {}) }),
          ),
        ),
        this.d.group.failed,
      ]);
    await this.copying(askAll()); // every shard is copied
    const written = (async () => {
      const reports = (await askAll()).map((r): CheckpointShardReport => {
        if (!("shard" in r))
          throw new JobFailedError(`checkpoint of step ${req.step}: a worker answered the repeated request with a copy, not a shard`);
        return r;
      });
      const disagree = reports.find((r) => r.optimizerStepCount !== reports[0]!.optimizerStepCount);
      if (disagree)
        throw new JobFailedError(
          `checkpoint of step ${req.step}: workers disagree on the optimizer step count (${disagree.optimizerStepCount} and ${reports[0]!.optimizerStepCount})`,
        );
      const info = checkpointInfo({
        progress: req,
        config: req.config,
        tokenizer: runTokenizer(req.root, reports[0]!.tokenizer),
        ...(req.metrics ? { metrics: req.metrics } : {}),
        optimizerStepCount: reports[0]!.optimizerStepCount,
      });
      const { dp, pp, tp } = layout.sizes;
      const manifest = buildManifest(
        info,
        { dp, pp, tp, layersPerStage: reports[0]!.layersPerStage },
        reports.map((r) => r.shard),
      );
      return commitCheckpoint(req.root, manifest, req.step, { keep: req.keep });
    })();
    written.catch(() => undefined); // the caller awaits it before the next checkpoint and at the end
    return { step: req.step, dir: path.join(req.root, stepDirName(req.step)), written };
  }

  /** dp rank 0 of every (stage, tp rank); with ZeRO-1 at dp > 2 every worker, for its own shard. */
  private shardWriters(): ShardWriter[] {
    const { members } = this.d.group;
    const chunks = this.d.zeroShards ? zeroChunks(members) : undefined;
    if (chunks) return members.map((member) => ({ member, zeroShards: [chunks.index(member)] }));
    const first = Math.min(...members.map((w) => w.coords.dp));
    return members.filter((w) => w.coords.dp === first).map((member) => ({ member }));
  }

  /** The job is checkpointing while the state is copied (a lost worker moves it on to recovering). */
  private async copying<T>(copy: Promise<T>): Promise<T> {
    this.d.job.send({ type: "CHECKPOINT" });
    try {
      return await copy;
    } finally {
      this.d.job.send({ type: "CHECKPOINTED" });
    }
  }
}

/** Checkpoints written in pieces by several workers: pp or tp > 1, or ZeRO-1 with dp > 2. */
export function shardedCheckpoints(config: TrainConfig): boolean {
  const { pp, tp } = config.parallel;
  return pp * tp > 1 || zeroShardsOf(config) !== undefined;
}
