// A training worker: one rank of a job, as a supervised actor process. It boots (NATS, heartbeats),
// joins (collectives rendezvous through NATS KV), loads (data, model from the job seed, optimizer),
// then serves the step protocol: step(k) → ready(k), apply(k, clip) → applied(k), checkpoint.
// Its lifecycle (runtime/machines/worker.ts) is written to KV and the event stream at every transition.
import { randomUUID } from "node:crypto";
import type { Subscription } from "@nats-io/transport-node";
import { createActor, type Actor } from "xstate";
import type { z } from "zod";
import { ActorProcess, type ActorEnvironment } from "../../runtime/actor-process.ts";
import { createCpuCollectives } from "../../runtime/collectives/tcp-collectives.ts";
import { KvRendezvous } from "../../runtime/collectives/kv-rendezvous.ts";
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { LifecycleStore, recordLifecycle, type RecorderHandle } from "../../runtime/lifecycle-recorder.ts";
import { workerMachine } from "../../runtime/machines/worker.ts";
import { decodeFenced } from "../../runtime/messages.ts";
import { serve, type Rejection } from "../../runtime/rpc.ts";
import { copyTensorsInto, loadCheckpoint, saveCheckpoint, sha256File } from "../checkpoint/store.ts";
import type { TrainBackends } from "../train/backends.ts";
import { groupsForRank } from "../../runtime/collectives/layout-groups.ts";
import { parseAxisOrder, rankLayout } from "../parallel/ranks.ts";
import { DataParallelCompute } from "./data-parallel-compute.ts";
import { StageParallelCompute } from "./stage-parallel-compute.ts";
import type { JobSpec } from "./job-spec.ts";
import {
  applyRequestSchema,
  checkpointRequestSchema,
  checkpointShardRequestSchema,
  statusRequestSchema,
  stepRequestSchema,
  validateRequestSchema,
  workerSubject,
  type AppliedReport,
  type ApplyRequest,
  type CheckpointRequest,
  type CheckpointShardReport,
  type CheckpointShardRequest,
  type ReadyReport,
  type StepRequest,
  type ValidateRequest,
  type WorkerStatus,
  type WorkerVerb,
} from "./protocol.ts";
import type { RankCompute } from "./rank-compute.ts";

export class WorkerProtocolError extends Error {
  override name = "WorkerProtocolError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class Worker {
  readonly actor: ActorProcess;
  private readonly lifecycle: Actor<typeof workerMachine>;
  private recorder: RecorderHandle | undefined;
  private events: EventLog | undefined;
  private world: CollectivesWorld | undefined;
  private compute: RankCompute | undefined;
  private tokenizer: { file: string; sha256?: string } = { file: "none" };
  private readonly subs: Subscription[] = [];
  private rejected = 0;

  constructor(
    env: ActorEnvironment,
    private readonly job: JobSpec,
    private readonly backends: TrainBackends,
  ) {
    this.actor = new ActorProcess(env);
    this.lifecycle = createActor(workerMachine);
  }

  private get id(): string {
    return this.actor.env.actorId;
  }

  /** World rank (coordinates { d, p, t, rank } from the coordinator; d alone for data parallel). */
  private get rank(): number {
    return this.actor.env.coords.rank ?? this.actor.env.coords.d ?? 0;
  }

  get state(): string {
    return String(this.lifecycle.getSnapshot().value);
  }

  async start(): Promise<void> {
    this.lifecycle.start();
    await this.actor.start();
    const nc = this.actor.connection;
    this.events = await EventLog.open(nc, this.actor.ns);
    this.recorder = await recordLifecycle(this.lifecycle, {
      kind: "worker",
      id: this.id,
      store: await LifecycleStore.open(nc, this.actor.ns),
      events: this.events,
      onError: (err) => this.actor.log.warn({ err }, "lifecycle write failed"),
    });
    this.serveVerb("status", statusRequestSchema, () => this.status());
    this.serveVerb("drain", statusRequestSchema, () => this.drain());
    this.lifecycle.send({ type: "BOOTED" });

    const session = `${this.job.session}-e${this.actor.epoch}`;
    const rendezvous = await KvRendezvous.open(nc, session);
    const { dp, pp, tp, order } = this.job.config.parallel;
    const layout = order ? rankLayout({ dp, pp, tp }, parseAxisOrder(order)) : rankLayout({ dp, pp, tp });
    this.world = await createCpuCollectives({ rank: this.rank, worldSize: layout.worldSize, session, rendezvous, connectTimeoutMs: this.job.rendezvousTimeoutMs });
    this.lifecycle.send({ type: "JOINED", epoch: this.actor.epoch });

    const c = this.job.config;
    this.backends.setThreads?.(c.threads);
    const corpus = await this.backends.prepareCorpus(c);
    this.tokenizer = { file: corpus.tokenizerFile, sha256: sha256OrUndefined(corpus.tokenizerFile) };
    const gpt = { ...c.model, vocabSize: c.data.vocabSize };
    if (pp * tp > 1) {
      const microBatches = c.batch.size / c.batch.microBatch / dp;
      const stage = await StageParallelCompute.create({ model: gpt, config: c, layout, rank: this.rank, groups: groupsForRank(this.world, layout), microBatches, data: corpus.data });
      if (this.job.resumeFrom) this.actor.step = stage.loadShard(this.job.resumeFrom).step;
      this.compute = stage;
      this.serveVerb("checkpointShard", checkpointShardRequestSchema, (r) => this.checkpointShard(stage, r));
      return this.serveSteps();
    }
    const model = await this.backends.createModel(gpt, c.seed);
    const optimizer = this.backends.createOptimizer(model, c.optimizer);
    if (this.job.resumeFrom) {
      const ckpt = loadCheckpoint(this.job.resumeFrom);
      copyTensorsInto(model.parameters(), ckpt.params, `checkpoint ${this.job.resumeFrom} (model)`);
      copyTensorsInto(optimizer.state(), ckpt.optimizerState, `checkpoint ${this.job.resumeFrom} (optimizer)`);
      optimizer.stepCount = ckpt.manifest.optimizer.stepCount;
      this.actor.step = ckpt.manifest.step;
    }
    this.compute = new DataParallelCompute(model, optimizer, corpus.data, this.world);
    this.serveSteps();
  }

  private serveSteps(): void {
    this.serveVerb("step", stepRequestSchema, (r) => this.step(r));
    this.serveVerb("apply", applyRequestSchema, (r) => this.apply(r));
    this.serveVerb("checkpoint", checkpointRequestSchema, (r) => this.checkpoint(r));
    this.serveVerb("validate", validateRequestSchema, (r) => this.validate(r));
    this.lifecycle.send({ type: "LOADED" });
    this.actor.log.info({ rank: this.rank, coords: this.actor.env.coords, epoch: this.actor.epoch }, "worker loaded");
  }

  private serveVerb<S extends z.ZodType<{ epoch: number }>>(verb: WorkerVerb, schema: S, handle: (msg: z.output<S>) => unknown): void {
    this.subs.push(
      serve(this.actor.connection, {
        subject: workerSubject(this.actor.ns, this.id, verb),
        parse: (bytes) => decodeFenced(bytes, schema, this.actor.epoch),
        handle: (msg) => {
          // a newer epoch means membership changed: from now on older messages are zombies
          if (msg.epoch > this.actor.epoch) this.actor.epoch = msg.epoch;
          return handle(msg);
        },
        onReject: (err, subject) => this.reject(err, subject),
      }),
    );
  }

  private reject(err: Rejection, subject: string): void {
    this.rejected++;
    this.actor.log.warn({ kind: err.name, reason: err.message, subject }, "message rejected");
    void this.events
      ?.publish({ type: "message.rejected", subject: this.id, time: Date.now(), data: { kind: err.name, reason: err.message, on: subject } }, randomUUID())
      .catch(() => undefined);
  }

  private status(): WorkerStatus {
    const ctx = this.lifecycle.getSnapshot().context;
    return { state: this.state, step: ctx.step, epoch: this.actor.epoch, committed: ctx.committed, rejected: this.rejected };
  }

  private async step(r: StepRequest): Promise<ReadyReport> {
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: step ${r.step} asked while ${this.state}`);
    this.lifecycle.send({ type: "STEP", step: r.step, epoch: r.epoch });
    this.actor.step = r.step;
    try {
      const out = await this.compute!.runStep(r);
      this.lifecycle.send({ type: "READY" });
      return { step: r.step, epoch: this.actor.epoch, lossSum: out.lossSum, gradNormSquared: out.gradNormSquared };
    } catch (err) {
      this.lifecycle.send({ type: "ABORT" });
      throw err;
    }
  }

  private async apply(r: ApplyRequest): Promise<AppliedReport> {
    const ctx = this.lifecycle.getSnapshot().context;
    if (this.state !== "stepping" || ctx.step !== r.step) {
      throw new WorkerProtocolError(`${this.id}: apply(${r.step}) asked while ${this.state} at step ${ctx.step}`);
    }
    this.lifecycle.send({ type: "APPLY" });
    try {
      await this.compute!.apply(r.lr, r.clipScale);
    } catch (err) {
      this.lifecycle.send({ type: "ABORT" });
      throw err;
    }
    this.lifecycle.send({ type: "APPLIED" });
    return { step: r.step, epoch: this.actor.epoch };
  }

  private async validate(r: ValidateRequest): Promise<{ loss: number }> {
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: validation asked while ${this.state}`);
    return { loss: await this.compute!.validationLoss(r.batches, r.microBatch, r.step) };
  }

  private checkpointShard(stage: StageParallelCompute, r: CheckpointShardRequest): CheckpointShardReport {
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: checkpoint shard asked while ${this.state}`);
    this.lifecycle.send({ type: "CHECKPOINT" });
    try {
      return { shard: stage.writeShard(r.staging, r.step), optimizerStepCount: stage.optimizerStepCount, layersPerStage: [...stage.shardLayout.layersPerStage], tokenizer: this.tokenizer };
    } finally {
      this.lifecycle.send({ type: "CHECKPOINTED" });
    }
  }

  private checkpoint(r: CheckpointRequest): { dir: string } {
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: checkpoint asked while ${this.state}`);
    const c = this.job.config;
    const compute = this.compute!;
    if (compute instanceof StageParallelCompute) throw new WorkerProtocolError(`${this.id}: holds one shard of the model (pp or tp > 1): ask for checkpointShard`);
    this.lifecycle.send({ type: "CHECKPOINT" });
    try {
      const dir = saveCheckpoint(
        r.root,
        {
          step: r.step,
          tokensSeen: r.tokensSeen,
          samplesSeen: r.samplesSeen,
          seed: c.seed,
          data: { tokenizerFile: this.tokenizer.file, tokenizerSha256: this.tokenizer.sha256, seed: c.data.seed, nextSample: r.samplesSeen },
          config: c,
          metrics: r.metrics,
          params: compute.parameters(),
          optimizerState: compute.optimizerState(),
          optimizerStepCount: compute.optimizerStepCount,
        },
        { keep: r.keep },
      );
      return { dir };
    } finally {
      this.lifecycle.send({ type: "CHECKPOINTED" });
    }
  }

  /** Stops serving steps and closes the collectives; the lifecycle ends in "stopped". */
  async drain(): Promise<{ state: string }> {
    if (this.state === "stopped") return { state: this.state };
    this.lifecycle.send({ type: "DRAIN" });
    for (const s of this.subs.splice(2)) s.unsubscribe(); // keep answering status and drain
    await this.world?.close().catch(() => undefined);
    this.lifecycle.send({ type: "DRAINED" });
    await this.recorder?.settled();
    return { state: this.state };
  }

  async stop(): Promise<void> {
    await this.drain();
    for (const s of this.subs) s.unsubscribe();
    this.recorder?.stop();
    await this.actor.stop();
  }
}

function sha256OrUndefined(file: string): string | undefined {
  try {
    return sha256File(file);
  } catch {
    return undefined;
  }
}
