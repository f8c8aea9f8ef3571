// The checkpoint verbs of a training rank. `checkpoint`: dp rank 0 of a data-parallel job writes the whole
// checkpoint; `checkpointShard`: with pp or tp > 1, dp rank 0 of every (stage, TP rank) writes its shard into the
// staging folder the coordinator commits. Both are asked twice per checkpoint: the first request copies the
// tensors (the worker may step on while a background thread writes them), a repeated one for the same step
// answers once the files are written. Drain waits for the write in flight (close).
import { runTokenizer } from "../../ml/checkpoint/run-tokenizer.ts";
import path from "node:path";
import { CheckpointWriter } from "../../ml/checkpoint/async-save.ts";
import { stepDirName } from "../../ml/checkpoint/store.ts";
import {
  checkpointRequestSchema,
  checkpointShardRequestSchema,
  type CheckpointRequest,
  type CheckpointShardReport,
  type CheckpointShardRequest,
} from "./protocol.ts";
import type { Rank, ServedWorker } from "./rank.ts";

export class CheckpointVerbs {
  /** Background writes (at most one in flight). */
  private readonly writer = new CheckpointWriter();
  /**
   * The last whole checkpoint or shard asked for: what the repeated request for its step answers once written. A
   * rank rolled back since (`holds` moved on) replays the step and is asked afresh: the old copy's staging folder is
   * gone, emptied for the new attempt.
   */
  private whole: { step: number; holds: number; dir: Promise<string> } | undefined;
  private shard: { step: number; holds: number; report: Promise<CheckpointShardReport> } | undefined;

  constructor(private readonly rank: Rank) {}

  serve(served: ServedWorker): void {
    served.serveVerb("checkpoint", checkpointRequestSchema, (r) => this.checkpoint(r));
    served.serveVerb("checkpointShard", checkpointShardRequestSchema, (r) => this.checkpointShard(r));
  }

  /** Waits for the write in flight (a graceful stop never leaves a half-written checkpoint) and ends the writer. */
  close(): Promise<void> {
    return this.writer.close();
  }

  /** First request: { dir, written: false } once copied; repeated: { dir, written: true } once whole and `latest`. */
  private async checkpoint(r: CheckpointRequest): Promise<{ dir: string; written: boolean }> {
    if (this.whole?.step === r.step && this.whole.holds === this.rank.holds) return { dir: await this.whole.dir, written: true };
    const rank = this.rank;
    if (!rank.matches("idle")) throw rank.refuse("checkpoint");
    const source = { progress: r, config: rank.setup.job.config, tokenizer: runTokenizer(r.root, rank.tokenizer), metrics: r.metrics };
    rank.send({ type: "CHECKPOINT" });
    try {
      const pending = await rank.compute.saveCheckpoint(this.writer, r.root, source, r.keep);
      this.whole = { step: r.step, holds: rank.holds, dir: pending.written };
      return { dir: path.join(r.root, stepDirName(r.step)), written: false };
    } finally {
      rank.send({ type: "CHECKPOINTED" });
    }
  }

  /** First request: { step, copied: true } once copied; repeated: the shard's report once its files are written. */
  private async checkpointShard(r: CheckpointShardRequest): Promise<CheckpointShardReport | { step: number; copied: true }> {
    if (this.shard?.step === r.step && this.shard.holds === this.rank.holds) return this.shard.report;
    const rank = this.rank;
    if (!rank.matches("idle")) throw rank.refuse("checkpoint shard");
    rank.send({ type: "CHECKPOINT" });
    try {
      const save = await rank.compute.saveShard(this.writer, r.staging, r.step, r.zeroShards);
      const extra = { optimizerStepCount: save.optimizerStepCount, layersPerStage: save.layersPerStage, tokenizer: rank.tokenizer };
      const report = save.written.then((shard): CheckpointShardReport => ({ shard, ...extra }));
      report.catch(() => undefined); // the coordinator's repeated request reports it
      this.shard = { step: r.step, holds: rank.holds, report };
      return { step: r.step, copied: true };
    } finally {
      rank.send({ type: "CHECKPOINTED" });
    }
  }
}
