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
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import { call } from "../../runtime/rpc.ts";
import { recordState, Supervisor } from "../../runtime/supervisor.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import type { Coordinates } from "../../runtime/types.ts";
import { connectOrEmbed, type ClusterConnection } from "../../runtime/cluster/embedded-cluster.ts";
import { crashLineOf, describeDeath } from "../../runtime/death-cause.ts";
import type { TargetScorer } from "../../ml/eval/types.ts";
import { decode } from "../../runtime/codec.ts";
import { validateGenerateInput, type GenerateOptions, type GenerateResult } from "../../ml/generate/generate.ts";
import { validateSamplingOptions } from "../../ml/generate/sampling.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { InferenceError } from "../../ml/parallel-model/errors.ts";
import type { InferenceJobSpec } from "./job-spec.ts";
import { checkInferenceLayout } from "../../ml/parallel-model/inference-layout.ts";
import { inferSubject, tokenStreamSubject, type GenerateReply, type InferVerb, type InferWorkerStatus, type ScoreReply, type StreamedToken } from "./protocol.ts";

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

interface WorkerRef {
  id: string;
  coords: Coordinates;
}

const EPOCH = 1;

export class InferenceJob implements TargetScorer {
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  private failJob!: (err: Error) => void;
  private stopping = false;
  private readonly supervisor: Supervisor;
  /** each replica's workers, and its answering worker (last stage, TP rank 0) */
  private readonly replicas: { workers: WorkerRef[]; answering: WorkerRef }[];
  private generations = 0;
  private scored = 0;

  private constructor(
    readonly config: GptConfig,
    readonly jobId: string,
    readonly workers: readonly WorkerRef[],
    private readonly cluster: ClusterConnection,
    jobFile: string,
    private readonly o: InferenceJobOptions,
    private readonly removeDir: string | undefined,
  ) {
    const logger = pino({ level: "silent" });
    this.supervisor = new Supervisor(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
      {
        id: jobId,
        strategy: "one_for_all",
        intensity: validateIntensity({ maxRestarts: 0, periodMs: 60_000 }),
        backoff: validateBackoff(),
        timeouts: validateTimeouts({ heartbeatMs: 500, suspectMs: 3000, killMs: 10_000, stepMs: o.requestTimeoutMs ?? 300_000, startMs: 60_000 }),
        children: workers.map((w) => ({ id: w.id, coords: w.coords, argv: ["node", "--import", "tsx", workerMain, "--job", jobFile] })),
      },
    );
    this.replicas = Array.from({ length: o.dp ?? 1 }, (_, d) => {
      const members = workers.filter((w) => w.coords.d === d);
      return { workers: members, answering: members.find((w) => w.coords.p === o.pp - 1 && w.coords.t === 0)! };
    });
    this.failed = new Promise<never>((_, reject) => (this.failJob = reject));
    this.failed.catch(() => undefined);
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
    const workers = layout.coords.map((c, rank) => ({ id: `${jobId}-w${rank}`, coords: { d: c.dp, p: c.pp, t: c.tp, rank } }));
    const jobFile = path.join(dir, "inference-job.json");
    const spec: InferenceJobSpec = {
      jobId, session: `${jobId}-${randomBytes(4).toString("hex")}`, checkpoint: path.resolve(o.checkpoint), model: o.config, dp, pp: o.pp, tp: o.tp,
      threads: o.threads ?? 1, rendezvousTimeoutMs: 60_000,
    };
    writeFileSync(jobFile, JSON.stringify(spec, null, 2) + "\n");
    let job: InferenceJob | undefined;
    const cluster = await connectOrEmbed({
      url: o.natsUrl, token: o.token, clusterId: o.clusterId ?? "local", dir, slots: layout.worldSize, logger: pino({ level: "silent" }),
      onStatus: (s) => job?.supervisor.connectionChanged(s),
    });
    job = new InferenceJob(o.config, jobId, workers, cluster, jobFile, o, removeDir);
    try {
      await job.launch();
      return job;
    } catch (err) {
      await job.close();
      throw err;
    }
  }

  private async launch(): Promise<void> {
    this.supervisor.onTransition((rec, _from, death) => {
      if (this.stopping || (rec.state !== "failed" && rec.state !== "dead") || !death) return;
      const line = crashLineOf(death);
      this.fail(new InferenceError(`inference worker ${rec.id} ${rec.state}: ${describeDeath(death)}${line ? ` (${line})` : ""}`));
    });
    this.supervisor.setEpoch(EPOCH);
    await this.supervisor.start();
    await Promise.race([this.waitLoaded(), this.failed]);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.failJob(err);
  }

  private async waitLoaded(): Promise<void> {
    const deadline = Date.now() + (this.o.loadTimeoutMs ?? 120_000);
    for (const w of this.workers) {
      for (;;) {
        const s = (await call(this.cluster.nc, inferSubject(this.cluster.ns, w.id, "status"), { epoch: EPOCH }, 1000).catch(() => undefined)) as InferWorkerStatus | undefined;
        if (s?.state === "idle") break;
        if (this.failure) throw this.failure;
        if (Date.now() > deadline) throw new InferenceError(`inference worker ${w.id} did not finish loading in time (last state: ${s?.state ?? "not answering"})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Sends one request to every worker of a replica; returns its answering worker's reply. */
  private async ask<T>(verb: InferVerb, payload: object, replica = 0): Promise<T> {
    if (this.failure) throw this.failure;
    const timeout = this.o.requestTimeoutMs ?? 300_000;
    const one = (w: WorkerRef) => call(this.cluster.nc, inferSubject(this.cluster.ns, w.id, verb), { epoch: EPOCH, ...payload }, timeout);
    try {
      const { workers, answering } = this.replicas[replica]!;
      const replies = await Promise.race([Promise.all(workers.map(one)), this.failed]);
      return replies[workers.indexOf(answering)] as T;
    } catch (err) {
      // a request that fails because a worker died: report the death (known moments later), not the symptom
      await Promise.race([this.failed.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
      throw this.failure ?? err;
    }
  }

  async tokenScores(inputs: Int32Array, targets: Int32Array, batch: number): Promise<{ logProbs: Float32Array; isArgmax: Uint8Array }> {
    const n = batch * this.config.seqLen;
    if (!Number.isInteger(batch) || batch < 1) throw new InferenceError(`tokenScores: 'batch' must be a positive integer, got ${batch}`);
    if (inputs.length !== n || targets.length !== n) throw new InferenceError(`tokenScores: 'inputs' and 'targets' need batch·seqLen = ${n} tokens each`);
    for (const [name, a] of [["inputs", inputs], ["targets", targets]] as const) {
      const i = a.findIndex((t) => t < 0 || t >= this.config.vocabSize);
      if (i >= 0) throw new InferenceError(`tokenScores: '${name}'[${i}] = ${a[i]} is outside the vocabulary [0, ${this.config.vocabSize})`);
    }
    const id = this.scored++;
    const r = await this.ask<ScoreReply>("score", { id, batch, inputs: Array.from(inputs), targets: Array.from(targets) }, id % this.replicas.length);
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
      const reply = await this.ask<GenerateReply>("generate", {
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
    return this.workers.map((w) => {
      const snap = this.supervisor.snapshot(w.id);
      return { id: w.id, state: recordState(snap.value), pid: snap.context.pid ?? null };
    });
  }

  /** Drains and stops every worker, then what the connection started (agent, server). */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { nc, ns } = this.cluster;
    await Promise.all(this.workers.map((w) => call(nc, inferSubject(ns, w.id, "drain"), { epoch: EPOCH }, 5000).catch(() => undefined)));
    await this.supervisor.stop("inference done").catch(() => undefined);
    await this.cluster.close();
    if (this.removeDir) rmSync(this.removeDir, { recursive: true, force: true });
  }
}

export function startInferenceJob(o: InferenceJobOptions): Promise<InferenceJob> {
  return InferenceJob.start(o);
}
