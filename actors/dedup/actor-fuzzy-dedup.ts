// Fuzzy dedup spread over supervised actor processes (MapReduce over files):
// 1. the coordinator (this process) writes the documents as shard files;
// 2. N signature actors compute MinHash band keys shard by shard and write, per shard, one band-entry
//    file per reducer partition (band key mod M);
// 3. M reducer actors each read their partition's files and write its candidate pairs;
// 4. signature actors verify the candidate pairs by exact Jaccard, one task per shard of the lower
//    document, reading the shards they need;
// 5. union-find here, as in the single-process version: the result is identical.
// The actors are started through a host agent (the embedded cluster's, or a running cluster's with
// natsUrl: then workDir must be on a filesystem every host sees) under a one_for_one supervisor; a
// task whose actor dies is given to another actor (or the restarted one).
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { deferred } from "../../runtime/async.ts";
import { connectOrEmbed, type ClusterConnection } from "../../runtime/cluster/embedded-cluster.ts";
import { connectNats } from "../../runtime/connection.ts";
import { crashLineOf } from "../../runtime/death-cause.ts";
import { ActorGroup } from "../../runtime/group/actor-group.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { Timeouts } from "../../runtime/types.ts";
import { resolveComponents } from "../../ml/curation/duplicate-components.ts";
import type { FuzzyDedupConfig, NearDuplicateFinder, NearDuplicates } from "../../ml/curation/fuzzy-dedup.ts";
import { sortPairs } from "../../ml/curation/lsh-reduce.ts";
import type { ProgressFn } from "../../ml/curation/types.ts";
import { dedupSubject, type DedupProtocol, type ShardRef } from "./dedup-actor-protocol.ts";
import { readPairs, readSims, writePairs, writeShard } from "./dedup-files.ts";
import { DedupActorsError } from "./errors.ts";
import { readyOn, runTasks, type DedupActor, type DedupGroup, type RunTasksOptions, type TaskStart } from "./task-farm.ts";

const actorMain = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "dedup-actor-main.ts");
// an absolute loader URL: the host agent starts actors in its own working directory, which need not
// be one from which the bare name `tsx` resolves
const tsxLoader = import.meta.resolve("tsx");

export interface ActorDedupOptions {
  /** Signature actors (processes). */
  signatureActors: number;
  /** Reducer actors (processes), one band-key partition each. */
  reducers: number;
  /** Folder for shard, band and pair files (a run folder is made inside and removed at the end). */
  workDir: string;
  /** A running cluster; absent = a private nats-server and host agent for this run. */
  natsUrl?: string;
  token?: string;
  clusterId?: string;
  /** Documents per shard (the unit of work and of reassignment); default: about 4 shards per signature actor. */
  shardDocs?: number;
  timeouts?: Partial<Timeouts>;
  logger?: Logger;
  onProgress?: ProgressFn;
  /** One line per notable event: actors started, a stage done, an actor lost and its task reassigned. */
  onNote?: (line: string) => void;
  /** A task was handed to an actor (which process runs it). */
  onTaskStart?: (e: TaskStart) => void;
  /** Keep the run folder (for inspection). */
  keepFiles?: boolean;
  /** Aborting stops the actors and the cluster this run started, and rejects with DedupActorsError. */
  signal?: AbortSignal;
}

/** Runs of one task before the dedup fails (each lost actor costs one). */
const MAX_ATTEMPTS = 3;

function checkCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`${name} must be an integer from 1 to 64, got ${n}`);
}

/** One run: its folder and shards, its actors, and how it reports. */
interface Run {
  dir: string;
  shards: ShardRef[];
  shardDocs: number;
  group: DedupGroup;
  signers: DedupActor[];
  reducers: DedupActor[];
  config: FuzzyDedupConfig;
  progress: ProgressFn;
  note: (line: string) => void;
  /** What every stage's task farm shares. */
  farm: Pick<RunTasksOptions<"signatures", unknown>, "group" | "maxAttempts" | "lastCrash" | "onStart" | "onReassigned">;
  /** Tasks given to another actor after theirs was lost. */
  reassigned: () => number;
}

export async function findNearDuplicatesWithActors(
  texts: readonly string[],
  priorities: readonly number[],
  config: FuzzyDedupConfig,
  o: ActorDedupOptions,
): Promise<NearDuplicates> {
  checkOptions(o);
  const t0 = performance.now();
  if (texts.length === 0) return noDocuments(config);
  if (o.natsUrl !== undefined) await probeCluster(o);
  const runId = randomBytes(4).toString("hex");
  const dir = path.join(path.resolve(o.workDir), `fuzzy-dedup-${runId}`);
  const { shards, shardDocs } = writeShards(dir, texts, o);
  const removeDir = () => o.keepFiles || rmSync(dir, { recursive: true, force: true });
  const logger = o.logger ?? pino({ level: "silent" });
  let group: DedupGroup | undefined;
  const slots = o.signatureActors + o.reducers;
  const cluster = await connectOrEmbed({
    url: o.natsUrl,
    token: o.token,
    clusterId: o.clusterId ?? "local",
    dir,
    slots,
    logger,
    onStatus: (s) => group?.connectionChanged(s),
  }).catch((err: unknown) => {
    removeDir();
    throw err;
  });
  const interrupted = interruption(o.signal);
  /** Set once the run is over (done, failed or interrupted): actors dying now are being stopped. */
  let ending = false;
  try {
    const actors = dedupActors(cluster, runId, o, logger);
    group = actors.group;
    const run = async () => {
      await actors.group.start();
      await Promise.all([...actors.signers, ...actors.reducers].map((a) => actors.ready(a)));
      const t1 = performance.now();
      const note = o.onNote ?? (() => {});
      const where = o.natsUrl ? `cluster ${o.natsUrl}` : "embedded cluster";
      note(
        `${o.signatureActors} signature actor(s) and ${o.reducers} reducer(s) up in ${((t1 - t0) / 1000).toFixed(1)} s (${where}); ${texts.length} documents in ${shards.length} shard(s)`,
      );
      let reassigned = 0;
      const farm: Run["farm"] = {
        group: actors.group,
        maxAttempts: MAX_ATTEMPTS,
        lastCrash: actors.lastCrash,
        ...(o.onTaskStart ? { onStart: o.onTaskStart } : {}),
        onReassigned: (e: TaskStart & { cause: string }) => {
          if (ending) return;
          reassigned++;
          note(`${e.stage}: ${e.actorId} (pid ${e.pid}) lost (${e.cause}); task ${e.task} reassigned`);
        },
      };
      const r: Run = {
        dir,
        shards,
        shardDocs,
        ...actors,
        config,
        progress: o.onProgress ?? (() => {}),
        note,
        farm,
        reassigned: () => reassigned,
      };
      return stages(r, texts.length, priorities, { t0, t1, natsUrl: o.natsUrl });
    };
    return await Promise.race([run(), interrupted]);
  } finally {
    ending = true;
    await group?.stop(o.signal?.aborted ? "fuzzy dedup interrupted" : "fuzzy dedup over").catch(() => undefined);
    await cluster.close();
    removeDir();
  }
}

/** Rejects with DedupActorsError once `signal` aborts. */
function interruption(signal: AbortSignal | undefined): Promise<never> {
  const interrupted = deferred<never>();
  const interrupt = () =>
    interrupted.reject(new DedupActorsError(`fuzzy dedup interrupted${signal?.reason ? ` (${String(signal.reason)})` : ""}`));
  if (signal?.aborted) interrupt();
  else signal?.addEventListener("abort", interrupt, { once: true });
  return interrupted;
}

function checkOptions(o: ActorDedupOptions): void {
  checkCount("signature actors", o.signatureActors);
  checkCount("reducers", o.reducers);
  if (o.shardDocs !== undefined && !(Number.isInteger(o.shardDocs) && o.shardDocs >= 1))
    throw new RangeError(`shardDocs must be a positive integer, got ${o.shardDocs}`);
}

function noDocuments(config: FuzzyDedupConfig): NearDuplicates {
  return {
    ...resolveComponents(0, new Uint32Array(0), new Float64Array(0), [], config.threshold),
    candidates: new Uint32Array(0),
    candidateSims: new Float64Array(0),
    execution: { mode: "actors", signatureActors: 0, reducers: 0, shards: 0 },
    seconds: { startup: 0, signatures: 0, reduce: 0, verify: 0, total: 0 },
  };
}

/** connectOrEmbed keeps dialling a cluster that is not there; a dedup should fail fast instead. */
async function probeCluster(o: ActorDedupOptions): Promise<void> {
  const probe = await connectNats({
    url: o.natsUrl!,
    token: o.token,
    name: "fuzzy-dedup-probe",
    waitOnFirstConnect: false,
    timeoutMs: 3000,
  });
  await probe.close();
}

/** 1. The run folder, and the documents in shard files (about 4 shards per signature actor unless set). */
function writeShards(dir: string, texts: readonly string[], o: ActorDedupOptions): { shards: ShardRef[]; shardDocs: number } {
  for (const sub of ["shards", "bands", "pairs", "verify"]) mkdirSync(path.join(dir, sub), { recursive: true });
  const shardDocs = o.shardDocs ?? Math.max(1, Math.min(2000, Math.ceil(texts.length / (4 * o.signatureActors))));
  const shards = Array.from({ length: Math.ceil(texts.length / shardDocs) }, (_, k) => ({
    file: path.join(dir, "shards", `shard-${k}.msgpack`),
    base: k * shardDocs,
  }));
  shards.forEach((s) => writeShard(s.file, texts.slice(s.base, s.base + shardDocs)));
  return { shards, shardDocs };
}

/** The run's supervised actors: N signature actors and M reducers under one_for_one, each ready when it answers. */
function dedupActors(cluster: ClusterConnection, runId: string, o: ActorDedupOptions, logger: Logger) {
  const signers = Array.from({ length: o.signatureActors }, (_, i): DedupActor => ({
    id: `dedup-${runId}-sig${i}`,
    coords: { role: "signature", index: i },
  }));
  const reducers = Array.from({ length: o.reducers }, (_, j): DedupActor => ({
    id: `dedup-${runId}-red${j}`,
    coords: { role: "reducer", index: j },
  }));
  const group: DedupGroup = new ActorGroup<DedupActor["coords"], DedupProtocol>(
    { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
    {
      id: `dedup-${runId}`,
      members: [...signers, ...reducers],
      start: (a) => ({
        coords: { [a.coords.role === "signature" ? "s" : "r"]: a.coords.index },
        argv: ["node", "--import", tsxLoader, actorMain, "--role", a.coords.role],
      }),
      strategy: "one_for_one",
      intensity: { maxRestarts: 2 * (o.signatureActors + o.reducers), periodMs: 60_000 },
      backoff: { initialMs: 100, maxMs: 2000, jitter: 0.2 },
      // a crash is seen at once (exit report); silence is only for hung actors, and a reducer bucketing a
      // large partition computes without yielding for a while, so killing for silence waits 30 s
      timeouts: { heartbeatMs: 500, suspectMs: 5000, killMs: 30_000, stepMs: 600_000, startMs: 60_000, ...o.timeouts },
      subject: (id, verb) => dedupSubject(cluster.ns, id, verb),
      // heartbeating before it serves: "ready" is asked until it answers
      retry: { verbs: new Set(["ready"]), attemptMs: 1000 },
      probe: { verb: "ready", req: {} },
    },
  );
  let lastCrash: string | undefined;
  group.onLost((a, death) => {
    const line = crashLineOf(death);
    if (line) lastCrash = `${a.id}: ${line}`;
  });
  return { group, signers, reducers, lastCrash: () => lastCrash, ready: (a: DedupActor) => readyOn(group, a, () => lastCrash) };
}

/** Signatures → candidate pairs per partition → verification → components, as the single-process version. */
async function stages(
  r: Run,
  n: number,
  priorities: readonly number[],
  t: { t0: number; t1: number; natsUrl?: string },
): Promise<NearDuplicates> {
  const sigs = await signatureStage(r, n);
  const t2 = performance.now();
  r.note(`signatures: ${n} documents in ${((t2 - t.t1) / 1000).toFixed(2)} s`);
  const pairs = await reduceStage(r, sigs);
  const t3 = performance.now();
  r.note(`reduce: ${pairs.length / 2} candidate pairs in ${((t3 - t2) / 1000).toFixed(2)} s`);
  const sims = await verifyStage(r, pairs);
  const t4 = performance.now();
  r.note(`verify: ${sims.length} pairs in ${((t4 - t3) / 1000).toFixed(2)} s`);
  const resolved = resolveComponents(n, pairs, sims, priorities, r.config.threshold);
  const t5 = performance.now();
  return {
    ...resolved,
    candidates: pairs,
    candidateSims: sims,
    execution: {
      mode: "actors",
      signatureActors: r.signers.length,
      reducers: r.reducers.length,
      shards: r.shards.length,
      cluster: t.natsUrl ?? "embedded",
      reassignedTasks: r.reassigned(),
      actorRestarts: r.group.records().reduce((sum, a) => sum + a.restarts, 0),
    },
    seconds: {
      startup: (t.t1 - t.t0) / 1000,
      signatures: (t2 - t.t1) / 1000,
      reduce: (t3 - t2) / 1000,
      verify: (t4 - t3) / 1000,
      total: (t5 - t.t0) / 1000,
    },
  };
}

/** 2. MinHash band keys shard by shard, routed by band key to the reducers' partitions. */
async function signatureStage(r: Run, n: number) {
  let docsDone = 0;
  r.progress("fuzzy-dedup signatures", 0, n);
  return runTasks({
    ...r.farm,
    actors: r.signers,
    stage: "signatures",
    verb: "signatures",
    tasks: r.shards,
    payload: (shard, k) => ({ shard, params: r.config, reducers: r.reducers.length, outPrefix: path.join(r.dir, "bands", `shard-${k}`) }),
    onDone: (_, res) => r.progress("fuzzy-dedup signatures", (docsDone += res.docs), n),
  });
}

/** 3. Candidate pairs per partition, gathered and sorted. */
async function reduceStage(r: Run, sigs: readonly { files: string[] }[]): Promise<Uint32Array> {
  const M = r.reducers.length;
  let reduced = 0;
  r.progress("fuzzy-dedup reduce", 0, M);
  const parts = await runTasks({
    ...r.farm,
    actors: r.reducers,
    stage: "reduce",
    verb: "reduce",
    tasks: Array.from({ length: M }, (_, p) => p),
    payload: (p) => ({ files: sigs.map((s) => s.files[p]!), out: path.join(r.dir, "pairs", `partition-${p}.pair`) }),
    onDone: () => r.progress("fuzzy-dedup reduce", ++reduced, M),
  });
  const flat = parts.map((p) => readPairs(p.out));
  const all = new Uint32Array(flat.reduce((s, p) => s + p.length, 0));
  flat.reduce((at, p) => (all.set(p, at), at + p.length), 0);
  return sortPairs(all);
}

/**
 * 4. Exact Jaccard of the candidate pairs, one task per shard of the lower document; pairs are sorted by it, so
 * each shard's pairs are one contiguous run and the sims come back in global order.
 */
async function verifyStage(r: Run, pairs: Uint32Array): Promise<Float64Array> {
  const verifyTasks: Array<{ first: number; count: number; shard: number }> = [];
  for (let p = 0; p < pairs.length / 2;) {
    const shard = Math.floor(pairs[2 * p]! / r.shardDocs);
    let q = p;
    while (q < pairs.length / 2 && Math.floor(pairs[2 * q]! / r.shardDocs) === shard) q++;
    verifyTasks.push({ first: p, count: q - p, shard });
    p = q;
  }
  let verified = 0;
  r.progress("fuzzy-dedup verify", 0, pairs.length / 2);
  const sims = new Float64Array(pairs.length / 2);
  const checked = await runTasks({
    ...r.farm,
    actors: r.signers,
    stage: "verify",
    verb: "verify",
    tasks: verifyTasks,
    payload: (t) => {
      const sub = pairs.subarray(2 * t.first, 2 * (t.first + t.count));
      const file = path.join(r.dir, "verify", `shard-${t.shard}.pair`);
      writePairs(file, sub);
      const needed = new Set<number>([t.shard]);
      for (let i = 1; i < sub.length; i += 2) needed.add(Math.floor(sub[i]! / r.shardDocs));
      return {
        pairsFile: file,
        shards: [...needed].sort((a, b) => a - b).map((k) => r.shards[k]!),
        shingle: r.config.shingle,
        out: path.join(r.dir, "verify", `shard-${t.shard}.sims`),
      };
    },
    onDone: (_, res) => r.progress("fuzzy-dedup verify", (verified += res.pairs), pairs.length / 2),
  });
  checked.forEach((res, i) => sims.set(readSims(res.out), verifyTasks[i]!.first));
  return sims;
}

/** A finder for fuzzyDedup / the pipeline that runs on actors (with an optional abort signal per run). */
export function actorFinder(
  o: Omit<ActorDedupOptions, "onProgress" | "signal">,
): (...args: [...Parameters<NearDuplicateFinder>, AbortSignal?]) => Promise<NearDuplicates> {
  return (texts, priorities, config, onProgress, signal) =>
    findNearDuplicatesWithActors(texts, priorities, config, { ...o, ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
}
