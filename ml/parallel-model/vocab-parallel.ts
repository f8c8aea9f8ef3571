// Vocab-parallel embedding and cross-entropy (Megatron): each TP rank holds wte rows [start, start + size).
// Embedding: each rank looks up only its own tokens (zero rows elsewhere), rank 0 adds the positions, all-reduce.
// Loss: local logits [N, size] against the local wte shard; the softmax statistics are combined across ranks with
// two all-reduces (row max; then sum of exp and target logit together), so the [N, vocab] logits never exist.
import type { Collectives } from "../../runtime/collectives/types.ts";
import type { Tensor } from "../model/block.ts";
import type { KernelStream } from "../model/kernel-stream.ts";
import type { HeadScratch, LocalShape, StageScratch } from "./stage-activations.ts";
import { allReduceAfter } from "./tp-mappings.ts";

export interface VocabContext {
  stream: KernelStream;
  shape: LocalShape;
  tp: Collectives;
  vocabStart: number;
  vocabTotal: number;
  /** TP rank 0 adds the position embedding */
  addsReplicated: boolean;
}

/** Embeds `tokens` [batch, seq] (positions from `position`) into `out`: this rank's vocabulary rows, then summed over TP. */
export async function embeddingForward(
  c: VocabContext,
  tokens: Int32Array,
  wte: Tensor,
  wpe: Tensor,
  out: Float32Array,
  position = 0,
): Promise<void> {
  const { batch, seq, dModel, vocabRows } = c.shape;
  c.stream.add("embeddingForward", {
    tokens,
    wte: wte.param,
    wpe: c.addsReplicated ? wpe.param.subarray(position * dModel, (position + seq) * dModel) : null,
    out,
    batch,
    seq,
    dModel,
    vocabStart: c.vocabStart,
    vocabSize: vocabRows,
    vocabTotal: c.vocabTotal,
  });
  await allReduceAfter(c.tp, out, "sum", c.stream);
}

/** dout is replicated, so every rank computes the same (replicated) wpe gradient and its own wte rows. */
export function embeddingBackward(c: VocabContext, tokens: Int32Array, dout: Float32Array, wte: Tensor, wpe: Tensor): void {
  const { batch, seq, dModel, vocabRows } = c.shape;
  c.stream.add("embeddingBackward", {
    tokens,
    dout,
    dwte: wte.grad,
    dwpe: wpe.grad,
    batch,
    seq,
    dModel,
    vocabStart: c.vocabStart,
    vocabSize: vocabRows,
    vocabTotal: c.vocabTotal,
  });
}

export interface HeadTensors {
  wte: Tensor;
  lnfw: Tensor;
  lnfb: Tensor;
}

/**
 * Final LayerNorm, tied head and loss for one micro-batch, then at once its backward (as the single-rank model
 * does, so no logits are kept between passes): returns the summed loss of the rows; writes d(loss)/d(x) into
 * `dx` (replicated) and accumulates the wte shard's and lnf's gradients. `scale` multiplies d(loss of a row).
 * The head runs in chunks of `headChunkRows` rows so the local logits stay [chunk, vocab/tp].
 */
export async function headForwardBackward(
  c: VocabContext,
  x: Float32Array,
  targets: Int32Array,
  w: HeadTensors,
  s: StageScratch,
  dx: Float32Array,
  scale: number,
): Promise<number> {
  const { batch, seq, dModel: d, vocabRows: v, headChunkRows } = c.shape;
  const rows = batch * seq,
    k = c.stream;
  finalNorm(c, x, rows, w, s);
  let loss = 0;
  for (let r0 = 0; r0 < rows; r0 += headChunkRows) {
    const n = Math.min(headChunkRows, rows - r0);
    const xs = s.lnf.subarray(r0 * d, (r0 + n) * d),
      tg = targets.subarray(r0, r0 + n);
    const logits = s.logits.subarray(0, n * v),
      dlogits = s.dLogits.subarray(0, n * v);
    const { rowMax, sumExp } = await chunkStatistics(c, xs, tg, w.wte.param, s, n);
    loss = addChunkLoss(loss, s, n);
    k.add("ceBackward", { logits, rowMax, sumExp, targets: tg, dlogits, rows: n, cols: v, vocabStart: c.vocabStart, scale });
    k.add("linearBackward", {
      dout: dlogits,
      x: xs,
      weight: w.wte.param,
      dx: s.dLnOut.subarray(r0 * d, (r0 + n) * d),
      dweight: w.wte.grad,
      dbias: null,
      rows: n,
      inFeatures: d,
      outFeatures: v,
      accumulateDx: 0,
    });
  }
  await allReduceAfter(c.tp, s.dLnOut, "sum", k); // the head's input was copied to every TP rank: backward all-reduce
  k.add("layerNormBackward", {
    dout: s.dLnOut,
    x,
    gamma: w.lnfw.param,
    mean: s.meanf,
    rstd: s.rstdf,
    dx,
    dgamma: w.lnfw.grad,
    dbeta: w.lnfb.grad,
    rows,
    cols: d,
    accumulateDx: 0,
  });
  await k.flush();
  return loss;
}

/**
 * Final LayerNorm, tied head and loss of one micro-batch, forward only (validation): returns the summed loss of
 * the rows, computed exactly as headForwardBackward computes it; no gradient is touched.
 */
export async function headLoss(c: VocabContext, x: Float32Array, targets: Int32Array, w: HeadTensors, s: HeadScratch): Promise<number> {
  const { batch, seq, dModel: d, headChunkRows } = c.shape;
  const rows = batch * seq;
  finalNorm(c, x, rows, w, s);
  let loss = 0;
  for (let r0 = 0; r0 < rows; r0 += headChunkRows) {
    const n = Math.min(headChunkRows, rows - r0);
    await chunkStatistics(c, s.lnf.subarray(r0 * d, (r0 + n) * d), targets.subarray(r0, r0 + n), w.wte.param, s, n);
    loss = addChunkLoss(loss, s, n);
  }
  return loss;
}

/** Records the final LayerNorm of `rows` rows of `x` into s.lnf. */
export function finalNorm(
  c: VocabContext,
  x: Float32Array,
  rows: number,
  w: Pick<HeadTensors, "lnfw" | "lnfb">,
  s: Pick<HeadScratch, "lnf" | "meanf" | "rstdf">,
): void {
  c.stream.add("layerNormForward", {
    x,
    gamma: w.lnfw.param,
    beta: w.lnfb.param,
    out: s.lnf,
    mean: s.meanf,
    rstd: s.rstdf,
    rows,
    cols: c.shape.dModel,
  });
}

/**
 * Local logits of `n` rows into s.logits, then the softmax statistics over the whole vocabulary into s.ceStats
 * (row max; sum of exp and target logit), combined across the TP ranks with two all-reduces; every recorded kernel
 * has run when it resolves.
 */
export async function chunkStatistics(c: VocabContext, xs: Float32Array, tg: Int32Array, wte: Float32Array, s: HeadScratch, n: number) {
  const { dModel: d, vocabRows: v } = c.shape;
  const logits = s.logits.subarray(0, n * v),
    k = c.stream;
  const rowMax = s.ceStats.subarray(0, n),
    sumExp = s.ceStats.subarray(n, 2 * n),
    target = s.ceStats.subarray(2 * n, 3 * n);
  k.add("linearForward", { x: xs, weight: wte, bias: null, residual: null, out: logits, rows: n, inFeatures: d, outFeatures: v });
  k.add("ceRowMax", { logits, rowMax, rows: n, cols: v });
  await allReduceAfter(c.tp, rowMax, "max", k);
  k.add("ceRowSumExp", { logits, rowMax, sumExp, rows: n, cols: v });
  k.add("ceTargetLogit", { logits, targets: tg, out: target, rows: n, cols: v, vocabStart: c.vocabStart });
  await allReduceAfter(c.tp, s.ceStats.subarray(n, 3 * n), "sum", k); // sum of exp and target logit in one all-reduce
  await k.flush();
  return { logits, rowMax, sumExp, target };
}

/** `loss` plus the cross-entropy of the `n` rows whose statistics chunkStatistics left in s.ceStats, row by row. */
function addChunkLoss(loss: number, s: HeadScratch, n: number): number {
  for (let r = 0; r < n; r++) loss += Math.log(s.ceStats[n + r]!) + s.ceStats[r]! - s.ceStats[2 * n + r]!;
  return loss;
}
