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
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import { connectNats } from "../../runtime/connection.ts";
import type { Logger } from "../../runtime/logger.ts";
import { Supervisor } from "../../runtime/supervisor.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import type { Timeouts } from "../../runtime/types.ts";
import { connectOrEmbed } from "../../runtime/cluster/embedded-cluster.ts";
import type { ReduceReply, SignaturesReply, VerifyReply } from "./dedup-actor-protocol.ts";
import { DedupActorGroup, DedupActorsError, runTasks, type TaskStart } from "./dedup-actor-group.ts";
import { readPairs, readSims, writePairs, writeShard } from "./dedup-files.ts";
import { resolveComponents } from "../../ml/curation/duplicate-components.ts";
import type { FuzzyDedupConfig, NearDuplicateFinder, NearDuplicates } from "../../ml/curation/fuzzy-dedup.ts";
import { sortPairs } from "../../ml/curation/lsh-reduce.ts";
import type { ProgressFn } from "../../ml/curation/types.ts";

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

export async function findNearDuplicatesWithActors(
  texts: readonly string[],
  priorities: readonly number[],
  config: FuzzyDedupConfig,
  o: ActorDedupOptions,
): Promise<NearDuplicates> {
  checkCount("signature actors", o.signatureActors);
  checkCount("reducers", o.reducers);
  if (o.shardDocs !== undefined && !(Number.isInteger(o.shardDocs) && o.shardDocs >= 1)) throw new RangeError(`shardDocs must be a positive integer, got ${o.shardDocs}`);
  const t0 = performance.now();
  const n = texts.length;
  const N = o.signatureActors;
  const M = o.reducers;
  const note = o.onNote ?? (() => {});
  const progress = o.onProgress ?? (() => {});
  if (n === 0) {
    const none = { startup: 0, signatures: 0, reduce: 0, verify: 0, total: 0 };
    return { ...resolveComponents(0, new Uint32Array(0), new Float64Array(0), [], config.threshold), candidates: new Uint32Array(0), candidateSims: new Float64Array(0), execution: { mode: "actors", signatureActors: 0, reducers: 0, shards: 0 }, seconds: none };
  }
  if (o.natsUrl !== undefined) {
    // connectOrEmbed keeps dialling a cluster that is not there; a dedup should fail fast instead
    const probe = await connectNats({ url: o.natsUrl, token: o.token, name: "fuzzy-dedup-probe", waitOnFirstConnect: false, timeoutMs: 3000 });
    await probe.close();
  }
  const runId = randomBytes(4).toString("hex");
  const runDir = path.join(path.resolve(o.workDir), `fuzzy-dedup-${runId}`);
  for (const sub of ["shards", "bands", "pairs", "verify"]) mkdirSync(path.join(runDir, sub), { recursive: true });

  const shardDocs = o.shardDocs ?? Math.max(1, Math.min(2000, Math.ceil(n / (4 * N))));
  const shards = Array.from({ length: Math.ceil(n / shardDocs) }, (_, k) => ({ file: path.join(runDir, "shards", `shard-${k}.msgpack`), base: k * shardDocs }));
  shards.forEach((s) => writeShard(s.file, texts.slice(s.base, s.base + shardDocs)));

  const logger = o.logger ?? pino({ level: "silent" });
  // a crash is seen at once (exit report); silence is only for hung actors, and a reducer bucketing a
  // large partition computes without yielding for a while, so killing for silence waits 30 s
  const timeouts = validateTimeouts({ heartbeatMs: 500, suspectMs: 5000, killMs: 30_000, stepMs: 600_000, startMs: 60_000, ...o.timeouts });
  let supervisor: Supervisor | undefined;
  let group: DedupActorGroup | undefined;
  /** Set once the run is over (done, failed or interrupted): actors dying now are being stopped. */
  let ending: string | undefined;
  const removeRunDir = () => {
    if (!o.keepFiles) rmSync(runDir, { recursive: true, force: true });
  };
  const cluster = await connectOrEmbed({
    url: o.natsUrl,
    token: o.token,
    clusterId: o.clusterId ?? "local",
    dir: runDir,
    slots: N + M,
    logger,
    onStatus: (s) => supervisor?.connectionChanged(s),
  }).catch((err: unknown) => {
    removeRunDir();
    throw err;
  });
  const interrupted = new Promise<never>((_, reject) => {
    const stop = () => reject(new DedupActorsError(`fuzzy dedup interrupted${o.signal?.reason ? ` (${String(o.signal.reason)})` : ""}`));
    if (o.signal?.aborted) stop();
    else o.signal?.addEventListener("abort", stop, { once: true });
  });
  interrupted.catch(() => undefined);
  const work = async (): Promise<NearDuplicates> => {
    const sigIds = Array.from({ length: N }, (_, i) => `dedup-${runId}-sig${i}`);
    const redIds = Array.from({ length: M }, (_, j) => `dedup-${runId}-red${j}`);
    const child = (id: string, role: string, index: number) => ({ id, coords: { [role === "signature" ? "s" : "r"]: index }, argv: ["node", "--import", tsxLoader, actorMain, "--role", role] });
    supervisor = new Supervisor(
      { nc: cluster.nc, ns: cluster.ns, registry: cluster.registry, events: cluster.events, logger },
      {
        id: `dedup-${runId}`,
        strategy: "one_for_one",
        intensity: validateIntensity({ maxRestarts: 2 * (N + M), periodMs: 60_000 }),
        backoff: validateBackoff({ initialMs: 100, maxMs: 2000, jitter: 0.2 }),
        timeouts,
        children: [...sigIds.map((id, i) => child(id, "signature", i)), ...redIds.map((id, j) => child(id, "reducer", j))],
      },
    );
    const actors = new DedupActorGroup({ nc: cluster.nc, ns: cluster.ns, supervisor, taskTimeoutMs: timeouts.stepMs, startTimeoutMs: timeouts.startMs });
    group = actors;
    await supervisor.start();
    await Promise.all([...sigIds, ...redIds].map((id) => actors.ready(id)));
    const t1 = performance.now();
    note(`${N} signature actor(s) and ${M} reducer(s) up in ${((t1 - t0) / 1000).toFixed(1)} s (${o.natsUrl ? `cluster ${o.natsUrl}` : "embedded cluster"}); ${n} documents in ${shards.length} shard(s)`);
    let reassigned = 0;
    const common = {
      group: actors,
      maxAttempts: MAX_ATTEMPTS,
      ...(o.onTaskStart ? { onStart: o.onTaskStart } : {}),
      onReassigned: (e: TaskStart & { cause: string }) => {
        if (ending) return;
        reassigned++;
        note(`${e.stage}: ${e.actorId} (pid ${e.pid}) lost (${e.cause}); task ${e.task} reassigned`);
      },
    };

    // 2. signatures, routed by band key to the reducers' partitions
    let docsDone = 0;
    progress("fuzzy-dedup signatures", 0, n);
    const sigs = await runTasks<(typeof shards)[number], SignaturesReply>({
      ...common,
      actorIds: sigIds,
      stage: "signatures",
      verb: "signatures",
      tasks: shards,
      payload: (shard, k) => ({ shard, params: config, reducers: M, outPrefix: path.join(runDir, "bands", `shard-${k}`) }),
      onDone: (_, r) => progress("fuzzy-dedup signatures", (docsDone += r.docs), n),
    });
    const t2 = performance.now();
    note(`signatures: ${n} documents in ${((t2 - t1) / 1000).toFixed(2)} s`);

    // 3. candidate pairs per partition
    let reduced = 0;
    progress("fuzzy-dedup reduce", 0, M);
    const parts = await runTasks<number, ReduceReply>({
      ...common,
      actorIds: redIds,
      stage: "reduce",
      verb: "reduce",
      tasks: Array.from({ length: M }, (_, r) => r),
      payload: (r) => ({ files: sigs.map((s) => s.files[r]!), out: path.join(runDir, "pairs", `partition-${r}.pair`) }),
      onDone: () => progress("fuzzy-dedup reduce", ++reduced, M),
    });
    const flat = parts.map((p) => readPairs(p.out));
    const all = new Uint32Array(flat.reduce((s, p) => s + p.length, 0));
    flat.reduce((at, p) => (all.set(p, at), at + p.length), 0);
    const pairs = sortPairs(all);
    const t3 = performance.now();
    note(`reduce: ${pairs.length / 2} candidate pairs in ${((t3 - t2) / 1000).toFixed(2)} s`);

    // 4. verification, one task per shard of the lower document; pairs are sorted by it, so each
    // shard's pairs are one contiguous run and the sims come back in global order
    const verifyTasks: Array<{ first: number; count: number; shard: number }> = [];
    for (let p = 0; p < pairs.length / 2; ) {
      const shard = Math.floor(pairs[2 * p]! / shardDocs);
      let q = p;
      while (q < pairs.length / 2 && Math.floor(pairs[2 * q]! / shardDocs) === shard) q++;
      verifyTasks.push({ first: p, count: q - p, shard });
      p = q;
    }
    let verified = 0;
    progress("fuzzy-dedup verify", 0, pairs.length / 2);
    const sims = new Float64Array(pairs.length / 2);
    const checked = await runTasks<(typeof verifyTasks)[number], VerifyReply>({
      ...common,
      actorIds: sigIds,
      stage: "verify",
      verb: "verify",
      tasks: verifyTasks,
      payload: (t) => {
        const sub = pairs.subarray(2 * t.first, 2 * (t.first + t.count));
        const file = path.join(runDir, "verify", `shard-${t.shard}.pair`);
        writePairs(file, sub);
        const needed = new Set<number>([t.shard]);
        for (let i = 1; i < sub.length; i += 2) needed.add(Math.floor(sub[i]! / shardDocs));
        return { pairsFile: file, shards: [...needed].sort((a, b) => a - b).map((k) => shards[k]!), shingle: config.shingle, out: path.join(runDir, "verify", `shard-${t.shard}.sims`) };
      },
      onDone: (_, r) => progress("fuzzy-dedup verify", (verified += r.pairs), pairs.length / 2),
    });
    checked.forEach((r, i) => sims.set(readSims(r.out), verifyTasks[i]!.first));
    const t4 = performance.now();
    note(`verify: ${sims.length} pairs in ${((t4 - t3) / 1000).toFixed(2)} s`);

    const resolved = resolveComponents(n, pairs, sims, priorities, config.threshold);
    const t5 = performance.now();
    return {
      ...resolved,
      candidates: pairs,
      candidateSims: sims,
      execution: {
        mode: "actors",
        signatureActors: N,
        reducers: M,
        shards: shards.length,
        cluster: o.natsUrl ?? "embedded",
        reassignedTasks: reassigned,
        actorRestarts: actors.restarts,
      },
      seconds: { startup: (t1 - t0) / 1000, signatures: (t2 - t1) / 1000, reduce: (t3 - t2) / 1000, verify: (t4 - t3) / 1000, total: (t5 - t0) / 1000 },
    };
  };
  try {
    return await Promise.race([work(), interrupted]);
  } finally {
    ending = o.signal?.aborted ? "fuzzy dedup interrupted" : "fuzzy dedup over";
    group?.close();
    await supervisor?.stop(ending).catch(() => undefined);
    await cluster.close();
    removeRunDir();
  }
}

/** A finder for fuzzyDedup / the pipeline that runs on actors (with an optional abort signal per run). */
export function actorFinder(o: Omit<ActorDedupOptions, "onProgress" | "signal">): (...args: [...Parameters<NearDuplicateFinder>, AbortSignal?]) => Promise<NearDuplicates> {
  return (texts, priorities, config, onProgress, signal) =>
    findNearDuplicatesWithActors(texts, priorities, config, { ...o, ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
}
