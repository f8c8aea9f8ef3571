// One tensor-parallel transformer block (Megatron): column-parallel qkv and fc, row-parallel attn-out and fc2.
//   forward:  ln1 → copy-to-TP → qkv (my heads) → attention → proj (partial) → reduce-from-TP → mid
//             ln2 → copy-to-TP → fc (my columns) → gelu → fc2 (partial) → reduce-from-TP → out
// The residual and the row-parallel biases are added by TP rank 0 only, before the all-reduce, so they count once.
// Kernels between two collectives run as one KernelProgram off the JS thread.
import type { Backend } from "../../native/backend.ts";
import { KernelProgram } from "../../native/ops.ts";
import type { LayerActivations } from "../model/activations.ts";
import type { BlockTensors } from "../model/block.ts";
import type { LocalShape, StageScratch } from "./stage-activations.ts";
import type { TpMapping } from "./tp-mappings.ts";

export interface TpContext {
  backend: Backend;
  shape: LocalShape;
  /** true on TP rank 0: adds the residual and the row-parallel biases */
  addsReplicated: boolean;
  copy: TpMapping;
  reduce: TpMapping;
}

export async function tpBlockForward(c: TpContext, w: BlockTensors, a: LayerActivations, scratch: StageScratch, out: Float32Array): Promise<void> {
  const { batch, seq, dModel: d, heads, attnWidth: aw, mlpWidth: mw } = c.shape;
  const rows = batch * seq, first = c.addsReplicated;
  let p = new KernelProgram();
  p.add("layerNormForward", { x: a.input, gamma: w.ln1w.param, beta: w.ln1b.param, out: a.ln1, mean: a.mean1, rstd: a.rstd1, rows, cols: d });
  // copy-to-TP forward is the identity: ln1 (and ln2 below) are replicated, each rank reads all of it
  p.add("linearForward", { x: a.ln1, weight: w.qkvw.param, bias: w.qkvb.param, residual: null, out: a.qkv, rows, inFeatures: d, outFeatures: 3 * aw });
  p.add("attentionForward", { qkv: a.qkv, out: a.attn, probs: a.probs, batch, seq, heads, headDim: aw / heads });
  p.add("linearForward", {
    x: a.attn, weight: w.projw.param, bias: first ? w.projb.param : null, residual: first ? a.input : null, out: a.mid, rows, inFeatures: aw, outFeatures: d,
  });
  await p.run(c.backend);
  await c.reduce.forward(a.mid);
  p = new KernelProgram();
  p.add("layerNormForward", { x: a.mid, gamma: w.ln2w.param, beta: w.ln2b.param, out: a.ln2, mean: a.mean2, rstd: a.rstd2, rows, cols: d });
  p.add("linearForward", { x: a.ln2, weight: w.fcw.param, bias: w.fcb.param, residual: null, out: a.fc, rows, inFeatures: d, outFeatures: mw });
  p.add("geluForward", { x: a.fc, out: scratch.gelu, n: rows * mw });
  p.add("linearForward", {
    x: scratch.gelu, weight: w.fc2w.param, bias: first ? w.fc2b.param : null, residual: first ? a.mid : null, out, rows, inFeatures: mw, outFeatures: d,
  });
  await p.run(c.backend);
  await c.reduce.forward(out);
}

/**
 * On entry scratch.dResidual holds d(loss)/d(block output) (replicated); on exit d(loss)/d(block input).
 * Weight gradients accumulate (+=); the replicated tensors get identical gradients on every TP rank.
 */
export async function tpBlockBackward(c: TpContext, w: BlockTensors, a: LayerActivations, scratch: StageScratch): Promise<void> {
  const { batch, seq, dModel: d, heads, attnWidth: aw, mlpWidth: mw } = c.shape;
  const rows = batch * seq, dx = scratch.dResidual;
  await c.reduce.backward(dx);
  let p = new KernelProgram();
  p.add("geluForward", { x: a.fc, out: scratch.gelu, n: rows * mw });
  p.add("linearBackward", { dout: dx, x: scratch.gelu, weight: w.fc2w.param, dx: scratch.dFc, dweight: w.fc2w.grad, dbias: w.fc2b.grad, rows, inFeatures: mw, outFeatures: d, accumulateDx: 0 });
  p.add("geluBackward", { x: a.fc, dout: scratch.dFc, dx: scratch.dFc, n: rows * mw });
  p.add("linearBackward", { dout: scratch.dFc, x: a.ln2, weight: w.fcw.param, dx: scratch.dLnOut, dweight: w.fcw.grad, dbias: w.fcb.grad, rows, inFeatures: d, outFeatures: mw, accumulateDx: 0 });
  await p.run(c.backend);
  await c.copy.backward(scratch.dLnOut);
  p = new KernelProgram();
  p.add("layerNormBackward", { dout: scratch.dLnOut, x: a.mid, gamma: w.ln2w.param, mean: a.mean2, rstd: a.rstd2, dx, dgamma: w.ln2w.grad, dbeta: w.ln2b.grad, rows, cols: d, accumulateDx: 1 });
  p.add("linearBackward", { dout: dx, x: a.attn, weight: w.projw.param, dx: scratch.dAttn, dweight: w.projw.grad, dbias: w.projb.grad, rows, inFeatures: aw, outFeatures: d, accumulateDx: 0 });
  p.add("attentionBackward", { qkv: a.qkv, probs: a.probs, dout: scratch.dAttn, dqkv: scratch.dQkv, batch, seq, heads, headDim: aw / heads });
  p.add("linearBackward", { dout: scratch.dQkv, x: a.ln1, weight: w.qkvw.param, dx: scratch.dLnOut, dweight: w.qkvw.grad, dbias: w.qkvb.grad, rows, inFeatures: d, outFeatures: 3 * aw, accumulateDx: 0 });
  await p.run(c.backend);
  await c.copy.backward(scratch.dLnOut);
  p = new KernelProgram();
  p.add("layerNormBackward", { dout: scratch.dLnOut, x: a.input, gamma: w.ln1w.param, mean: a.mean1, rstd: a.rstd1, dx, dgamma: w.ln1w.grad, dbeta: w.ln1b.grad, rows, cols: d, accumulateDx: 1 });
  await p.run(c.backend);
}
