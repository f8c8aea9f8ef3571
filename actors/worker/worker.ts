// A training worker: one rank of a job, as a supervised actor process. It boots (NATS, heartbeats),
// joins (collectives rendezvous through NATS KV), loads (data, model from the job seed, optimizer),
// then serves the step protocol: step(k) → ready(k), apply(k, clip) → applied(k), checkpoint.
// Its lifecycle (actors/worker/worker-machine.ts) is written to KV and the event stream at every transition.
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
import { workerMachine } from "./worker-machine.ts";
import { decodeFenced } from "../../runtime/messages.ts";
import { ReplyMemo, serve, type Rejection } from "../../runtime/rpc.ts";
import path from "node:path";
import { CheckpointWriter } from "../../ml/checkpoint/async-save.ts";
import { copyTensorsInto, loadCheckpoint, sha256File, stepDirName } from "../../ml/checkpoint/store.ts";
import { gptParameterLayout } from "../../ml/model/mod.ts";
import type { TrainBackends } from "../../ml/train/backends.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import { parseAxisOrder, rankLayout } from "../../ml/parallel/ranks.ts";
import { DataParallelCompute } from "./data-parallel-compute.ts";
import { FaultInjector } from "./faults.ts";
import { receiveState, sendState } from "./state-transfer.ts";
import { StageParallelCompute } from "./stage-parallel-compute.ts";
import type { JobSpec } from "./job-spec.ts";
import {
  applyRequestSchema,
  checkpointRequestSchema,
  haltRequestSchema,
  checkpointShardRequestSchema,
  loadCheckpointRequestSchema,
  recoverRequestSchema,
  restoreRequestSchema,
  sendStateRequestSchema,
  statusRequestSchema,
  stepRequestSchema,
  validateRequestSchema,
  workerSubject,
  type AppliedReport,
  type ApplyRequest,
  type CheckpointRequest,
  type CheckpointShardReport,
  type CheckpointShardRequest,
  type LoadCheckpointRequest,
  type ReadyReport,
  type RecoverReport,
  type RestoreReport,
  type RestoreRequest,
  type SendStateRequest,
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
  private readonly replies = new ReplyMemo();
  /** Background checkpoint writes (at most one in flight) and the answer the one of `step` will give when written. */
  private readonly checkpoints = new CheckpointWriter();
  private checkpointWrite: { step: number; answer: Promise<unknown> } | undefined;
  /** The step or apply computing now: recovery waits for it to settle before it rebuilds the compute. */
  private inFlight: Promise<unknown> | undefined;
  /** Last step whose optimizer update this worker applied (a checkpoint's step after a resume). */
  private appliedStep = 0;
  /**
   * Bumped by every recover and halt: a recovery still joining the communicator of an older epoch (a worker was lost
   * during it, or the job is stopping) sees it changed and gives up that communicator.
   */
  private recoveryTicket = 0;
  private draining: Promise<{ state: string }> | undefined;
  private faults!: FaultInjector;
  /** Everything the compute of a new communicator is built from (recovery rebuilds it on a new world). */
  private makeCompute!: (world: CollectivesWorld) => Promise<RankCompute>;

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

    // a process started in a later epoch than the job's last load replaces a lost worker: it takes its state from a peer
    const replacement = this.actor.epoch > (this.actor.env.loadEpoch ?? 1);
    this.faults = new FaultInjector(this.job.faults, this.rank, this.actor.epoch);
    const { dp, pp, tp, order } = this.job.config.parallel;
    const layout = order ? rankLayout({ dp, pp, tp }, parseAxisOrder(order)) : rankLayout({ dp, pp, tp });
    this.faults.at("join", 0);
    this.world = await this.joinWorld(this.actor.epoch, layout.worldSize);
    this.lifecycle.send({ type: "JOINED", epoch: this.actor.epoch });
    this.faults.at("load", 0);

    const c = this.job.config;
    this.backends.setThreads?.(c.threads);
    const corpus = await this.backends.prepareCorpus(c);
    this.tokenizer = { file: corpus.tokenizerFile, sha256: sha256OrUndefined(corpus.tokenizerFile) };
    const gpt = { ...c.model, vocabSize: c.data.vocabSize };
    if (pp * tp > 1) {
      const microBatches = c.batch.size / c.batch.microBatch / dp;
      const step = () => this.actor.step;
      this.makeCompute = (world) =>
        StageParallelCompute.create({ model: gpt, config: c, layout, rank: this.rank, groups: this.faults.wrapGroups(groupsForRank(world, layout), step), microBatches, data: corpus.data });
      const stage = (await this.makeCompute(this.world)) as StageParallelCompute;
      if (this.job.resumeFrom && !replacement) this.actor.step = this.appliedStep = stage.loadShard(this.job.resumeFrom).step;
      this.compute = stage;
      this.serveVerb("checkpointShard", checkpointShardRequestSchema, (r) => this.checkpointShard(this.compute as StageParallelCompute, r));
      return this.serveSteps(replacement);
    }
    const model = await this.backends.createModel(gpt, c.seed);
    const optimizer = this.backends.createOptimizer(model, c.optimizer);
    if (this.job.resumeFrom && !replacement) {
      const ckpt = loadCheckpoint(this.job.resumeFrom);
      copyTensorsInto(model.parameters(), ckpt.params, `checkpoint ${this.job.resumeFrom} (model)`);
      copyTensorsInto(optimizer.state(), ckpt.optimizerState, `checkpoint ${this.job.resumeFrom} (optimizer)`);
      optimizer.stepCount = ckpt.manifest.optimizer.stepCount;
      this.actor.step = this.appliedStep = ckpt.manifest.step;
    }
    const step = () => this.actor.step;
    this.makeCompute = async (world) => new DataParallelCompute(model, optimizer, corpus.data, this.faults.hooked(world, "allreduce", step, () => false));
    this.compute = await this.makeCompute(this.world);
    this.serveSteps(replacement);
  }

  /** Connects to every rank of the communicator of `epoch` (session `<job session>-e<epoch>`). */
  private async joinWorld(epoch: number, worldSize: number): Promise<CollectivesWorld> {
    const session = `${this.job.session}-e${epoch}`;
    const rendezvous = await KvRendezvous.open(this.actor.connection, session);
    return createCpuCollectives({ rank: this.rank, worldSize, session, rendezvous, connectTimeoutMs: this.job.rendezvousTimeoutMs });
  }

  private serveSteps(replacement: boolean): void {
    // asked again after a lost request or reply (nats-server restart): the same answer, the work done once
    this.serveVerb("step", stepRequestSchema, (r) => this.replies.run(`step:${r.epoch}:${r.step}`, () => this.step(r)));
    this.serveVerb("apply", applyRequestSchema, (r) => this.replies.run(`apply:${r.epoch}:${r.step}`, () => this.apply(r)));
    this.serveVerb("checkpoint", checkpointRequestSchema, (r) => this.checkpoint(r));
    this.serveVerb("validate", validateRequestSchema, (r) => this.replies.run(`validate:${r.epoch}:${r.step}`, () => this.validate(r)));
    this.serveVerb("recover", recoverRequestSchema, (r) => this.recover(r.epoch));
    this.serveVerb("sendState", sendStateRequestSchema, (r) => this.sendState(r));
    this.serveVerb("restore", restoreRequestSchema, (r) => this.restore(r));
    this.serveVerb("loadCheckpoint", loadCheckpointRequestSchema, (r) => this.rollBack(r));
    this.serveVerb("halt", haltRequestSchema, (r) => this.halt(r.epoch));
    this.lifecycle.send({ type: replacement ? "AWAIT_STATE" : "LOADED" });
    this.actor.log.info({ rank: this.rank, coords: this.actor.env.coords, epoch: this.actor.epoch, replacement }, "worker loaded");
  }

  /**
   * A survivor of a lost worker: finish an apply already started (it is local), abort the step in flight, wait
   * until its compute has settled, then join the communicator of the new epoch and rebuild the compute on it
   * (gradients and activations start afresh; parameters, moments and step count are carried over). Asked again
   * with a newer epoch while still joining (another worker was lost during the recovery), it gives up the older
   * communicator and joins the newer one.
   */
  private async recover(epoch: number): Promise<RecoverReport> {
    if (this.state === "applying") await this.inFlight?.catch(() => undefined);
    // a checkpoint's memory copy is short and local: let it finish
    while (this.state === "checkpointing") await new Promise((r) => setTimeout(r, 10));
    const ticket = ++this.recoveryTicket;
    if (this.state === "idle" || this.state === "stepping") this.lifecycle.send({ type: "RECOVER", epoch });
    else if (this.state !== "recovering") throw new WorkerProtocolError(`${this.id}: recover asked while ${this.state}`);
    this.world?.abort(`epoch ${epoch}: a worker of the job was lost`);
    await this.inFlight?.catch(() => undefined);
    const old = this.compute!;
    const superseded = () => new WorkerProtocolError(`${this.id}: the recovery of epoch ${epoch} was given up (a newer recovery or a halt came)`);
    let world: CollectivesWorld;
    try {
      world = await this.joinWorld(epoch, this.world!.size);
    } catch (err) {
      if (ticket !== this.recoveryTicket) throw superseded();
      throw err;
    }
    if (ticket !== this.recoveryTicket) {
      await world.close().catch(() => undefined);
      throw superseded();
    }
    this.world = world;
    const fresh = await this.makeCompute(world);
    if (fresh !== old) {
      copyState(old, fresh);
      this.compute = fresh;
    }
    this.lifecycle.send({ type: "JOINED", epoch });
    this.lifecycle.send({ type: "RECOVERED" });
    return { applied: this.appliedStep, optimizerStepCount: old.optimizerStepCount };
  }

  /**
   * The job is stopping after an escalation: finish an apply already started, abort the step in flight or a
   * recovery still joining, and go idle holding the state of the last applied step (its communicator is gone, so
   * only local work follows: a checkpoint, then drain).
   */
  private async halt(epoch: number): Promise<RecoverReport> {
    if (this.state === "applying") await this.inFlight?.catch(() => undefined);
    while (this.state === "checkpointing") await new Promise((r) => setTimeout(r, 10));
    if (this.state !== "idle" && this.state !== "stepping" && this.state !== "recovering") throw new WorkerProtocolError(`${this.id}: halt asked while ${this.state}`);
    this.recoveryTicket++;
    this.world?.abort(`epoch ${epoch}: the job is stopping`);
    await this.inFlight?.catch(() => undefined);
    // a step that had reported ready waits for an apply that will not come; a recovery keeps the state it carried
    if (this.state === "stepping") this.lifecycle.send({ type: "ABORT" });
    if (this.state === "recovering") this.lifecycle.send({ type: "RECOVERED" });
    this.actor.log.warn({ epoch, applied: this.appliedStep }, "halted: the job is stopping");
    return { applied: this.appliedStep, optimizerStepCount: this.compute!.optimizerStepCount };
  }

  /** A DP peer holding the same shard: sends its state to the replacement at world rank `to`. */
  private async sendState(r: SendStateRequest): Promise<{ sent: number }> {
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: sendState asked while ${this.state}`);
    return { sent: await sendState(this.world!, r.to, this.compute!, this.appliedStep) };
  }

  /**
   * No live peer holds a lost shard: every worker (survivor or replacement) loads its slice of the checkpoint and
   * the job continues from that step.
   */
  private async rollBack(r: LoadCheckpointRequest): Promise<RestoreReport> {
    if (this.state !== "idle" && this.state !== "restoring") throw new WorkerProtocolError(`${this.id}: loadCheckpoint asked while ${this.state}`);
    const t0 = performance.now();
    const compute = this.compute!;
    let step: number;
    if (compute instanceof StageParallelCompute) step = compute.loadShard(r.dir).step;
    else {
      const ckpt = loadCheckpoint(r.dir);
      copyTensorsInto(compute.parameters(), ckpt.params, `checkpoint ${r.dir} (model)`);
      copyTensorsInto(compute.optimizerState(), ckpt.optimizerState, `checkpoint ${r.dir} (optimizer)`);
      compute.optimizerStepCount = ckpt.manifest.optimizer.stepCount;
      step = ckpt.manifest.step;
    }
    this.actor.step = this.appliedStep = step;
    if (this.state === "restoring") this.lifecycle.send({ type: "RESTORED", step });
    const seconds = (performance.now() - t0) / 1000;
    this.actor.log.info({ dir: r.dir, step, seconds }, "rolled back to a checkpoint");
    return { actorId: this.id, source: "checkpoint", from: r.dir, step, seconds };
  }

  /** The replacement: receives its state from world rank `from` and goes idle. */
  private async restore(r: RestoreRequest): Promise<RestoreReport> {
    if (this.state !== "restoring") throw new WorkerProtocolError(`${this.id}: restore asked while ${this.state}`);
    const t0 = performance.now();
    const { step } = await receiveState(this.world!, r.from, this.compute!);
    this.actor.step = this.appliedStep = step;
    this.lifecycle.send({ type: "RESTORED", step });
    const seconds = (performance.now() - t0) / 1000;
    this.actor.log.info({ from: r.from, step, seconds }, "state restored from a peer");
    return { actorId: this.id, source: "peer", from: `rank ${r.from}`, step, seconds };
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
    return { state: this.state, step: ctx.step, epoch: this.actor.epoch, committed: ctx.committed, rejected: this.rejected, pid: process.pid };
  }

  private async step(r: StepRequest): Promise<ReadyReport> {
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: step ${r.step} asked while ${this.state}`);
    this.lifecycle.send({ type: "STEP", step: r.step, epoch: r.epoch });
    this.actor.step = r.step;
    try {
      this.faults.at("forward", r.step);
      const running = this.compute!.runStep(r);
      this.inFlight = running;
      const out = await running;
      this.lifecycle.send({ type: "READY" });
      return { step: r.step, epoch: this.actor.epoch, lossSum: out.lossSum, gradNormSquared: out.gradNormSquared, nonFinite: out.nonFinite, busyMs: out.busyMs };
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
      this.faults.at("apply", r.step);
      // skip: every rank drops this step's gradients (zeroed at the next step's start) and the optimizer does not step
      const applying = r.skip ? Promise.resolve() : this.compute!.apply(r.lr, r.clipScale);
      this.inFlight = applying;
      await applying;
      this.appliedStep = r.step;
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

  /**
   * Asked twice per checkpoint. The first request for a step copies this shard and answers { step, copied: true }
   * (the worker may step on); a repeated request for that step answers the report once the shard's files are written.
   */
  private async checkpointShard(stage: StageParallelCompute, r: CheckpointShardRequest): Promise<CheckpointShardReport | { step: number; copied: true }> {
    if (this.checkpointWrite?.step === r.step) return (await this.checkpointWrite.answer) as CheckpointShardReport;
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: checkpoint shard asked while ${this.state}`);
    this.lifecycle.send({ type: "CHECKPOINT" });
    try {
      const c = this.job.config;
      const globalShapes = new Map(gptParameterLayout({ ...c.model, vocabSize: c.data.vocabSize }).map((p) => [p.name, p.shape]));
      const content = { coord: stage.shardCoord, params: stage.parameters(), optimizerState: stage.optimizerState(), step: r.step, optimizerStepCount: stage.optimizerStepCount };
      const pending = await this.checkpoints.saveShard(r.staging, content, stage.shardLayout, globalShapes);
      const extra = { optimizerStepCount: content.optimizerStepCount, layersPerStage: [...stage.shardLayout.layersPerStage], tokenizer: this.tokenizer };
      const answer = pending.written.then((shard): CheckpointShardReport => ({ shard, ...extra }));
      answer.catch(() => undefined); // the coordinator's repeated request reports it
      this.checkpointWrite = { step: r.step, answer };
      return { step: r.step, copied: true };
    } finally {
      this.lifecycle.send({ type: "CHECKPOINTED" });
    }
  }

  /**
   * dp rank 0 of a data-parallel job writes the whole checkpoint. Asked twice: the first request for a step copies
   * the state and answers { dir, written: false } (the worker may step on); a repeated one answers { dir, written:
   * true } once the checkpoint is whole and `latest`.
   */
  private async checkpoint(r: CheckpointRequest): Promise<{ dir: string; written: boolean }> {
    if (this.checkpointWrite?.step === r.step) return { dir: (await this.checkpointWrite.answer) as string, written: true };
    if (this.state !== "idle") throw new WorkerProtocolError(`${this.id}: checkpoint asked while ${this.state}`);
    const c = this.job.config;
    const compute = this.compute!;
    if (compute instanceof StageParallelCompute) throw new WorkerProtocolError(`${this.id}: holds one shard of the model (pp or tp > 1): ask for checkpointShard`);
    this.lifecycle.send({ type: "CHECKPOINT" });
    try {
      const pending = await this.checkpoints.save(
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
      this.checkpointWrite = { step: r.step, answer: pending.written };
      return { dir: path.join(r.root, stepDirName(r.step)), written: false };
    } finally {
      this.lifecycle.send({ type: "CHECKPOINTED" });
    }
  }

  /**
   * Stops serving steps, waits for a checkpoint being written in the background (a graceful stop never leaves a
   * half-written one) and closes the collectives; the lifecycle ends in "stopped".
   */
  drain(): Promise<{ state: string }> {
    this.draining ??= this.drainOnce();
    return this.draining;
  }

  private async drainOnce(): Promise<{ state: string }> {
    if (this.state === "stopped") return { state: this.state };
    // a checkpoint's memory copy in progress hands its write to the writer first
    while (this.state === "checkpointing") await new Promise((r) => setTimeout(r, 10));
    this.lifecycle.send({ type: "DRAIN" });
    for (const s of this.subs.splice(2)) s.unsubscribe(); // keep answering status and drain
    await this.checkpoints.close().catch((err: unknown) => this.actor.log.error({ err }, "a checkpoint write failed before the stop"));
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

/** Carries parameters, AdamW moments and the step count over to a compute rebuilt on a new communicator. */
function copyState(from: RankCompute, to: RankCompute): void {
  const pairs = [
    [from.parameters(), to.parameters()],
    [from.optimizerState(), to.optimizerState()],
  ] as const;
  for (const [src, dst] of pairs) dst.forEach((t, i) => t.data.set(src[i]!.data));
  to.optimizerStepCount = from.optimizerStepCount;
}

function sha256OrUndefined(file: string): string | undefined {
  try {
    return sha256File(file);
  } catch {
    return undefined;
  }
}
