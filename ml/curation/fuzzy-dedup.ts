// Fuzzy dedup as MT-NLG / NeMo Curator: MinHash over character 5-grams, LSH 20 bands × 13 rows,
// candidate pairs verified by exact Jaccard ≥ 0.8, union-find connected components, one document
// kept per component (highest dataset priority, then input order).
//
// In process: documents are sharded over worker threads; each band key is routed to reducer
// (key mod R) which buckets it and emits candidate pairs; pairs are verified by the worker holding
// their lower document; this thread routes and runs union-find. The same work spread over actor
// processes is actor-fuzzy-dedup.ts (same routing, same result); fuzzyDedup takes either finder.
import type { CurationDoc, ProgressFn, StageReport } from "./types.ts";
import type { FuzzyReply, FuzzyRequest } from "./fuzzy-protocol.ts";
import type { MinHashParams } from "./minhash.ts";
import { sortPairs, type BandEntries } from "./lsh-reduce.ts";
import { resolveComponents, type DuplicateComponents } from "./duplicate-components.ts";
import { WorkerPool } from "./worker-pool.ts";
import { StageTally } from "./stage-tally.ts";

export interface FuzzyDedupConfig extends MinHashParams {
  /** Verified pairs with exact Jaccard ≥ threshold are duplicates (0.8). */
  threshold: number;
  /** Worker threads (signature actors and band reducers). */
  workers: number;
}

export type FuzzyPool = WorkerPool<FuzzyRequest, FuzzyReply>;

export function startFuzzyPool(workers: number): FuzzyPool {
  return WorkerPool.start<FuzzyRequest, FuzzyReply>(new URL("./fuzzy-worker.ts", import.meta.url), workers);
}

export interface NearDuplicates extends DuplicateComponents {
  /** Every LSH candidate pair, flattened [lo0, hi0, …], and its exact Jaccard. */
  candidates: Uint32Array;
  candidateSims: Float64Array;
  /** How the work was spread (worker threads or actors), for the report. */
  execution: Record<string, unknown>;
  /** startup: starting actors (absent for worker threads, whose start is not timed). */
  seconds: { startup?: number; signatures: number; reduce: number; verify: number; total: number };
}

function shardBounds(n: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, i) => Math.round((i * n) / parts));
}

/** The shard (worker) holding document `doc`. */
function ownerOf(bounds: readonly number[], doc: number): number {
  let w = 0;
  while (doc >= bounds[w + 1]!) w++;
  return w;
}

/** Map: every worker computes the MinHash band keys of its shard; keys[doc·bands + band]. */
async function computeBandKeys(
  pool: FuzzyPool,
  bounds: readonly number[],
  config: FuzzyDedupConfig,
  progress: ProgressFn,
): Promise<Float64Array> {
  const W = pool.size;
  const n = bounds[W]!;
  const { bands } = config;
  const keys = new Float64Array(n * bands);
  const shardDone = new Array<number>(W).fill(0);
  const report = (): void =>
    progress(
      "fuzzy-dedup signatures",
      shardDone.reduce((s, x) => s + x, 0),
      n,
    );
  pool.onProgress = (w, msg) => {
    if (msg.op === "progress") shardDone[w] = msg.done;
    report();
  };
  report();
  await Promise.all(
    Array.from({ length: W }, async (_, w) => {
      const rep = await pool.call<Extract<FuzzyReply, { op: "signatures" }>>(w, { op: "signatures", params: config });
      keys.set(rep.keys, rep.base * bands);
      shardDone[w] = bounds[w + 1]! - bounds[w]!;
      report();
    }),
  );
  pool.onProgress = undefined;
  return keys;
}

/** Shuffle: every (band, key, doc) goes to reducer key mod R, in document order. */
function routeBandKeys(keys: Float64Array, bands: number, R: number): BandEntries[] {
  const counts = new Array<number>(R).fill(0);
  for (let i = 0; i < keys.length; i++) counts[keys[i]! % R]! += 1;
  const routed: BandEntries[] = counts.map((c) => ({ band: new Uint16Array(c), key: new Float64Array(c), doc: new Uint32Array(c) }));
  const fill = new Array<number>(R).fill(0);
  for (let i = 0; i < keys.length; i++) {
    const r = keys[i]! % R;
    const at = fill[r]!++;
    routed[r]!.band[at] = i % bands;
    routed[r]!.key[at] = keys[i]!;
    routed[r]!.doc[at] = Math.floor(i / bands);
  }
  return routed;
}

/** Reduce: reducer r (worker r) buckets its entries; their candidate pairs, together and sorted. */
async function reduceCandidates(pool: FuzzyPool, routed: BandEntries[]): Promise<Uint32Array> {
  const reduced = await Promise.all(
    routed.map((entries, r) =>
      pool.call<Extract<FuzzyReply, { op: "reduce" }>>(r, { op: "reduce", entries }, [
        entries.band.buffer as ArrayBuffer,
        entries.key.buffer as ArrayBuffer,
        entries.doc.buffer as ArrayBuffer,
      ]),
    ),
  );
  const all = new Uint32Array(reduced.reduce((s, r) => s + r.pairs.length, 0));
  let at = 0;
  for (const r of reduced) {
    all.set(r.pairs, at);
    at += r.pairs.length;
  }
  return sortPairs(all);
}

/** Verify: each pair goes to the worker holding its lower document, with any text it lacks; the exact Jaccard of each. */
async function verifyPairs(
  pool: FuzzyPool,
  bounds: readonly number[],
  texts: readonly string[],
  pairs: Uint32Array,
  shingle: number,
  progress: ProgressFn,
): Promise<Float64Array> {
  const perWorker: number[][] = Array.from({ length: pool.size }, () => []);
  for (let p = 0; p < pairs.length / 2; p++) perWorker[ownerOf(bounds, pairs[2 * p]!)]!.push(p);
  progress("fuzzy-dedup verify", 0, pairs.length / 2);
  const sims = new Float64Array(pairs.length / 2);
  let verified = 0;
  await Promise.all(
    perWorker.map(async (list, w) => {
      if (list.length === 0) return;
      const sub = new Uint32Array(list.length * 2);
      const foreign: Record<number, string> = {};
      list.forEach((p, k) => {
        sub[2 * k] = pairs[2 * p]!;
        sub[2 * k + 1] = pairs[2 * p + 1]!;
        for (const d of [pairs[2 * p]!, pairs[2 * p + 1]!]) if (ownerOf(bounds, d) !== w) foreign[d] = texts[d]!;
      });
      const rep = await pool.call<Extract<FuzzyReply, { op: "verify" }>>(w, { op: "verify", shingle, pairs: sub, foreign });
      list.forEach((p, k) => (sims[p] = rep.sims[k]!));
      verified += list.length;
      progress("fuzzy-dedup verify", verified, pairs.length / 2);
    }),
  );
  return sims;
}

/**
 * Finds near-duplicates among `texts`. `priorities[i]` decides which member of a component stays.
 * Pass `pool` to reuse running workers (its size overrides config.workers).
 */
export async function findNearDuplicates(
  texts: readonly string[],
  priorities: readonly number[],
  config: FuzzyDedupConfig,
  opts: { pool?: FuzzyPool; onProgress?: ProgressFn } = {},
): Promise<NearDuplicates> {
  const t0 = performance.now();
  const n = texts.length;
  const pool = opts.pool ?? startFuzzyPool(Math.max(1, Math.min(config.workers, n || 1)));
  const progress = opts.onProgress ?? (() => {});
  try {
    const W = pool.size;
    const bounds = shardBounds(n, W);
    await Promise.all(
      Array.from({ length: W }, (_, w) => pool.call(w, { op: "load", base: bounds[w]!, texts: texts.slice(bounds[w], bounds[w + 1]) })),
    );
    const keys = await computeBandKeys(pool, bounds, config, progress);
    const t1 = performance.now();
    const pairs = await reduceCandidates(pool, routeBandKeys(keys, config.bands, W));
    const t2 = performance.now();
    const sims = await verifyPairs(pool, bounds, texts, pairs, config.shingle, progress);
    const t3 = performance.now();
    const resolved = resolveComponents(n, pairs, sims, priorities, config.threshold);
    const t4 = performance.now();
    return {
      ...resolved,
      candidates: pairs,
      candidateSims: sims,
      execution: { mode: "worker threads", workers: W },
      seconds: { signatures: (t1 - t0) / 1000, reduce: (t2 - t1) / 1000, verify: (t3 - t2) / 1000, total: (t4 - t0) / 1000 },
    };
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/** Finds near-duplicates some way (worker threads in this process, or actors); same result either way. */
export type NearDuplicateFinder = (
  texts: readonly string[],
  priorities: readonly number[],
  config: FuzzyDedupConfig,
  onProgress?: ProgressFn,
) => Promise<NearDuplicates>;

export const inProcessFinder: NearDuplicateFinder = (texts, priorities, config, onProgress) =>
  findNearDuplicates(texts, priorities, config, onProgress ? { onProgress } : {});

export async function fuzzyDedup(
  docs: readonly CurationDoc[],
  config: FuzzyDedupConfig,
  onProgress?: ProgressFn,
  finder: NearDuplicateFinder = inProcessFinder,
): Promise<{ docs: CurationDoc[]; report: StageReport }> {
  const tally = new StageTally("fuzzy-dedup", docs);
  const found = await finder(
    docs.map((d) => d.text),
    docs.map((d) => d.priority),
    config,
    onProgress,
  );
  const simWith = new Map<string, number>();
  for (const [a, b, s] of found.edges) simWith.set(`${a}:${b}`, s);
  const out: CurationDoc[] = [];
  docs.forEach((doc, i) => {
    if (found.keep[i]) {
      out.push(doc);
      return;
    }
    const kept = found.keptFor.get(i)!;
    const s = simWith.get(i < kept ? `${i}:${kept}` : `${kept}:${i}`);
    const note =
      `kept ${docs[kept]!.id} (${docs[kept]!.dataset}, priority ${docs[kept]!.priority})` +
      (s === undefined ? ", same component" : `, jaccard ${s.toFixed(3)}`);
    tally.remove(doc, `near-duplicate (jaccard ≥ ${config.threshold})`, { note });
  });
  Object.assign(tally.details, {
    shingle: config.shingle,
    bands: config.bands,
    rows: config.rows,
    threshold: config.threshold,
    ...found.execution,
    candidatePairs: found.candidateSims.length,
    verifiedDuplicatePairs: found.edges.length,
    components: found.components,
    seconds: found.seconds,
  });
  return { docs: out, report: tally.finish(out) };
}
