// The tied LM head of the last pipeline stage over a vocabulary split across the TP ranks (rank t holds wte
// rows [vocabStart, vocabStart + vocabRows)), forward only, after the final LayerNorm.
//  - Scoring: per-token log-probabilities of given targets, and whether each target is the first argmax, from
//    the softmax statistics the training loss combines across ranks (vocab-parallel.ts), plus the first index of
//    the max: the [rows, vocab] logits never exist on one rank.
//  - Decoding: the whole next-token logits of the last position, gathered (one row per sequence, for sampling).
import { chunkStatistics, type VocabContext } from "./vocab-parallel.ts";
import type { HeadScratch } from "./stage-activations.ts";
import { allReduceAfter } from "./tp-mappings.ts";

export interface TokenScores {
  /** log P(target | prefix) of each row */
  logProbs: Float32Array;
  /** 1 where the target is the most likely token (the first one on ties), else 0 */
  isArgmax: Uint8Array;
}

/**
 * Scores of `rows` rows of final-LayerNormed hidden states `x` [rows, d] against `targets`, c.shape.headChunkRows
 * rows at a time (so the local logits stay [chunk, vocabRows]). Every TP rank of the stage must call it together.
 */
export async function scoreTargets(
  c: VocabContext,
  x: Float32Array,
  targets: Int32Array,
  rows: number,
  wte: Float32Array,
  s: HeadScratch,
): Promise<TokenScores> {
  const { dModel: d, vocabRows: cols, headChunkRows } = c.shape;
  const logProbs = new Float32Array(rows);
  const isArgmax = new Uint8Array(rows);
  const first = new Float32Array(headChunkRows);
  for (let r0 = 0; r0 < rows; r0 += headChunkRows) {
    const n = Math.min(headChunkRows, rows - r0);
    const tg = targets.subarray(r0, r0 + n),
      firstMax = first.subarray(0, n);
    const { logits, rowMax, sumExp, target } = await chunkStatistics(c, x.subarray(r0 * d, (r0 + n) * d), tg, wte, s, n);
    for (let r = 0; r < n; r++) {
      // exact comparison: the global max is one of the logits of the rank that holds it
      const j = logits.subarray(r * cols, (r + 1) * cols).indexOf(rowMax[r]!);
      firstMax[r] = j < 0 ? c.vocabTotal : c.vocabStart + j;
    }
    await allReduceAfter(c.tp, firstMax, "min");
    for (let r = 0; r < n; r++) {
      logProbs[r0 + r] = target[r]! - rowMax[r]! - Math.log(sumExp[r]!);
      isArgmax[r0 + r] = firstMax[r] === tg[r] ? 1 : 0;
    }
  }
  return { logProbs, isArgmax };
}

/** Whole logits [rows, vocabTotal] of `rows` final-LayerNormed hidden states, on every TP rank of the stage. */
export async function gatherLogits(c: VocabContext, x: Float32Array, rows: number, wte: Float32Array): Promise<Float32Array> {
  const { dModel: d, vocabRows: cols } = c.shape;
  const local = c.stream.backend.alloc(rows * cols);
  c.stream.add("linearForward", { x, weight: wte, bias: null, residual: null, out: local, rows, inFeatures: d, outFeatures: cols });
  await c.stream.flush();
  if (c.tp.size === 1) return Float32Array.from(local);
  const parts = await c.tp.allGather(local); // [tp][rows][cols]
  const out = new Float32Array(rows * c.vocabTotal);
  for (let t = 0; t < c.tp.size; t++) {
    for (let r = 0; r < rows; r++) out.set(parts.subarray((t * rows + r) * cols, (t * rows + r + 1) * cols), r * c.vocabTotal + t * cols);
  }
  return out;
}
