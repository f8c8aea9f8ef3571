// An inference worker: one (replica, stage, TP rank) of an inference job, as a supervised actor process started
// by a host agent. It boots (NATS, heartbeats: the served actor of runtime/served-actor.ts), joins (collectives rendezvous through NATS KV), loads its slice
// of the checkpoint, then serves the driver's requests one at a time, in arrival order: score, generate.
// Its lifecycle (actors/worker/worker-machine.ts: booting → joining → loading → idle → draining → stopped) is
// written to KV and the event stream, so `troupe ps` shows it like a training worker.
import { setBlasThreads } from "../../native/mod.ts";
import type { ActorEnvironment, ActorProcess } from "../../runtime/actor-process.ts";
import { readCollectiveKeyFile } from "../../runtime/collectives/collective-key.ts";
import { KvRendezvous } from "../../runtime/collectives/kv-rendezvous.ts";
import { groupsForRank } from "../../ml/parallel/rank-groups.ts";
import { advertisedHost } from "../../runtime/advertise.ts";
import { createCpuCollectives } from "../../runtime/collectives/tcp-collectives.ts";
import type { Collectives, CollectivesWorld } from "../../runtime/collectives/types.ts";
import { ServedActor } from "../../runtime/served-actor.ts";
import { workerMachine } from "../worker/worker-machine.ts";
import { encode } from "../../runtime/codec.ts";
import { generateWith, type NextTokenSource } from "../../ml/generate/generate.ts";
import { SeededRandom } from "../../ml/generate/rng.ts";
import { chooseToken, type SamplingOptions } from "../../ml/generate/sampling.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { InferenceError } from "../../ml/parallel-model/errors.ts";
import { loadInferenceStage, type InferenceStage } from "../../ml/parallel-model/inference-stage.ts";
import type { InferenceJobSpec } from "./job-spec.ts";
import {
  generateRequestSchema,
  inferSubject,
  scoreRequestSchema,
  type GenerateReply,
  type GenerateRequest,
  type InferVerb,
  type InferWorkerStatus,
  type ScoreReply,
  type ScoreRequest,
  type StreamedToken,
} from "./protocol.ts";
import { StageDecoder } from "../../ml/parallel-model/stage-decoder.ts";

export class InferenceWorker {
  private readonly served: ServedActor<typeof workerMachine, InferVerb>;
  private world: CollectivesWorld | undefined;
  private stage: InferenceStage | undefined;
  private decoder: StageDecoder | undefined;
  /** the ranks of this worker's replica, and in it the answering rank (last stage, TP rank 0), which samples */
  private replica: Collectives | undefined;
  private answeringRank = 0;
  /** requests run one after another: every rank must enter the collectives in the same order */
  private queue: Promise<unknown> = Promise.resolve();
  private requests = 0;

  constructor(
    env: ActorEnvironment,
    private readonly job: InferenceJobSpec,
  ) {
    this.served = new ServedActor({
      env,
      machine: workerMachine,
      kind: "worker",
      subject: inferSubject,
      status: () => this.status(),
      release: async () => {
        await this.world?.close().catch(() => undefined);
      },
    });
  }

  get actor(): ActorProcess {
    return this.served.process;
  }

  get state(): string {
    return this.served.state;
  }

  private get rank(): number {
    return this.actor.env.coords.rank ?? 0;
  }

  /** The rank whose replies carry results: the last stage's TP rank 0. */
  private get answers(): boolean {
    return this.stage!.isLast && this.stage!.tpRank === 0;
  }

  async start(): Promise<void> {
    await this.served.boot();
    const nc = this.actor.connection;
    const { dp, pp, tp } = this.job;
    const layout = rankLayout({ dp, pp, tp });
    const session = `${this.job.session}-e${this.actor.epoch}`;
    this.world = await createCpuCollectives({
      rank: this.rank,
      worldSize: layout.worldSize,
      session,
      rendezvous: await KvRendezvous.open(nc, session),
      host: advertisedHost(),
      connectTimeoutMs: this.job.rendezvousTimeoutMs,
      key: readCollectiveKeyFile(this.job.collectiveKeyFile),
      onAuthFailure: (err) => this.actor.log.warn({ err }, "collective connection refused: it failed authentication"),
    });
    this.served.lifecycle.send({ type: "JOINED", epoch: this.actor.epoch });

    setBlasThreads(this.job.threads);
    const groups = groupsForRank(this.world, layout);
    const coord = layout.coords[this.rank]!;
    this.stage = loadInferenceStage(this.job.checkpoint, {
      config: this.job.model,
      pp,
      tp,
      stage: coord.pp,
      tpRank: coord.tp,
      groups: { tp: groups.tp, pp: groups.pp },
    });
    this.decoder = new StageDecoder(this.stage);
    // this replica's ranks: a generation's token is broadcast among them
    const replica = layout.coords.flatMap((c, rank) => (c.dp === coord.dp ? [rank] : []));
    this.replica = this.world.group(replica);
    this.answeringRank = replica.findIndex((r) => layout.coords[r]!.pp === pp - 1 && layout.coords[r]!.tp === 0);
    this.served.serveVerb("score", scoreRequestSchema, (r) => this.inTurn(() => this.score(r)));
    this.served.serveVerb("generate", generateRequestSchema, (r) => this.inTurn(() => this.generate(r)));
    this.served.lifecycle.send({ type: "LOADED" });
    this.actor.log.info({ rank: this.rank, stage: coord.pp, tpRank: coord.tp }, "inference worker loaded");
  }

  /** Runs `work` after every request that arrived before it. */
  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private status(): InferWorkerStatus {
    return { state: this.state, epoch: this.actor.epoch, requests: this.requests };
  }

  private checkIdle(what: string): void {
    if (!this.served.lifecycle.getSnapshot().matches("idle"))
      throw new InferenceError(`${this.actor.env.actorId}: ${what} asked while ${this.state}`);
    this.requests++;
  }

  private async score(r: ScoreRequest): Promise<ScoreReply | null> {
    this.checkIdle("score");
    const scores = await this.stage!.score({
      id: r.id,
      batch: r.batch,
      inputs: Int32Array.from(r.inputs),
      targets: Int32Array.from(r.targets),
    });
    if (!scores || !this.answers) return null;
    return { logProbs: Array.from(scores.logProbs), isArgmax: Array.from(scores.isArgmax) };
  }

  /** This rank's side of one token: decode steps through the pipeline, sampling on the answering rank, broadcast. */
  private tokenSource(sampling: SamplingOptions, seed: number): NextTokenSource {
    const rng = new SeededRandom(seed);
    const decoder = this.decoder!;
    const chosen = new Float32Array(1); // token ids < 2^24 are exact in fp32
    return {
      next: async (tokens, restart) => {
        const logits = await decoder.feed(tokens, restart);
        if (this.answers) chosen[0] = chooseToken(logits!, sampling, rng);
        await this.replica!.broadcast(chosen, this.answeringRank);
        return chosen[0]!;
      },
    };
  }

  private async generate(r: GenerateRequest): Promise<GenerateReply | null> {
    this.checkIdle("generate");
    const nc = this.actor.connection;
    const stream = (index: number, token: number) => nc.publish(r.streamSubject, encode({ index, token } satisfies StreamedToken));
    let index = 0;
    const result = await generateWith(this.tokenSource(r.sampling, r.seed), this.job.model, r.prompt, {
      maxNewTokens: r.maxNewTokens,
      stopTokens: r.stopTokens,
      recompute: r.recompute,
      onToken: this.answers ? (token) => stream(index++, token) : undefined,
    });
    return this.answers ? result : null;
  }

  /** Stops serving requests and closes the collectives; the lifecycle ends in "stopped". */
  drain(): Promise<{ state: string }> {
    return this.served.drain();
  }

  async stop(): Promise<void> {
    await this.served.stop();
  }
}
