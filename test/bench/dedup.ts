// Fuzzy dedup benchmark (MT-NLG settings: 5-char shingles, 20 bands × 13 rows, Jaccard ≥ 0.8).
// 1. Throughput on the Brown corpus (real text): documents/s and MB/s for MinHash signatures and
//    for the whole fuzzy dedup, with 1, 2 and 4 signature actors (supervised processes on an embedded
//    nats-server + host agent; reducers = half of them, at least 1; actor start-up timed apart), beside
//    the in-process run on one worker thread.
// 2. Accuracy on a generated corpus with planted near-duplicate pairs at known Jaccard 0.5–0.95:
//    per similarity bin, the observed LSH candidate rate beside the theory 1−(1−J^13)^20, and the
//    precision/recall of "removed as duplicate" against the truth "exact Jaccard ≥ 0.8" (on 2 actors).
// Usage: npm run bench -- dedup [--pairs-per-bin N]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { findNearDuplicates, startFuzzyPool, type FuzzyDedupConfig, type NearDuplicates } from "../../ml/curation/fuzzy-dedup.ts";
import { findNearDuplicatesWithActors } from "../../actors/dedup/actor-fuzzy-dedup.ts";
import { candidateProbability } from "../../ml/curation/minhash.ts";
import { loadBrown } from "../../ml/curation/brown.ts";
import { utf8Bytes } from "../../ml/curation/text-util.ts";
import { plantedCorpus } from "../curation/near-duplicates.ts";

const args = process.argv.slice(2);
const perBinArg = args.indexOf("--pairs-per-bin");
const pairsPerBin = perBinArg >= 0 ? Number(args[perBinArg + 1]) : 40;
if (!Number.isInteger(pairsPerBin) || pairsPerBin < 1) throw new Error(`--pairs-per-bin must be a positive integer`);

const CONFIG: FuzzyDedupConfig = { shingle: 5, bands: 20, rows: 13, seed: 1, threshold: 0.8, workers: 1 };
const figures: Record<string, number> = {};

// --- 1. throughput ---
const brown = loadBrown().map((d) => d.text);
const mb = brown.reduce((s, t) => s + utf8Bytes(t), 0) / 1e6;
console.log(`throughput: Brown corpus, ${brown.length} documents, ${mb.toFixed(2)} MB`);
const prio = brown.map(() => 0);
const workDir = mkdtempSync(path.join(tmpdir(), "troupe-bench-dedup-"));
const onActors = (texts: readonly string[], priorities: readonly number[], actors: number): Promise<NearDuplicates> =>
  findNearDuplicatesWithActors(texts, priorities, CONFIG, {
    signatureActors: actors,
    reducers: Math.max(1, Math.floor(actors / 2)),
    workDir,
  });
const line = (what: string, r: NearDuplicates, work: number) => {
  const sig = r.seconds.signatures;
  console.log(
    `  ${what}: signatures ${(brown.length / sig).toFixed(0)} docs/s ${(mb / sig).toFixed(2)} MB/s; ` +
      `whole fuzzy dedup ${(brown.length / work).toFixed(0)} docs/s ${(mb / work).toFixed(2)} MB/s` +
      (r.seconds.startup !== undefined ? ` (+ ${r.seconds.startup.toFixed(2)} s to start the actors)` : "") +
      ` (${r.candidates.length / 2} candidate pairs, ${r.edges.length} duplicates)`,
  );
};
let reference: NearDuplicates;
{
  const pool = startFuzzyPool(1);
  try {
    await findNearDuplicates(brown.slice(0, 2), prio, CONFIG, { pool }); // warm the worker up
    reference = await findNearDuplicates(brown, prio, CONFIG, { pool });
  } finally {
    await pool.close();
  }
  figures.inprocess_signatures_docs_per_s = brown.length / reference.seconds.signatures;
  figures.inprocess_fuzzy_docs_per_s = brown.length / reference.seconds.total;
  line("in process, 1 worker thread", reference, reference.seconds.total);
}
let identical = true;
for (const actors of [1, 2, 4]) {
  const r = await onActors(brown, prio, actors);
  // the whole dedup once the actors are up: signatures, shuffle, reduce, verify, union-find
  const work = r.seconds.total - r.seconds.startup!;
  figures[`signatures_docs_per_s_a${actors}`] = brown.length / r.seconds.signatures;
  figures[`signatures_mb_per_s_a${actors}`] = mb / r.seconds.signatures;
  figures[`fuzzy_docs_per_s_a${actors}`] = brown.length / work;
  figures[`fuzzy_mb_per_s_a${actors}`] = mb / work;
  figures[`actor_startup_s_a${actors}`] = r.seconds.startup!;
  identical &&= JSON.stringify(r.keep) === JSON.stringify(reference.keep) && JSON.stringify(r.edges) === JSON.stringify(reference.edges);
  line(`${actors} signature actor(s), ${r.execution.reducers} reducer(s), ${r.execution.shards} shards`, r, work);
}

// --- 2. accuracy on planted near-duplicates ---
const targets = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];
const { texts, pairs } = plantedCorpus(2024, pairsPerBin * targets.length, 200, targets);
console.log(`accuracy: ${texts.length} generated documents, ${pairs.length} planted pairs (${pairsPerBin} per target similarity)`);
const found = await onActors(
  texts,
  texts.map(() => 0),
  2,
);
rmSync(workDir, { recursive: true, force: true });
const inProcess = await findNearDuplicates(
  texts,
  texts.map(() => 0),
  { ...CONFIG, workers: 1 },
);
identical &&=
  JSON.stringify(found.keep) === JSON.stringify(inProcess.keep) && JSON.stringify(found.edges) === JSON.stringify(inProcess.edges);
console.log(`  actors' results (Brown and this corpus) identical to the in-process ones: ${identical ? "yes" : "NO"}`);
figures.identical_to_in_process = identical ? 1 : 0;
const candidate = new Set<number>();
for (let p = 0; p < found.candidates.length; p += 2) candidate.add(found.candidates[p]! * 67108864 + found.candidates[p + 1]!);
const plantedSet = new Set(pairs.map((p) => p.a * 67108864 + p.b));
let unplanted = 0;
for (const key of candidate) if (!plantedSet.has(key)) unplanted += 1;

console.log("  bin     pairs  mean J  candidate rate  theory 1-(1-J^13)^20  removed");
let maxGap = 0;
let tp = 0;
let fp = 0;
let fn = 0;
for (let b = 0; b < targets.length; b++) {
  const lo = targets[b]! - 0.025;
  const hi = targets[b]! + 0.025;
  const bin = pairs.filter((p) => p.jaccard >= lo && p.jaccard < hi);
  if (bin.length === 0) continue;
  const meanJ = bin.reduce((s, p) => s + p.jaccard, 0) / bin.length;
  const rate = bin.filter((p) => candidate.has(p.a * 67108864 + p.b)).length / bin.length;
  const theory = bin.reduce((s, p) => s + candidateProbability(p.jaccard, 20, 13), 0) / bin.length;
  const removed = bin.filter((p) => !found.keep[p.b]).length / bin.length;
  // the gap is only meaningful with enough pairs: allow the binomial noise of the bin
  const noise = 2 * Math.sqrt((theory * (1 - theory)) / bin.length);
  maxGap = Math.max(maxGap, Math.abs(rate - theory) - noise);
  console.log(
    `  ${targets[b]!.toFixed(2)}  ${String(bin.length).padStart(6)}  ${meanJ.toFixed(3)}  ${rate.toFixed(3).padStart(14)}  ${theory.toFixed(3).padStart(20)}  ${removed.toFixed(3).padStart(7)}`,
  );
}
for (const p of pairs) {
  const dup = p.jaccard >= 0.8;
  const removed = !found.keep[p.b];
  if (dup && removed) tp++;
  else if (removed) fp++;
  else if (dup) fn++;
}
// a removal of an original (not the planted copy) would be a false positive too
fp += pairs.filter((p) => !found.keep[p.a]).length;
const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
const highPairs = pairs.filter((p) => p.jaccard >= 0.9);
const recallHigh = highPairs.filter((p) => !found.keep[p.b]).length / highPairs.length;
Object.assign(figures, {
  precision,
  recall,
  recall_j_ge_0_9: recallHigh,
  unplanted_candidate_pairs: unplanted,
  max_rate_gap_beyond_noise: maxGap,
});
console.log(
  `  precision ${precision.toFixed(3)}  recall ${recall.toFixed(3)} (truth: exact J ≥ 0.8)  recall at J ≥ 0.9 ${recallHigh.toFixed(3)}`,
);
console.log(`  candidate pairs between unrelated documents: ${unplanted}`);
console.log("  recall at J just above 0.8 is bounded by the LSH curve (≈0.68 at J = 0.8), as in MT-NLG/NeMo");

const speedup = figures.signatures_docs_per_s_a2! / figures.signatures_docs_per_s_a1!;
figures.signature_speedup_a2 = speedup;
const target = (op: ">=" | "<=", value: number, actual: number) => ({
  op,
  value,
  actual,
  met: op === ">=" ? actual >= value : actual <= value,
});
console.log(
  JSON.stringify({
    bench: "dedup",
    figures,
    targets: {
      precision: target(">=", 0.99, precision),
      recall_j_ge_0_9: target(">=", 0.95, recallHigh),
      max_rate_gap_beyond_noise: target("<=", 0.05, maxGap),
      signature_speedup_a2: target(">=", 1.3, speedup),
      identical_to_in_process: target(">=", 1, identical ? 1 : 0),
    },
  }),
);
