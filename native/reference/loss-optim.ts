// Reference softmax cross-entropy (shard-friendly reductions and the fused form), AdamW and sum of squares.
import type { FloatArray, IntArray } from "./types.ts";

export function ceRowMax(logits: FloatArray, rowMax: FloatArray, rows: number, cols: number): number {
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, logits[r * cols + j]!);
    rowMax[r] = m;
  }
  return 0;
}

export function ceRowSumExp(logits: FloatArray, rowMax: FloatArray, sumExp: FloatArray, rows: number, cols: number): number {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(logits[r * cols + j]! - rowMax[r]!);
    sumExp[r] = s;
  }
  return 0;
}

export function ceTargetLogit(
  logits: FloatArray,
  targets: IntArray,
  out: FloatArray,
  rows: number,
  cols: number,
  vocabStart: number,
): number {
  for (let r = 0; r < rows; r++) {
    const local = targets[r]! - vocabStart;
    out[r] = local >= 0 && local < cols ? logits[r * cols + local]! : 0;
  }
  return 0;
}

export function ceBackward(
  logits: FloatArray,
  rowMax: FloatArray,
  sumExp: FloatArray,
  targets: IntArray,
  dlogits: FloatArray,
  rows: number,
  cols: number,
  vocabStart: number,
  scale: number,
): number {
  for (let r = 0; r < rows; r++) {
    const local = targets[r]! - vocabStart;
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(logits[r * cols + j]! - rowMax[r]!) / sumExp[r]!;
      dlogits[r * cols + j] = scale * (p - (j === local ? 1 : 0));
    }
  }
  return 0;
}

export function crossEntropyFused(
  logits: FloatArray,
  targets: IntArray,
  losses: FloatArray,
  rows: number,
  cols: number,
  scale: number,
): number {
  const mx = new Float64Array(rows),
    se = new Float64Array(rows),
    tl = new Float64Array(rows);
  ceRowMax(logits, mx, rows, cols);
  ceRowSumExp(logits, mx, se, rows, cols);
  ceTargetLogit(logits, targets, tl, rows, cols, 0);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    losses[r] = Math.log(se[r]!) + mx[r]! - tl[r]!;
    total += losses[r]!;
  }
  ceBackward(logits, mx, se, targets, logits, rows, cols, 0, scale);
  return total;
}

export function adamw(
  param: FloatArray,
  grad: FloatArray,
  expAvg: FloatArray,
  expAvgSq: FloatArray,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  gradScale: number,
  step: number,
): number {
  const bc1 = 1 - beta1 ** step,
    bc2 = 1 - beta2 ** step;
  for (let i = 0; i < n; i++) {
    const g = grad[i]! * gradScale;
    expAvg[i] = beta1 * expAvg[i]! + (1 - beta1) * g;
    expAvgSq[i] = beta2 * expAvgSq[i]! + (1 - beta2) * g * g;
    const denom = Math.sqrt(expAvgSq[i]!) / Math.sqrt(bc2) + eps;
    param[i] = param[i]! * (1 - lr * weightDecay) - (lr / bc1) * (expAvg[i]! / denom);
  }
  return 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** N(0, std²) from a counter-based generator keyed by `key` (Box–Muller on MurmurHash3-mixed counters). */
export function initNormal(x: FloatArray, n: number, std: number, key: number): number {
  for (let i = 0; i < n; i += 2) {
    const pair = i / 2;
    const a = fmix32((key ^ fmix32(2 * pair)) >>> 0),
      b = fmix32((key ^ fmix32(2 * pair + 1)) >>> 0);
    const u1 = (a + 1) / 4294967296,
      u2 = b / 4294967296;
    const r = std * Math.sqrt(-2 * Math.log(u1));
    x[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) x[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return 0;
}

export function fill(x: FloatArray, n: number, value: number): number {
  x.fill(value, 0, n);
  return 0;
}

export function sumSquares(x: FloatArray, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
  return s;
}
