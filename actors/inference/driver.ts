// The driver of a parallel inference job, in the CLI process: starts one worker per (replica, stage, TP rank)
// as supervised actors through a host agent (the embedded cluster's, or a running cluster's with a NATS URL),
// waits until each has loaded its slice of the checkpoint, then sends them work over NATS — token ids in,
// log-probabilities or token ids out. It is a TargetScorer for evaluation (batches spread over the replicas);
// a generation is one request to replica 0 whose tokens stream back as the workers choose them.
//
//   const job = await startInferenceJob({ checkpoint, config, pp: 2, tp: 2 });
//   const results = await scoreRequests(job, requests);                       // ml/eval
//   await job.generate(prompt, { maxNewTokens: 20, sampling: { temperature: 0 }, onToken });   // streamed
//   await job.close();
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { decode } from "../../runtime/codec.ts";
import { connectOrEmbed, type ClusterConnection } from "../../runtime/cluster/embedded-cluster.ts";
import { writeCollectiveKeyFile } from "../../runtime/collectives/collective-key.ts";
import { crashLineOf, describeDeath } from "../../runtime/death-cause.ts";
import { ActorGroup } from "../../runtime/group/actor-group.ts";
import { NotReachedError } from "../../runtime/group/errors.ts";
import type { TargetScorer } from "../../ml/eval/types.ts";
import { validateGenerateInput, type GenerateOptions, type GenerateResult } from "../../ml/generate/generate.ts";
import { validateSamplingOptions } from "../../ml/generate/sampling.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { InferenceError } from "../../ml/parallel-model/errors.ts";
import { checkInferenceLayout } from "../../ml/parallel-model/inference-layout.ts";
import { rankMembers, wireCoords, type RankMember, type RankPlace } from "../rank-members.ts";
import type { InferenceJobSpec } from "./job-spec.ts";
import { inferSubject, tokenStreamSubject, type InferProtocol, type StreamedToken } from "./protocol.ts";

const workerMain = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "worker-main.ts");

export interface InferenceJobOptions {
  /** Checkpoint step folder (any saved layout); must be readable by every host. */
  checkpoint: string;
  config: GptConfig;
  /** Replicas, each pp × tp workers holding the whole model (default 1): scoring batches are spread over them. */
  dp?: number;
  pp: number;
  tp: number;
  /** A running cluster (with a host agent); absent = a private nats-server and host agent. */
  natsUrl?: string;
  token?: string;
  /** The CA of a TLS cluster (with `natsUrl`). */
  caFile?: string;
  clusterId?: string;
  /** Job file, log and the embedded server's store; default: a temporary folder removed by close(). */
  dir?: string;
  /** BLAS threads per worker (default 1). */
  threads?: number;
  /** How long every worker has to boot, join and load (default 120 s). */
  loadTimeoutMs?: number;
  /** How long one request may take (default 300 s). */
  requestTimeoutMs?: number;
}

const EPOCH = 1;

export class InferenceJob implements TargetScorer {
  private readonly group: ActorGroup<RankPlace, InferProtocol>;
  /** each replica's workers, and its answering worker (last stage, TP rank 0) */
  private readonly replicas: { workers: RankMember[]; answering: RankMember }[];
  private generations = 0;
  private scored = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly config: GptConfig,
    readonly jobId: string,
    readonly workers: readonly RankMember[],
    private readonly cluster: ClusterConnection,
    jobFile: string,
    private readonly o: InferenceJobOptions,
    private readonly removeDir: string | undefined,
  ) {
    this.group = new ActorGroup(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger: pino({ level: "silent" }) },
      {
        id: jobId,
        members: workers,
        start: (w) => ({ coords: wireCoords(w.coords), argv: ["node", "--import", "tsx", workerMain, "--job", jobFile] }),
        strategy: "one_for_all",
        intensity: { maxRestarts: 0, periodMs: 60_000 },
        timeouts: { heartbeatMs: 500, suspectMs: 3000, killMs: 10_000, stepMs: o.requestTimeoutMs ?? 300_000, startMs: 60_000 },
        subject: (id, verb) => inferSubject(cluster.ns, id, verb),
        epoch: EPOCH,
        probe: { verb: "status", req: {} },
        lifecycleKind: "worker",
      },
    );
    // no restarts: any worker's death ends the job, with its cause and the error line it printed
    this.group.onLost((w, death, state) => {
      if (this.closing) return;
      const line = crashLineOf(death);
      this.group.fail(new InferenceError(`inference worker ${w.id} ${state}: ${describeDeath(death)}${line ? ` (${line})` : ""}`));
    });
    this.replicas = Array.from({ length: o.dp ?? 1 }, (_, d) => {
      const members = workers.filter((w) => w.coords.dp === d);
      return { workers: members, answering: members.find((w) => w.coords.pp === o.pp - 1 && w.coords.tp === 0)! };
    });
  }

  /** Starts the workers and waits until every one has loaded its shard. */
  static async start(o: InferenceJobOptions): Promise<InferenceJob> {
    checkInferenceLayout(o.config, o);
    const removeDir = o.dir === undefined ? mkdtempSync(path.join(os.tmpdir(), "troupe-infer-")) : undefined;
    const dir = o.dir ?? removeDir!;
    mkdirSync(dir, { recursive: true });
    const jobId = `infer-${randomBytes(4).toString("hex")}`;
    const dp = o.dp ?? 1;
    const layout = rankLayout({ dp, pp: o.pp, tp: o.tp });
    const jobFile = path.join(dir, "inference-job.json");
    const spec: InferenceJobSpec = {
      jobId,
      session: `${jobId}-${randomBytes(4).toString("hex")}`,
      checkpoint: path.resolve(o.checkpoint),
      model: o.config,
      dp,
      pp: o.pp,
      tp: o.tp,
      threads: o.threads ?? 1,
      rendezvousTimeoutMs: 60_000,
      collectiveKeyFile: writeCollectiveKeyFile(dir),
    };
    writeFileSync(jobFile, JSON.stringify(spec, null, 2) + "\n");
    let job: InferenceJob | undefined;
    const cluster = await connectOrEmbed({
      url: o.natsUrl,
      token: o.token,
      ...(o.caFile !== undefined ? { caFile: o.caFile } : {}),
      clusterId: o.clusterId ?? "local",
      dir,
      slots: layout.worldSize,
      logger: pino({ level: "silent" }),
      onStatus: (s) => job?.group.connectionChanged(s),
    });
    job = new InferenceJob(o.config, jobId, rankMembers(jobId, layout.coords), cluster, jobFile, o, removeDir);
    try {
      await job.launch();
      return job;
    } catch (err) {
      await job.close();
      throw err;
    }
  }

  private async launch(): Promise<void> {
    await this.group.start();
    const deadline = Date.now() + (this.o.loadTimeoutMs ?? 120_000);
    try {
      await Promise.race([this.group.waitAll("idle", { epoch: EPOCH, deadline }), this.group.failed]);
    } catch (err) {
      if (!(err instanceof NotReachedError)) throw err;
      throw new InferenceError(
        `inference worker ${err.memberId} did not finish loading in time (last state: ${err.last ?? "none recorded"})`,
      );
    }
  }

  /** Sends one request to every worker of a replica; returns its answering worker's reply. */
  private async ask<V extends "score" | "generate">(
    verb: V,
    req: InferProtocol[V]["req"],
    replica = 0,
  ): Promise<NonNullable<InferProtocol[V]["reply"]>> {
    if (this.group.failure) throw this.group.failure;
    const { workers, answering } = this.replicas[replica]!;
    try {
      const replies = await Promise.race([Promise.all(workers.map((w) => this.group.ask(w, verb, req))), this.group.failed]);
      return replies[workers.indexOf(answering)]!;
    } catch (err) {
      // a request can fail because a peer died before that death is known: once every worker answered or was lost it is
      await this.group.settle(workers, { deadlineMs: this.group.timeouts.killMs });
      throw this.group.failure ?? err;
    }
  }

  async tokenScores(inputs: Int32Array, targets: Int32Array, batch: number): Promise<{ logProbs: Float32Array; isArgmax: Uint8Array }> {
    const n = batch * this.config.seqLen;
    if (!Number.isInteger(batch) || batch < 1) throw new InferenceError(`tokenScores: 'batch' must be a positive integer, got ${batch}`);
    if (inputs.length !== n || targets.length !== n)
      throw new InferenceError(`tokenScores: 'inputs' and 'targets' need batch·seqLen = ${n} tokens each`);
    for (const [name, a] of [
      ["inputs", inputs],
      ["targets", targets],
    ] as const) {
      const i = a.findIndex((t) => t < 0 || t >= this.config.vocabSize);
      if (i >= 0)
        throw new InferenceError(`tokenScores: '${name}'[${i}] = ${a[i]} is outside the vocabulary [0, ${this.config.vocabSize})`);
    }
    const id = this.scored++;
    const r = await this.ask("score", { id, batch, inputs: Array.from(inputs), targets: Array.from(targets) }, id % this.replicas.length);
    return { logProbs: Float32Array.from(r.logProbs), isArgmax: Uint8Array.from(r.isArgmax) };
  }

  /**
   * Continues `prompt` on the workers (KV caches split across them, sampling on the last stage); `onToken` hears
   * each token as it is chosen, in order. Same options and results as a single process's generate().
   */
  async generate(prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
    validateSamplingOptions(options.sampling);
    validateGenerateInput(this.config, prompt, options.maxNewTokens);
    const { temperature, topK, topP } = options.sampling;
    const streamSubject = tokenStreamSubject(this.cluster.ns, this.jobId, this.generations++);
    // tokens are delivered in order on one subscription; any the stream lost come from the final reply
    let delivered = 0;
    let streaming = Promise.resolve();
    const sub = this.cluster.nc.subscribe(streamSubject, {
      callback: (err, m) => {
        if (err) return;
        const t = decode(m.data) as StreamedToken;
        if (t.index !== delivered) return;
        delivered++;
        streaming = streaming.then(() => options.onToken?.(t.token));
      },
    });
    try {
      await this.cluster.nc.flush();
      const reply = await this.ask("generate", {
        prompt: [...prompt],
        maxNewTokens: options.maxNewTokens,
        sampling: { temperature, ...(topK !== undefined ? { topK } : {}), ...(topP !== undefined ? { topP } : {}) },
        seed: options.seed ?? 0,
        stopTokens: [...(options.stopTokens ?? [])],
        recompute: options.useCache === false,
        streamSubject,
      });
      await streaming; // the worker published every token before its reply, on one connection: all are here
      for (const token of reply.tokens.slice(delivered)) await options.onToken?.(token);
      return { tokens: reply.tokens, stoppedBy: reply.stoppedBy };
    } finally {
      sub.unsubscribe();
    }
  }

  /** Each worker's actor record as the supervisor sees it: state and process id. */
  workerRecords(): { id: string; state: string; pid: number | null }[] {
    return this.group.records().map(({ id, state, pid }) => ({ id, state, pid }));
  }

  /** Drains and stops every worker, then what the connection started (agent, server). */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await this.group.drain("drain", {}, { timeoutMs: 5000 });
    await this.group.stop("inference done").catch(() => undefined);
    await this.cluster.close();
    if (this.removeDir) rmSync(this.removeDir, { recursive: true, force: true });
  }
}

export function startInferenceJob(o: InferenceJobOptions): Promise<InferenceJob> {
  return InferenceJob.start(o);
}
