// Reference embedding, LayerNorm (eps 1e-5, biased variance) and GELU (tanh approximation).
import type { FloatArray, IntArray } from "./types.ts";

const LAYER_NORM_EPS = 1e-5;

export function embeddingForward(
  tokens: IntArray,
  wte: FloatArray,
  wpe: FloatArray | null,
  out: FloatArray,
  batch: number,
  seq: number,
  d: number,
  vocabStart: number,
  vocabSize: number,
): number {
  for (let r = 0; r < batch * seq; r++) {
    const t = r % seq;
    const local = tokens[r]! - vocabStart;
    const mine = local >= 0 && local < vocabSize;
    for (let j = 0; j < d; j++) {
      out[r * d + j] = (mine ? wte[local * d + j]! : 0) + (wpe ? wpe[t * d + j]! : 0);
    }
  }
  return 0;
}

export function embeddingBackward(
  tokens: IntArray,
  dout: FloatArray,
  dwte: FloatArray,
  dwpe: FloatArray | null,
  batch: number,
  seq: number,
  d: number,
  vocabStart: number,
  vocabSize: number,
): number {
  for (let r = 0; r < batch * seq; r++) {
    const t = r % seq;
    const local = tokens[r]! - vocabStart;
    for (let j = 0; j < d; j++) {
      if (local >= 0 && local < vocabSize) dwte[local * d + j] += dout[r * d + j]!;
      if (dwpe) dwpe[t * d + j] += dout[r * d + j]!;
    }
  }
  return 0;
}

export function layerNormForward(
  x: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  out: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
  rows: number,
  cols: number,
): number {
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = 0; j < cols; j++) m += x[r * cols + j]!;
    m /= cols;
    let v = 0;
    for (let j = 0; j < cols; j++) v += (x[r * cols + j]! - m) ** 2;
    const s = 1 / Math.sqrt(v / cols + LAYER_NORM_EPS);
    for (let j = 0; j < cols; j++) out[r * cols + j] = (x[r * cols + j]! - m) * s * gamma[j]! + beta[j]!;
    mean[r] = m;
    rstd[r] = s;
  }
  return 0;
}

export function layerNormBackward(
  dout: FloatArray,
  x: FloatArray,
  gamma: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
  rows: number,
  cols: number,
  accumulateDx: number,
): number {
  for (let r = 0; r < rows; r++) {
    const m = mean[r]!,
      s = rstd[r]!;
    let sumD = 0,
      sumDX = 0;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[r * cols + j]! - m) * s;
      const g = dout[r * cols + j]! * gamma[j]!;
      sumD += g;
      sumDX += g * xhat;
      dgamma[j] += dout[r * cols + j]! * xhat;
      dbeta[j] += dout[r * cols + j]!;
    }
    for (let j = 0; j < cols; j++) {
      const xhat = (x[r * cols + j]! - m) * s;
      const v = s * (dout[r * cols + j]! * gamma[j]! - sumD / cols - xhat * (sumDX / cols));
      dx[r * cols + j] = (accumulateDx ? dx[r * cols + j]! : 0) + v;
    }
  }
  return 0;
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

function gelu(v: number): number {
  return 0.5 * v * (1 + Math.tanh(GELU_C * (v + GELU_A * v * v * v)));
}

export function geluForward(x: FloatArray, out: FloatArray, n: number): number {
  for (let i = 0; i < n; i++) out[i] = gelu(x[i]!);
  return 0;
}

export function geluBackward(x: FloatArray, dout: FloatArray, dx: FloatArray, n: number): number {
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const t = Math.tanh(GELU_C * (v + GELU_A * v * v * v));
    dx[i] = dout[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * v * v));
  }
  return 0;
}
