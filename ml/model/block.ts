// One pre-LN transformer block: forward, backward and the KV-cache decode of one position, over explicit buffers,
// as the single-rank model, a pipeline stage (a range of blocks) and a tensor-parallel shard all run it.
//   forward:  mid = x + proj(attn(qkv(ln1(x))));  out = mid + fc2(gelu(fc(ln2(mid))))
// Tensor parallelism (Megatron): qkv and fc are column-parallel (this rank's heads and MLP columns), proj and fc2
// row-parallel (partial sums), so the block meets the other TP ranks at a reduce-from-TP after each row-parallel
// layer and at a copy-to-TP's backward before each LayerNorm's; on one rank both do nothing. The residual and the
// row-parallel biases are added by TP rank 0 only (the only rank on one), before the all-reduce, so they count once.
import type { LayerActivations } from "./activations.ts";
import type { KernelStream } from "./kernel-stream.ts";
import type { ParameterStore } from "./parameter-store.ts";

export interface Tensor {
  param: Float32Array;
  grad: Float32Array;
}

export interface BlockTensors {
  ln1w: Tensor;
  ln1b: Tensor;
  qkvw: Tensor;
  qkvb: Tensor;
  projw: Tensor;
  projb: Tensor;
  ln2w: Tensor;
  ln2b: Tensor;
  fcw: Tensor;
  fcb: Tensor;
  fc2w: Tensor;
  fc2b: Tensor;
}

/** Layer `layer`'s tensors by their global names (local shapes when the store holds a TP shard). */
export function blockTensors(store: ParameterStore, layer: number): BlockTensors {
  const t = (suffix: string): Tensor => ({ param: store.param(`h.${layer}.${suffix}`), grad: store.grad(`h.${layer}.${suffix}`) });
  return {
    ln1w: t("ln1.weight"),
    ln1b: t("ln1.bias"),
    qkvw: t("attn.qkv.weight"),
    qkvb: t("attn.qkv.bias"),
    projw: t("attn.proj.weight"),
    projb: t("attn.proj.bias"),
    ln2w: t("ln2.weight"),
    ln2b: t("ln2.bias"),
    fcw: t("mlp.fc.weight"),
    fcb: t("mlp.fc.bias"),
    fc2w: t("mlp.proj.weight"),
    fc2b: t("mlp.proj.bias"),
  };
}

export interface BlockShape {
  batch: number;
  seq: number;
  dModel: number;
  /** heads on this rank */
  heads: number;
  /** width of this rank's attention output (heads × headDim; dModel on one rank) */
  attnWidth: number;
  /** width of this rank's MLP hidden layer (4·dModel on one rank) */
  mlpWidth: number;
}

/**
 * A conjugate pair of TP communications over one group (ml/parallel-model/tp-mappings.ts), in place. Each one
 * that has something to exchange first runs the kernels recorded on `stream`, whose results it exchanges.
 */
export interface TpMapping {
  forward(x: Float32Array, stream?: KernelStream): Promise<void>;
  backward(dx: Float32Array, stream?: KernelStream): Promise<void>;
}

const nothing = async (): Promise<void> => {};

/** The mapping of a group of one rank: no communication. */
export const ONE_RANK: TpMapping = { forward: nothing, backward: nothing };

/** Where a block's kernels go and how its shard meets the other TP ranks. */
export interface BlockContext {
  stream: KernelStream;
  shape: BlockShape;
  /** true on TP rank 0: adds the residual and the row-parallel biases */
  addsReplicated: boolean;
  /** copy-to-TP: forward identity, backward all-reduce */
  copy: TpMapping;
  /** reduce-from-TP: forward all-reduce, backward identity */
  reduce: TpMapping;
}

/** Buffers shared by all blocks of one micro-batch shape. */
export interface BlockScratch {
  gelu: Float32Array; // [N, mlpWidth] GELU output (forward), recomputed in the backward
  dResidual: Float32Array; // [N, d] gradient flowing down the residual stream
  dLnOut: Float32Array; // [N, d]
  dAttn: Float32Array; // [N, attnWidth]
  dQkv: Float32Array; // [N, 3·attnWidth]
  dFc: Float32Array; // [N, mlpWidth]
}

/** Records the kernels that read a.input, fill the block's saved activations and write the block output to `out`. */
export async function blockForward(
  c: BlockContext,
  w: BlockTensors,
  a: LayerActivations,
  scratch: Pick<BlockScratch, "gelu">,
  out: Float32Array,
): Promise<void> {
  const { batch, seq, dModel: d, heads, attnWidth: aw, mlpWidth: mw } = c.shape;
  const rows = batch * seq,
    first = c.addsReplicated,
    k = c.stream;
  k.add("layerNormForward", {
    x: a.input,
    gamma: w.ln1w.param,
    beta: w.ln1b.param,
    out: a.ln1,
    mean: a.mean1,
    rstd: a.rstd1,
    rows,
    cols: d,
  });
  // copy-to-TP forward is the identity: ln1 (and ln2 below) are replicated, each rank reads all of it
  k.add("linearForward", {
    x: a.ln1,
    weight: w.qkvw.param,
    bias: w.qkvb.param,
    residual: null,
    out: a.qkv,
    rows,
    inFeatures: d,
    outFeatures: 3 * aw,
  });
  k.add("attentionForward", { qkv: a.qkv, out: a.attn, probs: a.probs, batch, seq, heads, headDim: aw / heads });
  k.add("linearForward", {
    x: a.attn,
    weight: w.projw.param,
    bias: first ? w.projb.param : null,
    residual: first ? a.input : null,
    out: a.mid,
    rows,
    inFeatures: aw,
    outFeatures: d,
  });
  await c.reduce.forward(a.mid, k);
  k.add("layerNormForward", { x: a.mid, gamma: w.ln2w.param, beta: w.ln2b.param, out: a.ln2, mean: a.mean2, rstd: a.rstd2, rows, cols: d });
  k.add("linearForward", {
    x: a.ln2,
    weight: w.fcw.param,
    bias: w.fcb.param,
    residual: null,
    out: a.fc,
    rows,
    inFeatures: d,
    outFeatures: mw,
  });
  k.add("geluForward", { x: a.fc, out: scratch.gelu, n: rows * mw });
  k.add("linearForward", {
    x: scratch.gelu,
    weight: w.fc2w.param,
    bias: first ? w.fc2b.param : null,
    residual: first ? a.mid : null,
    out,
    rows,
    inFeatures: mw,
    outFeatures: d,
  });
  await c.reduce.forward(out, k);
}

/**
 * Records the backward. When run: on entry scratch.dResidual holds d(loss)/d(block output) (replicated over TP); on
 * exit d(loss)/d(block input). Parameter gradients accumulate (+=); replicated tensors get identical gradients on
 * every TP rank.
 */
export async function blockBackward(c: BlockContext, w: BlockTensors, a: LayerActivations, scratch: BlockScratch): Promise<void> {
  await c.reduce.backward(scratch.dResidual, c.stream);
  await mlpBackward(c, w, a, scratch);
  await attentionHalfBackward(c, w, a, scratch);
}

/** The MLP half: dResidual (after the reduce) through fc2, gelu, fc and ln2, accumulated into dResidual. */
async function mlpBackward(c: BlockContext, w: BlockTensors, a: LayerActivations, scratch: BlockScratch): Promise<void> {
  const { batch, seq, dModel: d, mlpWidth: mw } = c.shape;
  const rows = batch * seq,
    dx = scratch.dResidual,
    k = c.stream;
  k.add("geluForward", { x: a.fc, out: scratch.gelu, n: rows * mw });
  k.add("linearBackward", {
    dout: dx,
    x: scratch.gelu,
    weight: w.fc2w.param,
    dx: scratch.dFc,
    dweight: w.fc2w.grad,
    dbias: w.fc2b.grad,
    rows,
    inFeatures: mw,
    outFeatures: d,
    accumulateDx: 0,
  });
  k.add("geluBackward", { x: a.fc, dout: scratch.dFc, dx: scratch.dFc, n: rows * mw });
  k.add("linearBackward", {
    dout: scratch.dFc,
    x: a.ln2,
    weight: w.fcw.param,
    dx: scratch.dLnOut,
    dweight: w.fcw.grad,
    dbias: w.fcb.grad,
    rows,
    inFeatures: d,
    outFeatures: mw,
    accumulateDx: 0,
  });
  await c.copy.backward(scratch.dLnOut, k);
  k.add("layerNormBackward", {
    dout: scratch.dLnOut,
    x: a.mid,
    gamma: w.ln2w.param,
    mean: a.mean2,
    rstd: a.rstd2,
    dx,
    dgamma: w.ln2w.grad,
    dbeta: w.ln2b.grad,
    rows,
    cols: d,
    accumulateDx: 1,
  });
}

/** The attention half: dResidual through proj, attention, qkv and ln1, accumulated into dResidual. */
async function attentionHalfBackward(c: BlockContext, w: BlockTensors, a: LayerActivations, scratch: BlockScratch): Promise<void> {
  const { batch, seq, dModel: d, heads, attnWidth: aw } = c.shape;
  const rows = batch * seq,
    dx = scratch.dResidual,
    k = c.stream;
  k.add("linearBackward", {
    dout: dx,
    x: a.attn,
    weight: w.projw.param,
    dx: scratch.dAttn,
    dweight: w.projw.grad,
    dbias: w.projb.grad,
    rows,
    inFeatures: aw,
    outFeatures: d,
    accumulateDx: 0,
  });
  k.add("attentionBackward", {
    qkv: a.qkv,
    probs: a.probs,
    dout: scratch.dAttn,
    dqkv: scratch.dQkv,
    batch,
    seq,
    heads,
    headDim: aw / heads,
  });
  k.add("linearBackward", {
    dout: scratch.dQkv,
    x: a.ln1,
    weight: w.qkvw.param,
    dx: scratch.dLnOut,
    dweight: w.qkvw.grad,
    dbias: w.qkvb.grad,
    rows,
    inFeatures: d,
    outFeatures: 3 * aw,
    accumulateDx: 0,
  });
  await c.copy.backward(scratch.dLnOut, k);
  k.add("layerNormBackward", {
    dout: scratch.dLnOut,
    x: a.input,
    gamma: w.ln1w.param,
    mean: a.mean1,
    rstd: a.rstd1,
    dx,
    dgamma: w.ln1w.grad,
    dbeta: w.ln1b.grad,
    rows,
    cols: d,
    accumulateDx: 1,
  });
}

/** One layer's keys and values of earlier positions, this rank's heads: [batch, maxLen, attnWidth] each. */
export interface LayerCache {
  k: Float32Array;
  v: Float32Array;
}

/** The buffers of one decoding step of `batch` sequences (one position each). */
export interface DecodeBuffers {
  /** residual stream [batch, d]: the block's input, overwritten with its output */
  x: Float32Array;
  mid: Float32Array; // [batch, d]
  ln: Float32Array; // [batch, d]
  mean: Float32Array; // [batch]
  rstd: Float32Array; // [batch]
  qkv: Float32Array; // [batch, 3·attnWidth]
  attn: Float32Array; // [batch, attnWidth]
  fc: Float32Array; // [batch, mlpWidth]
  gelu: Float32Array; // [batch, mlpWidth]
}

/**
 * Records the block's forward of one new position `pos` of each sequence (c.shape.seq = 1) on b.x in place,
 * appending its keys and values to `cache` (c.shape.batch sequences of up to `maxLen` positions).
 */
export async function blockDecode(
  c: BlockContext,
  w: BlockTensors,
  cache: LayerCache,
  b: DecodeBuffers,
  pos: number,
  maxLen: number,
): Promise<void> {
  const { batch, dModel: d, heads, attnWidth: aw, mlpWidth: mw } = c.shape;
  const first = c.addsReplicated,
    k = c.stream;
  k.add("layerNormForward", {
    x: b.x,
    gamma: w.ln1w.param,
    beta: w.ln1b.param,
    out: b.ln,
    mean: b.mean,
    rstd: b.rstd,
    rows: batch,
    cols: d,
  });
  k.add("linearForward", {
    x: b.ln,
    weight: w.qkvw.param,
    bias: w.qkvb.param,
    residual: null,
    out: b.qkv,
    rows: batch,
    inFeatures: d,
    outFeatures: 3 * aw,
  });
  k.add("attentionDecode", { qkv: b.qkv, kCache: cache.k, vCache: cache.v, out: b.attn, batch, heads, headDim: aw / heads, maxLen, pos });
  k.add("linearForward", {
    x: b.attn,
    weight: w.projw.param,
    bias: first ? w.projb.param : null,
    residual: first ? b.x : null,
    out: b.mid,
    rows: batch,
    inFeatures: aw,
    outFeatures: d,
  });
  await c.reduce.forward(b.mid, k);
  k.add("layerNormForward", {
    x: b.mid,
    gamma: w.ln2w.param,
    beta: w.ln2b.param,
    out: b.ln,
    mean: b.mean,
    rstd: b.rstd,
    rows: batch,
    cols: d,
  });
  k.add("linearForward", {
    x: b.ln,
    weight: w.fcw.param,
    bias: w.fcb.param,
    residual: null,
    out: b.fc,
    rows: batch,
    inFeatures: d,
    outFeatures: mw,
  });
  k.add("geluForward", { x: b.fc, out: b.gelu, n: batch * mw });
  k.add("linearForward", {
    x: b.gelu,
    weight: w.fc2w.param,
    bias: first ? w.fc2b.param : null,
    residual: first ? b.mid : null,
    out: b.x,
    rows: batch,
    inFeatures: mw,
    outFeatures: d,
  });
  await c.reduce.forward(b.x, k);
}
