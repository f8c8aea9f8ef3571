// A training worker: one rank of a job, as a supervised actor process. It boots (NATS, heartbeats; the served
// actor of runtime/served-actor.ts), joins (collectives rendezvous through NATS KV), loads (data, model from the
// job seed, optimizer: load.ts), then serves the step protocol: the step verbs (step-verbs.ts), the recovery
// verbs (recovery-verbs.ts) and the checkpoint verbs (checkpoint-verbs.ts). Its lifecycle (worker-machine.ts) is
// written to KV and the event stream at every transition.
import type { ActorEnvironment, ActorProcess } from "../../runtime/actor-process.ts";
import { ServedActor } from "../../runtime/served-actor.ts";
import { TransportCounters } from "../../runtime/collectives/transport-counters.ts";
import type { TrainBackends } from "../../ml/train/backends.ts";
import { CheckpointVerbs } from "./checkpoint-verbs.ts";
import { FaultInjector } from "./faults.ts";
import type { JobSpec } from "./job-spec.ts";
import { jobLayout, joinWorld, loadRank, replicasFromEnv, type RankSetup } from "./load.ts";
import { workerSubject, type WorkerStatus } from "./protocol.ts";
import { Rank, type ServedWorker } from "./rank.ts";
import { RecoveryVerbs } from "./recovery-verbs.ts";
import { StepVerbs } from "./step-verbs.ts";
import { notCheckpointing, workerMachine } from "./worker-machine.ts";

export class Worker {
  private readonly served: ServedWorker;
  private rank: Rank | undefined;
  private checkpoints: CheckpointVerbs | undefined;

  constructor(
    env: ActorEnvironment,
    private readonly job: JobSpec,
    private readonly backends: TrainBackends,
  ) {
    this.served = new ServedActor({
      env,
      machine: workerMachine,
      kind: "worker",
      subject: workerSubject,
      status: () => this.status(),
      // a checkpoint's memory copy in progress hands its write to the writer first
      settle: () => notCheckpointing(this.served.lifecycle),
      release: () => this.release(),
      // a survivor enters a newer epoch only through these; a step, apply, restore … of one means this process was
      // replaced while cut off from the cluster (a partition): it exits without answering
      joinVerbs: ["recover", "halt"],
    });
  }

  get actor(): ActorProcess {
    return this.served.process;
  }

  get state(): string {
    return this.served.state;
  }

  /** World rank (coordinates { d, p, t, rank } from the coordinator; d alone for data parallel). */
  private get worldRank(): number {
    return this.actor.env.coords.rank ?? this.actor.env.coords.d ?? 0;
  }

  async start(): Promise<void> {
    await this.served.boot();
    // a process started in a later epoch than the job's last load replaces a lost worker: it takes its state from a peer
    const replacement = this.actor.epoch > (this.actor.env.loadEpoch ?? 1);
    const replicas = replicasFromEnv();
    const setup: RankSetup = {
      job: this.job,
      backends: this.backends,
      layout: jobLayout(this.job.config.parallel),
      rank: this.worldRank,
      faults: new FaultInjector(this.job.faults, this.worldRank, this.actor.epoch, replicas !== undefined),
      step: () => this.actor.step,
      collectives: new TransportCounters(),
    };
    setup.faults.at("join", 0);
    const world = await joinWorld(this.actor.connection, setup, this.actor.epoch, this.actor.log, replicas);
    this.served.lifecycle.send({ type: "JOINED", epoch: this.actor.epoch });
    setup.faults.at("load", 0);
    const { compute, tokenizer } = await loadRank(setup, world);
    const rank = new Rank(this.served, setup, world, compute, tokenizer);
    this.rank = rank;
    if (this.job.resumeFrom && !replacement) rank.hold(compute.loadCheckpoint(this.job.resumeFrom));

    this.checkpoints = new CheckpointVerbs(rank);
    for (const verbs of [new StepVerbs(rank), new RecoveryVerbs(rank), this.checkpoints]) verbs.serve(this.served);
    this.served.lifecycle.send({ type: replacement ? "AWAIT_STATE" : "LOADED" });
    this.actor.log.info({ rank: this.worldRank, coords: this.actor.env.coords, epoch: this.actor.epoch, replacement }, "worker loaded");
  }

  private status(): WorkerStatus {
    const ctx = this.served.lifecycle.getSnapshot().context;
    return {
      state: this.state,
      step: ctx.step,
      epoch: this.actor.epoch,
      committed: ctx.committed,
      rejected: this.served.rejected,
      pid: process.pid,
    };
  }

  /** Waits for a checkpoint being written in the background and closes the collectives. */
  private async release(): Promise<void> {
    await this.checkpoints?.close().catch((err: unknown) => this.actor.log.error({ err }, "a checkpoint write failed before the stop"));
    await this.rank?.world.close().catch(() => undefined);
  }

  /**
   * Stops serving steps, waits for a checkpoint being written in the background (a graceful stop never leaves a
   * half-written one) and closes the collectives; the lifecycle ends in "stopped".
   */
  drain(): Promise<{ state: string }> {
    return this.served.drain();
  }

  async stop(): Promise<void> {
    await this.served.stop();
  }
}
