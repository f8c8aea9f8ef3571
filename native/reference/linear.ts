// Plain loops with no blocking: the definition the native GEMM-based kernels are checked against.
import type { FloatArray } from "./types.ts";

export function gemm(
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: FloatArray,
  b: FloatArray,
  beta: number,
  c: FloatArray,
): number {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i]! : a[i * k + p]!;
        const bv = transB ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      c[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * n + j]!);
    }
  }
  return 0;
}

export function linearForward(
  x: FloatArray,
  weight: FloatArray,
  bias: FloatArray | null,
  residual: FloatArray | null,
  out: FloatArray,
  rows: number,
  inF: number,
  outF: number,
): number {
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * weight[o * inF + i]!;
      out[r * outF + o] = s + (bias ? bias[o]! : 0) + (residual ? residual[r * outF + o]! : 0);
    }
  }
  return 0;
}

export function linearBackward(
  dout: FloatArray,
  x: FloatArray,
  weight: FloatArray,
  dx: FloatArray | null,
  dweight: FloatArray,
  dbias: FloatArray | null,
  rows: number,
  inF: number,
  outF: number,
  accumulateDx: number,
): number {
  if (dx) {
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < inF; i++) {
        let s = 0;
        for (let o = 0; o < outF; o++) s += dout[r * outF + o]! * weight[o * inF + i]!;
        dx[r * inF + i] = (accumulateDx ? dx[r * inF + i]! : 0) + s;
      }
    }
  }
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += dout[r * outF + o]! * x[r * inF + i]!;
      dweight[o * inF + i] += s;
    }
    if (dbias) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += dout[r * outF + o]!;
      dbias[o] += s;
    }
  }
  return 0;
}
