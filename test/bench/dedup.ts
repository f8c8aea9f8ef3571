// Fuzzy dedup benchmark (MT-NLG settings: 5-char shingles, 20 bands × 13 rows, Jaccard ≥ 0.8).
// 1. Throughput on the Brown corpus (real text): documents/s and MB/s for MinHash signatures and
//    for the whole fuzzy dedup, with 1, 2 and 4 worker threads (pool start-up excluded).
// 2. Accuracy on a generated corpus with planted near-duplicate pairs at known Jaccard 0.5–0.95:
//    per similarity bin, the observed LSH candidate rate beside the theory 1−(1−J^13)^20, and the
//    precision/recall of "removed as duplicate" against the truth "exact Jaccard ≥ 0.8".
// Usage: npm run bench -- dedup [--pairs-per-bin N]
import { findNearDuplicates, startFuzzyPool, type FuzzyDedupConfig } from "../../actors/curation/fuzzy-dedup.ts";
import { candidateProbability } from "../../actors/curation/minhash.ts";
import { loadBrown } from "../../actors/curation/brown.ts";
import { utf8Bytes } from "../../actors/curation/text-util.ts";
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
for (const workers of [1, 2, 4]) {
  const pool = startFuzzyPool(workers);
  try {
    await findNearDuplicates(brown.slice(0, workers * 2), prio, CONFIG, { pool }); // warm the workers up
    const r = await findNearDuplicates(brown, prio, CONFIG, { pool });
    const sig = r.seconds.signatures;
    const total = r.seconds.total;
    figures[`signatures_docs_per_s_w${workers}`] = brown.length / sig;
    figures[`signatures_mb_per_s_w${workers}`] = mb / sig;
    figures[`fuzzy_docs_per_s_w${workers}`] = brown.length / total;
    figures[`fuzzy_mb_per_s_w${workers}`] = mb / total;
    console.log(
      `  ${workers} worker(s): signatures ${(brown.length / sig).toFixed(0)} docs/s ${(mb / sig).toFixed(2)} MB/s; ` +
        `whole fuzzy dedup ${(brown.length / total).toFixed(0)} docs/s ${(mb / total).toFixed(2)} MB/s ` +
        `(${r.candidates.length / 2} candidate pairs, ${r.edges.length} duplicates)`,
    );
  } finally {
    await pool.close();
  }
}

// --- 2. accuracy on planted near-duplicates ---
const targets = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];
const { texts, pairs } = plantedCorpus(2024, pairsPerBin * targets.length, 200, targets);
console.log(`accuracy: ${texts.length} generated documents, ${pairs.length} planted pairs (${pairsPerBin} per target similarity)`);
const found = await findNearDuplicates(texts, texts.map(() => 0), { ...CONFIG, workers: 2 });
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
Object.assign(figures, { precision, recall, recall_j_ge_0_9: recallHigh, unplanted_candidate_pairs: unplanted, max_rate_gap_beyond_noise: maxGap });
console.log(`  precision ${precision.toFixed(3)}  recall ${recall.toFixed(3)} (truth: exact J ≥ 0.8)  recall at J ≥ 0.9 ${recallHigh.toFixed(3)}`);
console.log(`  candidate pairs between unrelated documents: ${unplanted}`);
console.log("  recall at J just above 0.8 is bounded by the LSH curve (≈0.68 at J = 0.8), as in MT-NLG/NeMo");

const speedup = figures.signatures_docs_per_s_w2! / figures.signatures_docs_per_s_w1!;
figures.signature_speedup_w2 = speedup;
const target = (op: ">=" | "<=", value: number, actual: number) => ({ op, value, actual, met: op === ">=" ? actual >= value : actual <= value });
console.log(
  JSON.stringify({
    bench: "dedup",
    figures,
    targets: {
      precision: target(">=", 0.99, precision),
      recall_j_ge_0_9: target(">=", 0.95, recallHigh),
      max_rate_gap_beyond_noise: target("<=", 0.05, maxGap),
      signature_speedup_w2: target(">=", 1.3, speedup),
    },
  }),
);
