// One pre-LN transformer block, forward and backward, as free functions over explicit buffers, so that a
// pipeline stage (a range of blocks) or a tensor-parallel shard can reuse them.
//   forward:  mid = x + proj(attn(qkv(ln1(x))));  out = mid + fc2(gelu(fc(ln2(mid))))
import type { KernelSink } from "../../native/ops.ts";
import type { LayerActivations } from "./activations.ts";
import type { ParameterStore } from "./parameter-store.ts";

export interface Tensor {
  param: Float32Array;
  grad: Float32Array;
}

export interface BlockTensors {
  ln1w: Tensor; ln1b: Tensor; qkvw: Tensor; qkvb: Tensor; projw: Tensor; projb: Tensor;
  ln2w: Tensor; ln2b: Tensor; fcw: Tensor; fcb: Tensor; fc2w: Tensor; fc2b: Tensor;
}

export function blockTensors(store: ParameterStore, layer: number): BlockTensors {
  const t = (suffix: string): Tensor => ({ param: store.param(`h.${layer}.${suffix}`), grad: store.grad(`h.${layer}.${suffix}`) });
  return {
    ln1w: t("ln1.weight"), ln1b: t("ln1.bias"), qkvw: t("attn.qkv.weight"), qkvb: t("attn.qkv.bias"),
    projw: t("attn.proj.weight"), projb: t("attn.proj.bias"), ln2w: t("ln2.weight"), ln2b: t("ln2.bias"),
    fcw: t("mlp.fc.weight"), fcb: t("mlp.fc.bias"), fc2w: t("mlp.proj.weight"), fc2b: t("mlp.proj.bias"),
  };
}

export interface BlockShape {
  batch: number;
  seq: number;
  dModel: number;
  heads: number;
}

/** Buffers shared by all blocks of one micro-batch shape. */
export interface BlockScratch {
  gelu: Float32Array; // [N, 4d] GELU output (forward), recomputed in the backward
  dResidual: Float32Array; // [N, d] gradient flowing down the residual stream
  dLnOut: Float32Array; // [N, d]
  dAttn: Float32Array; // [N, d]
  dQkv: Float32Array; // [N, 3d]
  dFc: Float32Array; // [N, 4d]
}

/** Queues the kernels that read a.input, fill the block's saved activations and write the block output to `out`. */
export function blockForward(sink: KernelSink, s: BlockShape, w: BlockTensors, a: LayerActivations, scratch: BlockScratch, out: Float32Array): void {
  const d = s.dModel, rows = s.batch * s.seq;
  sink.add("layerNormForward", { x: a.input, gamma: w.ln1w.param, beta: w.ln1b.param, out: a.ln1, mean: a.mean1, rstd: a.rstd1, rows, cols: d });
  sink.add("linearForward", { x: a.ln1, weight: w.qkvw.param, bias: w.qkvb.param, residual: null, out: a.qkv, rows, inFeatures: d, outFeatures: 3 * d });
  sink.add("attentionForward", { qkv: a.qkv, out: a.attn, probs: a.probs, batch: s.batch, seq: s.seq, heads: s.heads, headDim: d / s.heads });
  sink.add("linearForward", { x: a.attn, weight: w.projw.param, bias: w.projb.param, residual: a.input, out: a.mid, rows, inFeatures: d, outFeatures: d });
  sink.add("layerNormForward", { x: a.mid, gamma: w.ln2w.param, beta: w.ln2b.param, out: a.ln2, mean: a.mean2, rstd: a.rstd2, rows, cols: d });
  sink.add("linearForward", { x: a.ln2, weight: w.fcw.param, bias: w.fcb.param, residual: null, out: a.fc, rows, inFeatures: d, outFeatures: 4 * d });
  sink.add("geluForward", { x: a.fc, out: scratch.gelu, n: rows * 4 * d });
  sink.add("linearForward", { x: scratch.gelu, weight: w.fc2w.param, bias: w.fc2b.param, residual: a.mid, out, rows, inFeatures: 4 * d, outFeatures: d });
}

/**
 * Queues the backward. When run: on entry scratch.dResidual holds d(loss)/d(block output); on exit d(loss)/d(block input).
 * Parameter gradients are accumulated (+=) into the tensors' grad arrays.
 */
export function blockBackward(sink: KernelSink, s: BlockShape, w: BlockTensors, a: LayerActivations, scratch: BlockScratch): void {
  const d = s.dModel, rows = s.batch * s.seq, dx = scratch.dResidual;
  sink.add("geluForward", { x: a.fc, out: scratch.gelu, n: rows * 4 * d });
  sink.add("linearBackward", { dout: dx, x: scratch.gelu, weight: w.fc2w.param, dx: scratch.dFc, dweight: w.fc2w.grad, dbias: w.fc2b.grad, rows, inFeatures: 4 * d, outFeatures: d, accumulateDx: 0 });
  sink.add("geluBackward", { x: a.fc, dout: scratch.dFc, dx: scratch.dFc, n: rows * 4 * d });
  sink.add("linearBackward", { dout: scratch.dFc, x: a.ln2, weight: w.fcw.param, dx: scratch.dLnOut, dweight: w.fcw.grad, dbias: w.fcb.grad, rows, inFeatures: d, outFeatures: 4 * d, accumulateDx: 0 });
  sink.add("layerNormBackward", { dout: scratch.dLnOut, x: a.mid, gamma: w.ln2w.param, mean: a.mean2, rstd: a.rstd2, dx, dgamma: w.ln2w.grad, dbeta: w.ln2b.grad, rows, cols: d, accumulateDx: 1 });
  sink.add("linearBackward", { dout: dx, x: a.attn, weight: w.projw.param, dx: scratch.dAttn, dweight: w.projw.grad, dbias: w.projb.grad, rows, inFeatures: d, outFeatures: d, accumulateDx: 0 });
  sink.add("attentionBackward", { qkv: a.qkv, probs: a.probs, dout: scratch.dAttn, dqkv: scratch.dQkv, batch: s.batch, seq: s.seq, heads: s.heads, headDim: d / s.heads });
  sink.add("linearBackward", { dout: scratch.dQkv, x: a.ln1, weight: w.qkvw.param, dx: scratch.dLnOut, dweight: w.qkvw.grad, dbias: w.qkvb.grad, rows, inFeatures: d, outFeatures: 3 * d, accumulateDx: 0 });
  sink.add("layerNormBackward", { dout: scratch.dLnOut, x: a.input, gamma: w.ln1w.param, mean: a.mean1, rstd: a.rstd1, dx, dgamma: w.ln1w.grad, dbeta: w.ln1b.grad, rows, cols: d, accumulateDx: 1 });
}
