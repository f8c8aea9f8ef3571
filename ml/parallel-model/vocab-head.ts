// The tied LM head of the last pipeline stage over a vocabulary split across the TP ranks (rank t holds wte
// rows [vocabStart, vocabStart + vocabRows)), forward only.
//  - Scoring: per-token log-probabilities of given targets, and whether each target is the first argmax, from
//    softmax statistics combined across ranks (row max; sum of exp and target logit; first index of the max):
//    the [rows, vocab] logits never exist on one rank.
//  - Decoding: the whole next-token logits of the last position, gathered (one row per sequence, for sampling).
import type { Backend } from "../../native/backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";

export interface VocabShard {
  backend: Backend;
  tp: Collectives;
  dModel: number;
  vocabStart: number;
  vocabRows: number;
  vocabTotal: number;
  /** this rank's wte rows [vocabRows, dModel] */
  wte: Float32Array;
}

export interface TokenScores {
  /** log P(target | prefix) of each row */
  logProbs: Float32Array;
  /** 1 where the target is the most likely token (the first one on ties), else 0 */
  isArgmax: Uint8Array;
}

async function allReduce(tp: Collectives, x: Float32Array, op: "sum" | "max" | "min"): Promise<void> {
  if (tp.size > 1) await tp.allReduce(x, op);
}

/**
 * Scores of `rows` rows of final-LayerNormed hidden states `x` [rows, d] against `targets`, `chunkRows` rows at
 * a time (so the local logits stay [chunkRows, vocabRows]). Every TP rank of the stage must call it together.
 */
export async function scoreTargets(v: VocabShard, x: Float32Array, targets: Int32Array, rows: number, chunkRows: number): Promise<TokenScores> {
  const { dModel: d, vocabRows: cols } = v;
  const logProbs = new Float32Array(rows);
  const isArgmax = new Uint8Array(rows);
  const logits = v.backend.alloc(chunkRows * cols);
  const rowMax = v.backend.alloc(chunkRows);
  const sums = v.backend.alloc(2 * chunkRows); // sum of exp | target logit
  const first = new Float32Array(chunkRows);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const n = Math.min(chunkRows, rows - r0);
    const tg = targets.subarray(r0, r0 + n);
    const max = rowMax.subarray(0, n), sumExp = sums.subarray(0, n), target = sums.subarray(n, 2 * n), firstMax = first.subarray(0, n);
    let p = new KernelProgram();
    p.add("linearForward", { x: x.subarray(r0 * d, (r0 + n) * d), weight: v.wte, bias: null, residual: null, out: logits, rows: n, inFeatures: d, outFeatures: cols });
    p.add("ceRowMax", { logits, rowMax: max, rows: n, cols });
    await p.run(v.backend);
    await allReduce(v.tp, max, "max");
    p = new KernelProgram();
    p.add("ceRowSumExp", { logits, rowMax: max, sumExp, rows: n, cols });
    p.add("ceTargetLogit", { logits, targets: tg, out: target, rows: n, cols, vocabStart: v.vocabStart });
    await p.run(v.backend);
    for (let r = 0; r < n; r++) {
      // exact comparison: the global max is one of the logits of the rank that holds it
      const row = logits.subarray(r * cols, (r + 1) * cols);
      const j = row.indexOf(max[r]!);
      firstMax[r] = j < 0 ? v.vocabTotal : v.vocabStart + j;
    }
    await allReduce(v.tp, sums.subarray(0, 2 * n), "sum");
    await allReduce(v.tp, firstMax, "min");
    for (let r = 0; r < n; r++) {
      logProbs[r0 + r] = target[r]! - max[r]! - Math.log(sumExp[r]!);
      isArgmax[r0 + r] = firstMax[r] === tg[r] ? 1 : 0;
    }
  }
  return { logProbs, isArgmax };
}

/** Whole logits [rows, vocabTotal] of `rows` hidden states, on every TP rank of the stage. */
export async function gatherLogits(v: VocabShard, x: Float32Array, rows: number): Promise<Float32Array> {
  const { dModel: d, vocabRows: cols } = v;
  const local = v.backend.alloc(rows * cols);
  const p = new KernelProgram();
  p.add("linearForward", { x, weight: v.wte, bias: null, residual: null, out: local, rows, inFeatures: d, outFeatures: cols });
  await p.run(v.backend);
  if (v.tp.size === 1) return Float32Array.from(local);
  const parts = await v.tp.allGather(local); // [tp][rows][cols]
  const out = new Float32Array(rows * v.vocabTotal);
  for (let t = 0; t < v.tp.size; t++) {
    for (let r = 0; r < rows; r++) out.set(parts.subarray((t * rows + r) * cols, (t * rows + r + 1) * cols), r * v.vocabTotal + t * cols);
  }
  return out;
}
