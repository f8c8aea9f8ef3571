// The reference backend: every kernel in plain TypeScript, run synchronously on the JS thread.
import { hostTransfer, type Backend, type KernelArg, type KernelCall } from "../backend.ts";
import type { KernelName } from "../kernel-specs.ts";
import * as attention from "./attention.ts";
import * as linear from "./linear.ts";
import * as loss from "./loss-optim.ts";
import * as pointwise from "./pointwise.ts";

// Positional signatures match native/kernel-specs.ts; the arrays may also be Float64Array (for gradient checks).
type AnyKernel = (...args: any[]) => number;

export const referenceKernels: Record<KernelName, AnyKernel> = {
  gemm: linear.gemm,
  linearForward: linear.linearForward,
  linearBackward: linear.linearBackward,
  embeddingForward: pointwise.embeddingForward,
  embeddingBackward: pointwise.embeddingBackward,
  layerNormForward: pointwise.layerNormForward,
  layerNormBackward: pointwise.layerNormBackward,
  geluForward: pointwise.geluForward,
  geluBackward: pointwise.geluBackward,
  attentionForward: attention.attentionForward,
  attentionBackward: attention.attentionBackward,
  attentionDecode: attention.attentionDecode,
  ceRowMax: loss.ceRowMax,
  ceRowSumExp: loss.ceRowSumExp,
  ceTargetLogit: loss.ceTargetLogit,
  ceBackward: loss.ceBackward,
  crossEntropyFused: loss.crossEntropyFused,
  adamw: loss.adamw,
  sumSquares: loss.sumSquares,
  fill: loss.fill,
  initNormal: loss.initNormal,
};

export const referenceBackend: Backend = {
  name: "reference",
  memory: "host",
  runSync: (kernel: KernelName, args: KernelArg[]) => referenceKernels[kernel](...args),
  run: async (kernel: KernelName, args: KernelArg[]) => referenceKernels[kernel](...args),
  runProgram: async (calls: readonly KernelCall[]) => Float64Array.from(calls, (c) => referenceKernels[c.kernel](...c.args)),
  alloc: (n: number) => new Float32Array(n),
  download: hostTransfer,
  upload: hostTransfer,
};
