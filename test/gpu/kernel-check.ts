// Every registry kernel on a backend against the float64 reference kernels, on random inputs of moderate size:
// the same inputs (rounded to fp32) go to both; each array the kernel may write, and its scalar result, is
// compared as max |got − want| / max |want| (the error relative to the tensor's scale, so that elements near
// zero do not dominate).
import type { Backend } from "../../native/backend.ts";
import { evalSize } from "../../native/kernel-rules.ts";
import { kernelSpecs, parseSignature, parseSizeExpr, type KernelName } from "../../native/kernel-specs.ts";
import { runKernelSync, type KernelInputs } from "../../native/ops.ts";
import { float64Exec, type ExecArgs } from "../native/kernel-cases.ts";
import { randn64, rng } from "../native/random.ts";

interface Case {
  kernel: KernelName;
  ints: Record<string, number>;
  nums?: Record<string, number>;
  /** optional arrays to pass as null */
  absent?: string[];
  /** fixes inputs that must be consistent (softmax probabilities, row statistics, valid targets) */
  prepare?(a: ExecArgs, rand: () => number): void;
}

const randInt = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo));
const fround = (a: Float64Array) => a.map(Math.fround);
const f64 = (a: ExecArgs, k: string) => a[k] as Float64Array;

function targetsAround(a: ExecArgs, rand: () => number, rows: number, start: number, cols: number): void {
  a.targets = Int32Array.from({ length: rows }, () => randInt(rand, Math.max(0, start - 5), start + cols + 5));
}

const gemm = (transA: number, transB: number): Case => ({
  kernel: "gemm",
  ints: { transA, transB, m: 67, n: 129, k: 300 },
  nums: { alpha: 0.75, beta: 0.5 },
});
const ce = { rows: 33, cols: 5001 };

/** The cases: every kernel at least once, GEMM in every transpose, optional arrays given and absent. */
export const KERNEL_CASES: Case[] = [
  gemm(0, 0),
  gemm(0, 1),
  gemm(1, 0),
  gemm(1, 1),
  { kernel: "linearForward", ints: { rows: 300, inFeatures: 96, outFeatures: 200 } },
  { kernel: "linearForward", ints: { rows: 300, inFeatures: 96, outFeatures: 200 }, absent: ["bias", "residual"] },
  { kernel: "linearBackward", ints: { rows: 300, inFeatures: 96, outFeatures: 200, accumulateDx: 1 } },
  { kernel: "linearBackward", ints: { rows: 300, inFeatures: 96, outFeatures: 200, accumulateDx: 0 }, absent: ["dx", "dbias"] },
  ...(["embeddingForward", "embeddingBackward"] as const).map((kernel): Case => ({
    kernel,
    ints: { batch: 3, seq: 50, dModel: 64, vocabStart: 100, vocabSize: 300, vocabTotal: 500 },
    prepare: (a, rand) => void (a.tokens = Int32Array.from({ length: 150 }, () => randInt(rand, 0, 500))),
  })),
  { kernel: "layerNormForward", ints: { rows: 600, cols: 768 } },
  {
    kernel: "layerNormBackward",
    ints: { rows: 600, cols: 768, accumulateDx: 1 },
    prepare: (a) => {
      const out = new Float64Array(600 * 768),
        mean = new Float64Array(600),
        rstd = new Float64Array(600);
      float64Exec("layerNormForward", { x: a.x!, gamma: a.gamma!, beta: new Float64Array(768), out, mean, rstd, rows: 600, cols: 768 });
      a.mean = fround(mean);
      a.rstd = fround(rstd);
    },
  },
  { kernel: "geluForward", ints: { n: 100_003 } },
  { kernel: "geluBackward", ints: { n: 100_003 } },
  { kernel: "attentionForward", ints: { batch: 2, seq: 96, heads: 3, headDim: 32 } },
  {
    kernel: "attentionBackward",
    ints: { batch: 2, seq: 96, heads: 3, headDim: 32 },
    prepare: (a) => {
      const probs = new Float64Array(2 * 3 * 96 * 96);
      float64Exec("attentionForward", { qkv: a.qkv!, out: new Float64Array(2 * 96 * 96), probs, batch: 2, seq: 96, heads: 3, headDim: 32 });
      a.probs = fround(probs);
    },
  },
  { kernel: "attentionDecode", ints: { batch: 2, heads: 3, headDim: 32, maxLen: 40, pos: 37 } },
  { kernel: "ceRowMax", ints: ce },
  {
    kernel: "ceRowSumExp",
    ints: ce,
    prepare: (a) => void float64Exec("ceRowMax", { logits: a.logits!, rowMax: a.rowMax!, rows: ce.rows, cols: ce.cols }),
  },
  { kernel: "ceTargetLogit", ints: { ...ce, vocabStart: 2000 }, prepare: (a, rand) => targetsAround(a, rand, ce.rows, 2000, ce.cols) },
  {
    kernel: "ceBackward",
    ints: { ...ce, vocabStart: 2000 },
    nums: { scale: 0.03 },
    prepare: (a, rand) => {
      targetsAround(a, rand, ce.rows, 2000, ce.cols);
      float64Exec("ceRowMax", { logits: a.logits!, rowMax: a.rowMax!, rows: ce.rows, cols: ce.cols });
      float64Exec("ceRowSumExp", { logits: a.logits!, rowMax: a.rowMax!, sumExp: a.sumExp!, rows: ce.rows, cols: ce.cols });
      a.rowMax = fround(f64(a, "rowMax"));
      a.sumExp = fround(f64(a, "sumExp"));
    },
  },
  {
    kernel: "crossEntropyFused",
    ints: ce,
    nums: { scale: 0.03 },
    prepare: (a, rand) => void (a.targets = Int32Array.from({ length: ce.rows }, () => randInt(rand, 0, ce.cols))),
  },
  {
    kernel: "adamw",
    ints: { n: 100_003, step: 3 },
    nums: { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradScale: 0.5 },
    prepare: (a) => void (a.expAvgSq = f64(a, "expAvgSq").map(Math.abs)),
  },
  { kernel: "sumSquares", ints: { n: 1_000_003 } },
  { kernel: "fill", ints: { n: 1001 }, nums: { value: -0.5 } },
  { kernel: "initNormal", ints: { n: 100_001 }, nums: { std: 0.02, key: 12345 } },
];

/** Kernels whose arithmetic is a GEMM (bf16 inputs in the bf16 mode); every other kernel is fp32 in both modes. */
export const GEMM_KERNELS: ReadonlySet<KernelName> = new Set([
  "gemm",
  "linearForward",
  "linearBackward",
  "attentionForward",
  "attentionBackward",
]);

function buildArgs(c: Case, rand: () => number): ExecArgs {
  const spec = kernelSpecs[c.kernel];
  const args: ExecArgs = {};
  for (const p of parseSignature(spec.signature)) {
    if (p.kind === "int") args[p.name] = c.ints[p.name]!;
    else if (p.kind === "num") args[p.name] = c.nums?.[p.name] ?? 0;
    else if (c.absent?.includes(p.name)) args[p.name] = null;
    else {
      const n = evalSize(parseSizeExpr(spec.needs[p.name]!), c.ints);
      args[p.name] = p.kind === "i32" ? new Int32Array(n) : fround(randn64(n, rand));
    }
  }
  c.prepare?.(args, rand);
  return args;
}

const clone = (a: ExecArgs): ExecArgs =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v instanceof Float64Array || v instanceof Int32Array ? v.slice() : v]));

function scaledError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0,
    scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return diff === 0 ? 0 : diff / Math.max(scale, 1e-30);
}

export interface KernelResult {
  kernel: KernelName;
  variant: string;
  /** worst scaled error over the written arrays and the scalar result */
  error: number;
  worst: string;
}

/** Runs one case on `backend` and on the float64 reference. */
export function checkKernel(backend: Backend, c: Case, seed: number): KernelResult {
  const args = buildArgs(c, rng(seed));
  const want = clone(args);
  const wantResult = float64Exec(c.kernel, want);
  const inputs: KernelInputs = {};
  for (const [k, v] of Object.entries(args)) inputs[k] = v instanceof Float64Array ? Float32Array.from(v) : v;
  const gotResult = runKernelSync(backend, c.kernel, inputs);
  let error = Math.abs(gotResult - wantResult) / Math.max(Math.abs(wantResult), 1e-30);
  let worst = error > 0 ? "result" : "";
  for (const [k, v] of Object.entries(want)) {
    if (!(v instanceof Float64Array)) continue;
    const e = scaledError(inputs[k] as Float32Array, v);
    if (e > error) [error, worst] = [e, k];
  }
  const variant = JSON.stringify({ ...c.ints, ...(c.absent ? { absent: c.absent } : {}) });
  return { kernel: c.kernel, variant, error, worst };
}
