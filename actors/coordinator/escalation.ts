// The worker supervisor exceeded its restart intensity (a worker keeps crashing) and escalates to the coordinator,
// its parent: the job stops rather than loop. Before the other workers are stopped they are halted and, when every
// (stage, tp rank) shard still has a live copy, they write a checkpoint of the last committed step; otherwise the
// newest existing checkpoint stands. The job fails with the cause and that checkpoint; `troupe train --resume`
// continues from it.
import { crashLineOf } from "../../runtime/death-cause.ts";
import type { Escalation, EscalationDecision } from "../../runtime/types.ts";
import { readManifest } from "../../ml/checkpoint/store.ts";
import type { TrainConfig } from "../../ml/train/config.ts";
import type { RankMember } from "../rank-members.ts";
import type { Checkpoints, ShardWriter } from "./checkpoints.ts";
import { JobEscalatedError } from "./errors.ts";
import { zeroChunks } from "./replicas.ts";
import { isEnding, type JobActor } from "./job-machine.ts";
import type { CommittedStep } from "./job-store.ts";
import type { FinalCheckpoint, Victim } from "./types.ts";
import type { Ask, WorkerGroup } from "./worker-group.ts";

export interface EscalationDeps {
  jobId: string;
  group: Pick<WorkerGroup, "members" | "timeouts">;
  job: JobActor;
  ask: Ask;
  victims: ReadonlyMap<string, Victim>;
  lastCommitted: () => CommittedStep | undefined;
  checkpoints: Pick<Checkpoints, "checkpoint" | "checkpointSharded">;
  /** Where checkpoints go; sharded when the job is model-parallel. */
  target?: { root: string; keep: number; config: TrainConfig };
  modelParallel: boolean;
  /** ZeRO-1 with dp > 2: moment shards per (stage, tp rank); each must have a live holder (its owner or the rank before). */
  zeroShards?: number;
  lastCheckpoint: () => Promise<string | undefined>;
  /** Ends the job with the escalation's outcome (final: nothing else may fail it meanwhile). */
  fail: (err: Error, final: true) => void;
}

const shardKey = (w: RankMember) => `${w.coords.pp}/${w.coords.tp}`;

export class EscalationPolicy {
  constructor(private readonly d: EscalationDeps) {}

  async handle(e: Escalation): Promise<EscalationDecision> {
    const { job } = this.d;
    const stopping = isEnding(job.getSnapshot());
    if (!stopping) job.send({ type: "ESCALATE" });
    let saved: FinalCheckpoint;
    try {
      if (stopping) saved = { note: "no checkpoint written: the job was stopping", written: false };
      else if (job.getSnapshot().matches({ escalating: "loading" }))
        saved = { note: "no checkpoint written: the job had not started training", written: false };
      else saved = await this.saveFinalCheckpoint();
    } catch (err) {
      const newest = await this.d.lastCheckpoint().catch(() => undefined);
      saved = {
        note: `the final checkpoint failed (${(err as Error).message}); ${newest ? `the newest existing checkpoint stands: ${newest}` : "no checkpoint exists"}`,
        dir: newest,
        written: false,
      };
    }
    const line = crashLineOf(e.last);
    this.d.fail(new JobEscalatedError(`job ${this.d.jobId} stopped: ${e.cause}${line ? ` (${line})` : ""}; ${saved.note}`, saved), true);
    return "stop";
  }

  /** Halts the live workers and saves the last committed step from them when they hold every shard. */
  private async saveFinalCheckpoint(): Promise<FinalCheckpoint> {
    const { group, victims } = this.d;
    // a checkpoint being written lands (or is dropped with its writer) first
    const newest = await this.d.lastCheckpoint().catch(() => undefined);
    const stands = (why: string): FinalCheckpoint =>
      newest
        ? { note: `${why}: the newest existing checkpoint stands, ${newest}`, dir: newest, step: readManifest(newest).step, written: false }
        : { note: `${why}, and no checkpoint exists`, written: false };
    const target = this.d.target;
    if (!target) return stands("this job has no checkpoint folder");
    const live = group.members.filter((w) => !victims.has(w.id));
    const writers = new Map<string, RankMember>();
    for (const w of live) if (!writers.has(shardKey(w))) writers.set(shardKey(w), w);
    const orphan = group.members.find((w) => !writers.has(shardKey(w)));
    if (orphan) return stands(`no live worker holds stage ${orphan.coords.pp}, tp rank ${orphan.coords.tp}`);
    const zero = this.zeroWriters(live);
    if (typeof zero === "string") return stands(zero);
    const shardWriters = zero ?? [...writers.values()].map((member) => ({ member }));
    const reports = await Promise.all(live.map((w) => this.d.ask(w, "halt", {}, { timeoutMs: group.timeouts.killMs })));
    const applied = [...new Set(reports.map((r) => r.applied))];
    if (applied.length > 1) return stands(`the live workers disagree on the last applied step (${applied.join(", ")})`);
    const committed = this.d.lastCommitted();
    if (!committed) return stands("no step was committed since the job started");
    if (applied[0] !== committed.step)
      return stands(`the live workers hold step ${applied[0]}, not the last committed step ${committed.step}`);
    if (newest && readManifest(newest).step === committed.step)
      return { note: `the checkpoint of step ${committed.step} stands: ${newest}`, dir: newest, step: committed.step, written: false };
    const req = {
      step: committed.step,
      tokensSeen: committed.tokensSeen,
      samplesSeen: committed.samplesSeen,
      root: target.root,
      keep: target.keep,
      metrics: (Number.isFinite(committed.loss) ? { loss: committed.loss } : {}) as Record<string, number>,
    };
    const { checkpoints } = this.d;
    const pending = this.d.modelParallel
      ? await checkpoints.checkpointSharded({ ...req, config: target.config }, shardWriters)
      : await checkpoints.checkpoint(req, [...writers.values()][0]);
    const dir = await pending.written;
    return { note: `stopped with a checkpoint of step ${committed.step}: ${dir}`, dir, step: committed.step, written: true };
  }

  /**
   * ZeRO-1 with dp > 2: who writes each moment shard of every (stage, tp rank), its owner or else the rank before it
   * (which keeps a copy); a shard with neither alive is the reason no checkpoint can be written.
   */
  private zeroWriters(live: readonly RankMember[]): ShardWriter[] | string | undefined {
    const chunks = this.d.zeroShards ? zeroChunks(this.d.group.members) : undefined;
    if (!chunks) return undefined;
    const n = chunks.of;
    const shards = new Map<RankMember, number[]>();
    for (const w of this.d.group.members) {
      const c = chunks.index(w);
      const holder = [c, (c + n - 1) % n]
        .map((k) => live.find((x) => chunks.index(x) === k && shardKey(x) === shardKey(w)))
        .find((x) => x !== undefined);
      if (!holder)
        return `no live worker holds ZeRO-1 shard ${c} of stage ${w.coords.pp}, tp rank ${w.coords.tp} (its owner and the rank before it are lost)`;
      shards.set(holder, [...(shards.get(holder) ?? []), c]);
    }
    return [...shards].map(([member, zeroShards]) => ({ member, zeroShards }));
  }
}
