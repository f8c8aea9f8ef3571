// Forward/backward kernel cases written once against an executor, so the same case checks the float64 reference
// against finite differences and each backend (float32) against the float64 reference.
import type { Backend } from "../../native/backend.ts";
import { kernelSpecs, parseSignature, type KernelName } from "../../native/kernel-specs.ts";
import { runKernelSync, type KernelInputs } from "../../native/ops.ts";
import { referenceKernels } from "../../native/reference/mod.ts";
import { dot, randn64 } from "./random.ts";

export type ExecArgs = Record<string, Float64Array | Int32Array | number | null>;
/** Runs a kernel on the arrays in place and returns its scalar result. */
export type Exec = (name: KernelName, args: ExecArgs) => number;

export const float64Exec: Exec = (name, args) =>
  referenceKernels[name](...parseSignature(kernelSpecs[name].signature).map((p) => args[p.name] ?? null));

/** Copies float64 arrays to float32, runs on `backend` through the validating op layer, copies results back. */
export function backendExec(backend: Backend): Exec {
  return (name, args) => {
    const converted: KernelInputs = {};
    for (const [k, v] of Object.entries(args)) converted[k] = v instanceof Float64Array ? Float32Array.from(v) : v;
    const result = runKernelSync(backend, name, converted);
    for (const [k, v] of Object.entries(args)) if (v instanceof Float64Array) v.set(converted[k] as Float32Array);
    return result;
  };
}

export interface KernelCase {
  /** Inputs to differentiate (modified in place by finite differences). */
  inputs: Record<string, Float64Array>;
  /** Scalar loss: a fixed random weighting of the forward outputs. */
  loss(exec: Exec): number;
  /** Gradient of `loss` with respect to each input, from the backward kernel. */
  grads(exec: Exec): Record<string, Float64Array>;
}

export const kernelCases: Record<string, (rand: () => number) => KernelCase> = {
  linear(rand) {
    const rows = 5,
      inF = 7,
      outF = 3;
    const inputs = {
      x: randn64(rows * inF, rand),
      weight: randn64(outF * inF, rand),
      bias: randn64(outF, rand),
      residual: randn64(rows * outF, rand),
    };
    const w = randn64(rows * outF, rand);
    const forward = (exec: Exec) => {
      const out = new Float64Array(rows * outF);
      exec("linearForward", { ...inputs, out, rows, inFeatures: inF, outFeatures: outF });
      return out;
    };
    return {
      inputs,
      loss: (exec) => dot(w, forward(exec)),
      grads(exec) {
        const dx = new Float64Array(rows * inF),
          dweight = new Float64Array(outF * inF),
          dbias = new Float64Array(outF);
        exec("linearBackward", {
          dout: w,
          x: inputs.x,
          weight: inputs.weight,
          dx,
          dweight,
          dbias,
          rows,
          inFeatures: inF,
          outFeatures: outF,
          accumulateDx: 0,
        });
        return { x: dx, weight: dweight, bias: dbias, residual: Float64Array.from(w) };
      },
    };
  },

  layerNorm(rand) {
    const rows = 4,
      cols = 7;
    const inputs = { x: randn64(rows * cols, rand, 2), gamma: randn64(cols, rand), beta: randn64(cols, rand) };
    const w = randn64(rows * cols, rand);
    const mean = new Float64Array(rows),
      rstd = new Float64Array(rows);
    const forward = (exec: Exec) => {
      const out = new Float64Array(rows * cols);
      exec("layerNormForward", { ...inputs, out, mean, rstd, rows, cols });
      return out;
    };
    return {
      inputs,
      loss: (exec) => dot(w, forward(exec)),
      grads(exec) {
        forward(exec);
        const dx = new Float64Array(rows * cols),
          dgamma = new Float64Array(cols),
          dbeta = new Float64Array(cols);
        exec("layerNormBackward", {
          dout: w,
          x: inputs.x,
          gamma: inputs.gamma,
          mean,
          rstd,
          dx,
          dgamma,
          dbeta,
          rows,
          cols,
          accumulateDx: 0,
        });
        return { x: dx, gamma: dgamma, beta: dbeta };
      },
    };
  },

  gelu(rand) {
    const n = 23;
    const inputs = { x: randn64(n, rand, 2.5) };
    const w = randn64(n, rand);
    return {
      inputs,
      loss(exec) {
        const out = new Float64Array(n);
        exec("geluForward", { x: inputs.x, out, n });
        return dot(w, out);
      },
      grads(exec) {
        const dx = new Float64Array(n);
        exec("geluBackward", { x: inputs.x, dout: w, dx, n });
        return { x: dx };
      },
    };
  },

  attention(rand) {
    const batch = 2,
      seq = 5,
      heads = 2,
      headDim = 3,
      d = heads * headDim;
    const inputs = { qkv: randn64(batch * seq * 3 * d, rand) };
    const w = randn64(batch * seq * d, rand);
    const probs = new Float64Array(batch * heads * seq * seq);
    const forward = (exec: Exec) => {
      const out = new Float64Array(batch * seq * d);
      exec("attentionForward", { qkv: inputs.qkv, out, probs, batch, seq, heads, headDim });
      return out;
    };
    return {
      inputs,
      loss: (exec) => dot(w, forward(exec)),
      grads(exec) {
        forward(exec);
        const dqkv = new Float64Array(batch * seq * 3 * d).fill(7); // must be overwritten, not accumulated
        exec("attentionBackward", { qkv: inputs.qkv, probs, dout: w, dqkv, batch, seq, heads, headDim });
        return { qkv: dqkv };
      },
    };
  },

  embedding(rand) {
    const batch = 2,
      seq = 3,
      dModel = 4,
      vocab = 5;
    const tokens = Int32Array.from({ length: batch * seq }, () => Math.floor(rand() * vocab));
    tokens[1] = tokens[0]!; // a repeated token must accumulate
    const inputs = { wte: randn64(vocab * dModel, rand), wpe: randn64(seq * dModel, rand) };
    const w = randn64(batch * seq * dModel, rand);
    const common = { tokens, batch, seq, dModel, vocabStart: 0, vocabSize: vocab, vocabTotal: vocab };
    return {
      inputs,
      loss(exec) {
        const out = new Float64Array(batch * seq * dModel);
        exec("embeddingForward", { ...common, wte: inputs.wte, wpe: inputs.wpe, out });
        return dot(w, out);
      },
      grads(exec) {
        const dwte = new Float64Array(vocab * dModel),
          dwpe = new Float64Array(seq * dModel);
        exec("embeddingBackward", { ...common, dout: w, dwte, dwpe });
        return { wte: dwte, wpe: dwpe };
      },
    };
  },

  crossEntropyReductions(rand) {
    const rows = 4,
      cols = 9,
      scale = 0.37;
    const targets = Int32Array.from({ length: rows }, () => Math.floor(rand() * cols));
    const inputs = { logits: randn64(rows * cols, rand, 3) };
    const stats = (exec: Exec) => {
      const rowMax = new Float64Array(rows),
        sumExp = new Float64Array(rows),
        target = new Float64Array(rows);
      exec("ceRowMax", { logits: inputs.logits, rowMax, rows, cols });
      exec("ceRowSumExp", { logits: inputs.logits, rowMax, sumExp, rows, cols });
      exec("ceTargetLogit", { logits: inputs.logits, targets, out: target, rows, cols, vocabStart: 0 });
      return { rowMax, sumExp, target };
    };
    return {
      inputs,
      loss(exec) {
        const { rowMax, sumExp, target } = stats(exec);
        let total = 0;
        for (let r = 0; r < rows; r++) total += Math.log(sumExp[r]!) + rowMax[r]! - target[r]!;
        return scale * total;
      },
      grads(exec) {
        const { rowMax, sumExp } = stats(exec);
        const dlogits = new Float64Array(rows * cols);
        exec("ceBackward", { logits: inputs.logits, rowMax, sumExp, targets, dlogits, rows, cols, vocabStart: 0, scale });
        return { logits: dlogits };
      },
    };
  },

  crossEntropyFused(rand) {
    const rows = 4,
      cols = 9,
      scale = 0.37;
    const targets = Int32Array.from({ length: rows }, () => Math.floor(rand() * cols));
    const inputs = { logits: randn64(rows * cols, rand, 3) };
    const run = (exec: Exec) => {
      const work = Float64Array.from(inputs.logits),
        losses = new Float64Array(rows);
      const total = exec("crossEntropyFused", { logits: work, targets, losses, rows, cols, scale });
      return { total, work, losses };
    };
    return {
      inputs,
      loss: (exec) => scale * run(exec).total,
      grads: (exec) => ({ logits: run(exec).work }),
    };
  },
};
